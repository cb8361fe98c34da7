import fs from 'node:fs';
import { purgeExpired } from '../../src/event/retention';
import { useTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { PRACTICE_AGB } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';

// A purge with nothing due left no trace: an auditor could not tell that retention runs at all, nor by which terms.
describe('each retention run', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  it('logs that it ran, with every retention term, also when nothing was due (no personal data)', async () => {
    await purgeExpired(app.rt.ctx);
    // The log file is written asynchronously: the line may land a moment after the run.
    const lines = await waitFor('the retention run logged', () => {
      const done = fs
        .readFileSync(app.testEnv.logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'retention purge done');
      return done.length > 0 ? done : undefined;
    });
    expect(lines.at(-1)).toMatchObject({
      payloadsCleared: 0,
      chains: 0,
      auditRows: 0,
      inboxPayloadRetentionDays: expect.any(Number),
      referralIdentityRetentionDays: expect.any(Number),
      auditRetentionDays: expect.any(Number),
    });
  });
});

// The last retention run was only logged: an auditor could not see on the console that retention runs, what it
// removed of which chain, or that a run failed.
describe("each retention run, kept and shown on the auditor's verify page", () => {
  const h = useConsoleApp(['auditor']);

  const runsSection = async (cookie?: string): Promise<string> => {
    const page = await (await h.consoles.auditor.get('/console/auditor/verify', cookie ? { cookie } : {})).text();
    return /<section aria-labelledby="retention-runs"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
  };

  it('says no run is on record yet, then a run that removed nothing, with its outcome', async () => {
    expect(await runsSection()).toContain('Laatste opruimrondes: Geen.');
    await purgeExpired(h.app.rt.ctx);
    const [run] = await h.app.rt.ctx.db.query<{
      outcome: string;
      removed: unknown;
      terms: { auditRetentionDays: number };
    }>('SELECT outcome, removed, terms FROM retention_run ORDER BY id DESC LIMIT 1');
    expect(run).toMatchObject({ outcome: 'done', removed: [], terms: { auditRetentionDays: expect.any(Number) } });
    const text = await runsSection();
    expect(text).toContain('voltooid');
    expect(text).toContain('niets: niets was over zijn termijn');
    expect(await runsSection('jb_lang=en')).toContain('nothing: nothing was past its term');
  });

  it('says how many audit rows of which chain a run removed', async () => {
    for (let i = 0; i < 3; i++) {
      await h.app.rt.ctx.audit.append(
        PRACTICE_AGB,
        operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: 'test/retention' }),
      );
    }
    await h.app.rt.ctx.audit.flush();
    // Rows older than one day, a day and a half from now: all but none that must stay.
    await purgeExpired(h.app.rt.ctx, new Date(Date.now() + 36 * 3600 * 1000), {
      auditRetentionDays: 1,
      inboxPayloadRetentionDays: 30,
      referralIdentityRetentionDays: 730,
      intervalMs: 86_400_000,
    });
    const text = await runsSection();
    expect(text).toMatch(new RegExp(`\\d+ auditrijen van keten ${PRACTICE_AGB}`));
  });

  it('keeps a run that failed, as failed, with what went wrong', async () => {
    const { db } = h.app.rt.ctx;
    const failing = {
      ...db,
      query: <T>(sql: string, params?: readonly unknown[]) =>
        sql.includes('FROM audit_chain_head') ? Promise.reject(new Error('connection lost')) : db.query<T>(sql, params),
    };
    await expect(purgeExpired({ ...h.app.rt.ctx, db: failing })).rejects.toThrow('connection lost');
    const rows = (await runsSection()).match(/<tr[\s\S]*?<\/tr>/g) ?? [];
    expect(rows[1]).toContain('MISLUKT');
    expect(rows[1]).toContain('connection lost');
  });

  it('prunes the runs older than the audit log is kept, and says so in the run that did', async () => {
    const { db } = h.app.rt.ctx;
    // Two runs of 10 days ago, with the audit log kept 5 days: past the term their purges' audit rows had.
    await db.query(
      `INSERT INTO retention_run (started_at, finished_at, outcome, terms)
       SELECT now() - interval '10 days', now() - interval '10 days', 'done', '{}'::jsonb FROM generate_series(1, 2)`,
    );
    const before = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM retention_run'))[0]!.n;
    await purgeExpired(h.app.rt.ctx, new Date(), {
      auditRetentionDays: 5,
      inboxPayloadRetentionDays: 30,
      referralIdentityRetentionDays: 730,
      intervalMs: 86_400_000,
    });
    // The two old ones gone, this run's own added.
    const after = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM retention_run'))[0]!.n;
    expect(after).toBe(before - 2 + 1);
    const [run] = await db.query<{ removed: unknown }>('SELECT removed FROM retention_run ORDER BY id DESC LIMIT 1');
    expect(run?.removed).toEqual([{ kind: 'runs', tenant: 'system', rows: 2 }]);
    const rows = (await runsSection()).match(/<tr[\s\S]*?<\/tr>/g) ?? [];
    expect(rows[1]).toContain('2 verslagen van eerdere opruimrondes (ouder dan 5 dagen)');
    expect((await runsSection('jb_lang=en')).match(/<tr[\s\S]*?<\/tr>/g)?.[1]).toContain(
      '2 records of earlier retention runs (older than 5 days)',
    );
    // A run has nothing to prune the next time.
    await purgeExpired(h.app.rt.ctx, new Date(), {
      auditRetentionDays: 5,
      inboxPayloadRetentionDays: 30,
      referralIdentityRetentionDays: 730,
      intervalMs: 86_400_000,
    });
    expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM retention_run'))[0]!.n).toBe(after + 1);
  });
});
