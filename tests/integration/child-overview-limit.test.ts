import { dataAccess, disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cleanupTestEnv, useTestApp } from '../helpers/test-runtime';

const BSN = '123456782';
/** More access rows than the overview lists (5000). */
const ACCESSES = 5020;

const at = (day: number, ms = 0): string => new Date(Date.UTC(2025, 2, day, 8) + ms).toISOString();

interface Overview {
  entries: { kind: string; auditEvent: string; at: string }[];
  accesses: { auditEvent: string; at: string }[];
  truncated: boolean;
  omitted: { entries: number; accesses: number };
}

/**
 * A child whose data is read often (an HIS polling its events' status) has more audit rows than the overview lists.
 * What it leaves out must be the oldest accesses, never the disclosures (the "who received what" the overview is
 * for), and it must say what it left out: the API in `truncated` and `omitted`, the console in words.
 */
describe("the child's overview past its row limit", () => {
  const app = useTestApp({ env: { ROLE: 'api' } });
  let auditor: ConsoleClient;
  const ids = { oldDisclosure: '', newDisclosure: '', oldestAccess: '', newestAccess: '' };

  beforeAll(async () => {
    const audit = app.rt.ctx.audit;
    const disclosed = (day: number, n: number) => {
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: BSN,
        inboxId: `limit-${n}`,
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/p', `ServiceRequest/sr-${n}`],
      });
      return { ...e, recorded: at(day) };
    };
    const old = disclosed(1, 1);
    ids.oldDisclosure = old.id!;
    await audit.append(PRACTICE_AGB, old);
    const reads = Array.from({ length: ACCESSES }, (_, i) => ({
      ...dataAccess({
        actor: { userId: 'api-key:his', accessPoint: '10.0.0.1' },
        interaction: 'read',
        outcome: '0',
        query: `/his/v1/events/e-${i}`,
        patientBsn: BSN,
      }),
      recorded: at(2, i),
    }));
    ids.oldestAccess = reads[0]!.id!;
    ids.newestAccess = reads.at(-1)!.id!;
    await Promise.all(reads.map((r) => audit.append(PRACTICE_AGB, r)));
    // The newest disclosure, after all those reads.
    const newest = disclosed(3, 2);
    ids.newDisclosure = newest.id!;
    await audit.append(PRACTICE_AGB, newest);
    await audit.flush();
    auditor = await openConsole(app, 'auditor');
  }, 120_000);

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  it('API: lists every disclosure, the newest 5000 accesses, and says how many older ones it left out', async () => {
    const res = await app.request(`/audit/v1/overview?patient=${BSN}`, { key: 'auditor' });
    expect(res.status).toBe(200);
    const overview = (await res.json()) as Overview;
    const entries = overview.entries.map((e) => e.auditEvent);
    expect(entries).toEqual([`AuditEvent/${ids.oldDisclosure}`, `AuditEvent/${ids.newDisclosure}`]);
    expect(overview.accesses).toHaveLength(5000);
    const accesses = overview.accesses.map((a) => a.auditEvent);
    expect(accesses).toContain(`AuditEvent/${ids.newestAccess}`);
    expect(accesses).not.toContain(`AuditEvent/${ids.oldestAccess}`);
    // Oldest first, as before, within what is listed.
    const times = overview.accesses.map((a) => a.at);
    expect([...times].sort()).toEqual(times);
    expect(overview.truncated).toBe(true);
    // Only the seeded reads so far (signing in to the console reads no child): the oldest 20 are left out.
    expect(overview.omitted).toEqual({ entries: 0, accesses: ACCESSES - 5000 });
  });

  it('console: shows the newest disclosure and says clearly that older accesses are left out, and how many', async () => {
    // As a browser submits it: since the same day's POST-redirect-GET (Back works), the page is the 303's Location.
    const res = await auditor.submit('/console/auditor/overview', { bsn: BSN });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`/console/auditor/audit-events/${ids.newDisclosure}`);
    expect(page).toContain(`/console/auditor/audit-events/${ids.oldDisclosure}`);
    const notice = /<div class="notice info" role="status">([^]*?)<\/div>/.exec(page)?.[1] ?? '';
    expect(notice).toContain('Niet alles');
    // The seeded reads left out, and the API overview's own read of the test before (one more access row).
    expect(notice).toMatch(/\b2[01]\b/);
    expect(notice).toContain('5.000');
  });
});
