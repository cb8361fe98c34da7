import { operatorAction, SYSTEM_TENANT, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { purgeExpired } from '../../src/event/retention';
import { OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { queryOf, recordedReads, type RecordedRead } from '../helpers/audit-reads';
import { useConsoleApp } from '../helpers/console-client';

const AUDITOR = 'https://jeugdbrug.nl/principal|api-key:auditor';

// The verify page showed when each chain was last verified whole on schedule and what the last retention runs removed
// of which chain, and every auditor page showed the chains' known integrity above it, without any AuditEvent saying
// so: the only reads of the audit log's own records that left no trace (docs/audit.md, "Reads are audited too").
describe("the auditor console's verify page, read and recorded", () => {
  const h = useConsoleApp(['auditor']);

  /** The auditor's reads recorded while `view` runs. */
  const readsDuring = async (view: () => Promise<Response>): Promise<RecordedRead[]> => {
    const before = new Set((await recordedReads(h.app, AUDITOR)).map((r) => r.id));
    expect((await view()).status).toBe(200);
    return (await recordedReads(h.app, AUDITOR)).filter((r) => !before.has(r.id));
  };
  /** The reads of the scheduled verifications and retention runs (the rows this page adds beside the API's reads). */
  const statusReads = (reads: readonly RecordedRead[]) =>
    reads.filter((r) => r.entities.some((e) => e.startsWith('audit_full_verification')));

  beforeAll(async () => {
    for (const tenant of [PRACTICE_AGB, OTHER_PRACTICE_AGB]) {
      await h.app.rt.ctx.audit.append(tenant, operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'x/y' }));
    }
    await h.app.rt.ctx.audit.flush();
    await purgeExpired(h.app.rt.ctx);
  });

  it('records one read of the scheduled verifications, retention runs and integrity per view, in the system chain', async () => {
    const bare = await readsDuring(() => h.consoles.auditor.get('/console/auditor/verify'));
    const status = statusReads(bare);
    expect(status.map((r) => [r.tenant, r.subtype])).toEqual([[SYSTEM_TENANT, 'search-type']]);
    expect(status[0]?.entities).toEqual(
      expect.arrayContaining(['audit_full_verification', 'retention_run', 'audit_chain_integrity']),
    );
    expect(queryOf(status[0])).toBe('GET /console/auditor/verify');
    // Beside it only the integrity history's read, as the API's: one row per section would double the page's rows.
    expect(
      bare.filter((r) => !status.includes(r)).every((r) => queryOf(r).startsWith('/audit/v1/integrity-history')),
    ).toBe(true);

    // One chain asked for: named, as the history's read names it; once per view, however often the page is opened.
    const asked = `/console/auditor/verify?tenant=${PRACTICE_AGB}`;
    const first = statusReads(await readsDuring(() => h.consoles.auditor.get(asked)));
    const second = statusReads(await readsDuring(() => h.consoles.auditor.get(asked)));
    for (const reads of [first, second]) {
      expect(reads.map((r) => [r.tenant, r.subtype])).toEqual([[SYSTEM_TENANT, 'search-type']]);
      expect(reads[0]?.entities).toContain(`audit_full_verification/${PRACTICE_AGB}`);
      expect(queryOf(reads[0])).toBe(`GET ${asked}`);
    }
  });

  it('records a chain refused or unknown without a read of what the page did not show', async () => {
    const refused = await h.consoles.auditor.get('/console/auditor/verify?tenant=not-a-chain');
    expect(refused.status).toBe(400);
    await h.app.rt.ctx.audit.flush();
    const [{ n } = { n: -1 }] = await h.app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event
       WHERE EXISTS (SELECT 1 FROM unnest(entities) e WHERE e = 'audit_full_verification/not-a-chain')`,
    );
    expect(n).toBe(0);
  });

  it('adds no row of its own for the integrity banner above a page whose read is recorded', async () => {
    const [row] = await h.app.rt.ctx.db.query<{ id: string }>(
      'SELECT id FROM audit_event WHERE tenant = $1 ORDER BY seq LIMIT 1',
      [PRACTICE_AGB],
    );
    const reads = await readsDuring(() => h.consoles.auditor.get(`/console/auditor/audit-events/${row!.id}`));
    // The banner is part of the page, as `integrity` is part of the API's answers: the page's one read covers it.
    expect(reads.map((r) => [r.tenant, r.subtype])).toEqual([[PRACTICE_AGB, 'read']]);
    expect(reads[0]?.entities).toContain(`AuditEvent/${row!.id}`);
  });
});
