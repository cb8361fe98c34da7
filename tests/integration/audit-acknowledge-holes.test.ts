import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { COLUMNS_LINE_SQL } from '../../src/audit/chain-columns';
import { asSuperuser, changeRowContent, restoreRowContent } from '../helpers/audit-tamper';
import { PRACTICE_AGB } from '../helpers/builders';
import { appendChildDisclosures } from '../helpers/child-disclosures';
import { useTestApp, type TestApp } from '../helpers/test-runtime';

const BSN = '123456782';
const BROKEN = 7;

const pause = () => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' });

async function grow(app: TestApp, rows: number): Promise<void> {
  for (let i = 0; i < rows; i++) {
    await app.rt.ctx.audit.append(PRACTICE_AGB, pause());
  }
  await app.rt.ctx.audit.flush();
}

async function verify(app: TestApp): Promise<{ ok: boolean; brokenAtSeq?: number; problem?: string }> {
  const res = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
  return (await res.json()) as { ok: boolean; brokenAtSeq?: number; problem?: string };
}

const acknowledge = (app: TestApp, brokenAtSeq: number) =>
  app.request('/audit/v1/acknowledge', {
    method: 'POST',
    key: 'auditor',
    json: { tenant: PRACTICE_AGB, brokenAtSeq: String(brokenAtSeq), reason: 'Incident 2026-17 investigated' },
  });

/** Changes another column of a row's content than `changeRowContent` does: a second, different tamper. */
async function changeRowAction(schema: string, seq: number): Promise<void> {
  await asSuperuser(schema, (c) =>
    c.query(
      `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{action}', '"D"') WHERE tenant = $1 AND seq = $2`,
      [PRACTICE_AGB, seq],
    ),
  );
}

/**
 * Rewrites rows `from`…`upTo - 1` consistently (row `from` changed, every hash recomputed) and links row `upTo` to
 * them by its prev_hash: what a tamperer with write access does to the rows before an acknowledged broken row.
 */
async function rewriteRowsBefore(schema: string, from: number, upTo: number): Promise<void> {
  await asSuperuser(schema, async (c) => {
    await c.query(
      `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{action}', '"D"') WHERE tenant = $1 AND seq = $2`,
      [PRACTICE_AGB, from],
    );
    let prev = (
      await c.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
        PRACTICE_AGB,
        from - 1,
      ])
    ).rows[0]!.hash;
    for (let seq = from; seq < upTo; seq++) {
      prev = (
        await c.query<{ hash: string }>(
          `UPDATE audit_event SET prev_hash = $3, hash = encode(sha256(convert_to($3 || E'\\n' || seq || E'\\n' ||
             resource || E'\\n' || ${COLUMNS_LINE_SQL}, 'UTF8')), 'hex')
           WHERE tenant = $1 AND seq = $2 RETURNING hash`,
          [PRACTICE_AGB, seq, prev],
        )
      ).rows[0]!.hash;
    }
    await c.query('UPDATE audit_event SET prev_hash = $3 WHERE tenant = $1 AND seq = $2', [PRACTICE_AGB, upTo, prev]);
  });
}

// Review rev-audit, findings 1 and 2: after an acknowledgement the broken row and the rows before it could be changed
// unnoticed (only the generic problem texts were compared again), and every answer called the chain intact.
describe('an acknowledged break', () => {
  const app = useTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });
  let tampered = '';

  beforeAll(async () => {
    await appendChildDisclosures(app, BSN, 4, 'ack');
    await app.rt.ctx.signedHeads.signer.signNow({ final: true });
    await grow(app, 6);
    tampered = await changeRowContent(app.testEnv.schema, PRACTICE_AGB, BROKEN);
    expect(await verify(app)).toMatchObject({ ok: false, brokenAtSeq: BROKEN });
    expect((await acknowledge(app, BROKEN)).status).toBe(201);
    expect(await verify(app)).toMatchObject({ ok: true });
  });

  it('is stated as a break acknowledged, never as intact, by the overview and an AuditEvent search', async () => {
    const res = await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', json: { patient: BSN } });
    expect(res.status).toBe(200);
    const { integrity } = (await res.json()) as { integrity: { chain: string; state: string }[] };
    expect(integrity).toEqual([
      expect.objectContaining({
        chain: PRACTICE_AGB,
        state: 'acknowledged-break',
        brokenFromSeq: BROKEN,
        brokenAtSeq: BROKEN,
        acknowledgedBy: expect.stringMatching(/^api-key:/),
      }),
    ]);
    const bundle = (await (await app.request(`/fhir/AuditEvent?patient=${BSN}`, { key: 'auditor' })).json()) as Bundle;
    const warnings = (bundle.entry ?? [])
      .filter((e) => e.search?.mode === 'outcome')
      .map((e) => e.resource as OperationOutcome);
    expect(JSON.stringify(warnings)).toContain(`The audit chain ${PRACTICE_AGB} has a known break, acknowledged by`);
  });

  it('is a new break when the broken row is changed again', async () => {
    const asAcknowledged = await asSuperuser(
      app.testEnv.schema,
      async (c) =>
        (
          await c.query<{ resource: string }>(
            'SELECT resource::text AS resource FROM audit_event WHERE tenant = $1 AND seq = $2',
            [PRACTICE_AGB, BROKEN],
          )
        ).rows[0]!.resource,
    );
    await changeRowAction(app.testEnv.schema, BROKEN);
    expect(await verify(app)).toMatchObject({ ok: false, brokenAtSeq: BROKEN });
    await restoreRowContent(app.testEnv.schema, PRACTICE_AGB, BROKEN, asAcknowledged);
    expect(await verify(app)).toMatchObject({ ok: true });
    expect(tampered).not.toBe(asAcknowledged);
  });

  it('is a new break when the rows before it are rewritten to link up to it', async () => {
    await rewriteRowsBefore(app.testEnv.schema, 2, BROKEN);
    const v = await verify(app);
    expect(v.ok).toBe(false);
    expect(v.brokenAtSeq).toBeLessThanOrEqual(BROKEN);
  });
});

// Finding 5: the acknowledgement set the recorded integrity to ok unconditionally, over a break recorded meanwhile.
describe('an acknowledgement after a newer check recorded the chain broken', () => {
  const app = useTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });

  it('is refused, and the recorded break stays', async () => {
    await grow(app, 6);
    await changeRowContent(app.testEnv.schema, PRACTICE_AGB, 3);
    expect(await verify(app)).toMatchObject({ ok: false, brokenAtSeq: 3 });
    // What a check finishing while the acknowledgement verifies leaves on record: a break, checked after it began.
    await app.rt.ctx.db.query(
      `UPDATE audit_chain_integrity SET checked_at = now() + interval '1 hour', broken_at_seq = 5 WHERE tenant = $1`,
      [PRACTICE_AGB],
    );
    const res = await acknowledge(app, 3);
    expect(res.status).toBe(409);
    expect(JSON.stringify(await res.json())).toContain('a check recorded the chain broken');
    const [row] = await app.rt.ctx.db.query<{ ok: boolean }>('SELECT ok FROM audit_chain_integrity WHERE tenant = $1', [
      PRACTICE_AGB,
    ]);
    expect(row?.ok).toBe(false);
  });
});

// Finding 4: breaks were searched up to the 100th only, and the rows after it acknowledged unchecked.
describe('a chain with more breaks than are searched', () => {
  const app = useTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });

  it('cannot be acknowledged', async () => {
    await grow(app, 105);
    await asSuperuser(app.testEnv.schema, (c) =>
      c.query(
        `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{outcome}', '"8"')
         WHERE tenant = $1 AND seq BETWEEN 2 AND 102`,
        [PRACTICE_AGB],
      ),
    );
    expect(await verify(app)).toMatchObject({ ok: false, brokenAtSeq: 2 });
    const res = await acknowledge(app, 2);
    expect(res.status).toBe(409);
    expect(JSON.stringify(await res.json())).toContain('more than 100 broken rows');
  });
});
