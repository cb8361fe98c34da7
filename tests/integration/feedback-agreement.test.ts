import path from 'node:path';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { agreementDigest, buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

/**
 * report-xaudit finding 4: a municipality's status update passed on to the practice's HIS was disclosed with no
 * agreement and no decision before it. It names the agreement the referral went to the municipality under, as that
 * delivery recorded it, after a decision that says so.
 */

const AGREEMENT = buildAgreement();
const VERSION_AND_DIGEST = `version 1, ${agreementDigest(AGREEMENT)}`;

interface Row {
  seq: number;
  type: string;
  subtype: string;
  outcome: string;
  resource: AuditEvent;
}

describe('a status update sent to the practice names the agreement of its referral', () => {
  let municipality: DeliveryReceiver;
  let practiceFhir: DeliveryReceiver;
  let app: TestApp;
  const testEnv = createTestEnv();

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practiceFhir = await new DeliveryReceiver().start();
    app = await startTestApp({
      testEnv,
      env: { CONFIG_DIR: path.join(testEnv.dataDir, 'config') },
      registry: buildRegistry({
        agreements: [AGREEMENT],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceFhir.url('/his/fhir') }],
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), practiceFhir.stop()]);
    await cleanupTestEnv(testEnv);
  });

  /** A referral the municipality received (with the consents it needs), and its child's BSN. */
  async function deliveredReferral(): Promise<{ id: string; bsn: string }> {
    const event = buildReferralEvent();
    const res = await app.request('/his/v1/events', { json: event, key: 'practice' });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor(`event ${id} to be delivered`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered';
    });
    return { id, bsn: (event.child as { bsn: string }).bsn };
  }

  /** Changes what the referral's delivery recorded of its agreement, as an older release or a past config left it. */
  const recordedAgreement = (inboxId: string, agreement: unknown, disclosedAt?: string) =>
    app.rt.ctx.db.query(
      `UPDATE child_disclosure cd SET agreement = $2::jsonb, disclosed_at = coalesce($3::timestamptz, cd.disclosed_at)
       FROM delivery d WHERE d.id = cd.delivery_id AND d.inbox_id = $1`,
      [inboxId, agreement === null ? null : JSON.stringify(agreement), disclosedAt ?? null],
    );

  /** Posts a status and waits until it is delivered or dead; its id and its row. */
  async function statusSent(inboxId: string): Promise<{ id: string; state: string; lastError: string | null }> {
    const res = await app.request(`/municipality/v1/referrals/${inboxId}/status`, {
      json: { status: 'accepted' },
      key: 'municipality',
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    return waitFor(`status update ${id} to end`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string; last_error: string | null }>(
        'SELECT state, last_error FROM feedback WHERE id = $1',
        [id],
      );
      return row && row.state !== 'pending' ? { id, state: row.state, lastError: row.last_error } : undefined;
    });
  }

  async function auditOf(reference: string): Promise<Row[]> {
    await app.rt.ctx.audit.flush();
    return app.rt.ctx.db.query<Row>(
      `SELECT seq::int AS seq, type, subtype, outcome, resource::json AS resource FROM audit_event
       WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
      [PRACTICE_AGB, reference],
    );
  }

  const agreementEntitiesOf = (e: AuditEvent) =>
    (e.entity ?? [])
      .filter((x) => x.what?.reference?.startsWith('Agreement/'))
      .map((x) => [x.what!.reference, x.description]);

  it('after a decision under that agreement, found by it, and shown with it in the child’s overview', async () => {
    const { id: inboxId, bsn } = await deliveredReferral();
    const status = await statusSent(inboxId);
    expect(status.state).toBe('delivered');

    const rows = await auditOf(`Task/${status.id}`);
    expect(rows.map((r) => [r.type, r.subtype, r.outcome])).toEqual([
      ['110107', 'receive', '0'],
      ['110113', 'AuthZ-Consent', '0'],
      ['110106', 'disclose', '0'],
    ]);
    const [, decision, disclosure] = rows as [Row, Row, Row];
    // The agreement as the referral's own disclosure to the municipality named it: id, version and digest.
    const referralDisclosure = (await auditOf(`inbox/${inboxId}`)).find(
      (r) => r.subtype === 'disclose' && !r.resource.entity?.some((x) => x.what?.reference?.startsWith('Task/')),
    );
    const named = [[`Agreement/${AGREEMENT.id}`, VERSION_AND_DIGEST]];
    expect(agreementEntitiesOf(referralDisclosure!.resource)).toEqual(named);
    expect(agreementEntitiesOf(decision.resource)).toEqual(named);
    expect(agreementEntitiesOf(disclosure.resource)).toEqual(named);
    expect(decision.resource.entity?.map((x) => x.description)).toContain(
      'decision at deliver: permit (permitted-as-referral-status)',
    );
    expect(decision.resource.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('referral');

    const found = (await (
      await app.request(`/fhir/AuditEvent?entity=Agreement/${AGREEMENT.id}&entity=Task/${status.id}`, {
        key: 'auditor',
      })
    ).json()) as Bundle<AuditEvent>;
    expect(found.entry?.map((e) => e.resource?.id).sort()).toEqual(
      [decision.resource.id, disclosure.resource.id].sort(),
    );

    const overview = (await (
      await app.request('/audit/v1/overview', { json: { patient: bsn }, key: 'auditor' })
    ).json()) as { entries: Record<string, unknown>[] };
    const ofStatus = overview.entries.filter((e) =>
      [decision.resource.id, disclosure.resource.id].some((id) => e.auditEvent === `AuditEvent/${id}`),
    );
    expect(ofStatus).toEqual([
      expect.objectContaining({
        kind: 'decision',
        action: 'permit',
        stage: 'deliver',
        reasons: ['permitted-as-referral-status'],
        recipient: expect.objectContaining({ kind: 'practice', code: PRACTICE_AGB }),
        purpose: 'referral',
        agreement: { id: AGREEMENT.id, version: 1 },
        consents: [],
        event: `inbox/${inboxId}`,
      }),
      expect.objectContaining({
        kind: 'disclosure',
        recipient: expect.objectContaining({ kind: 'practice', code: PRACTICE_AGB }),
        destination: `practice-${PRACTICE_AGB}`,
        dataTypes: ['Task', 'ServiceRequest'],
        agreement: { id: AGREEMENT.id, version: 1 },
        consents: [],
        event: `inbox/${inboxId}`,
      }),
    ]);
  });

  it('names an agreement gone from the configuration as the referral’s delivery recorded it', async () => {
    const { id: inboxId } = await deliveredReferral();
    const retired = { id: 'retired-2025', version: 3, digest: `sha256:${'ab'.repeat(32)}` };
    await recordedAgreement(inboxId, retired);
    const status = await statusSent(inboxId);
    expect(status.state).toBe('delivered');
    const [, decision, disclosure] = await auditOf(`Task/${status.id}`);
    const named = [['Agreement/retired-2025', `version 3, sha256:${'ab'.repeat(32)}`]];
    expect(agreementEntitiesOf(decision!.resource)).toEqual(named);
    expect(agreementEntitiesOf(disclosure!.resource)).toEqual(named);
  });

  it('names the agreement in force at the delivery for one recorded before agreements were kept (migration 061)', async () => {
    const { id: inboxId } = await deliveredReferral();
    await recordedAgreement(inboxId, null);
    const status = await statusSent(inboxId);
    expect(status.state).toBe('delivered');
    const [, , disclosure] = await auditOf(`Task/${status.id}`);
    expect(agreementEntitiesOf(disclosure!.resource)).toEqual([[`Agreement/${AGREEMENT.id}`, VERSION_AND_DIGEST]]);
  });

  it('is denied and not sent when no agreement is on record and none was in force then', async () => {
    const { id: inboxId } = await deliveredReferral();
    await recordedAgreement(inboxId, null, '2019-06-01T12:00:00Z');
    const status = await statusSent(inboxId);
    expect(status.state).toBe('dead');
    expect(status.lastError).toMatch(/^denied at delivery: no-agreement: /);
    const rows = await auditOf(`Task/${status.id}`);
    expect(rows.map((r) => [r.type, r.subtype, r.outcome])).toEqual([
      ['110107', 'receive', '0'],
      ['110113', 'AuthZ-Consent', '4'],
    ]);
    expect(rows[1]!.resource.outcomeDesc).toBe('no-agreement');
    expect(practiceFhir.hitsFor(`fb-${status.id}`)).toEqual([]);
  });
});
