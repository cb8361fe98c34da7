import { listPracticeEvents } from '../../src/reports/practice-events/practice-events';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** The plans of the statements `run` sends, each run under EXPLAIN (ANALYZE) instead (its rows not returned). */
async function plansOf(db: Db, run: () => Promise<unknown>): Promise<string[]> {
  const query = db.query.bind(db);
  const plans: string[] = [];
  const spy = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
    const rows = await query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) ${sql}`, params);
    plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    return [];
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return plans;
}

/**
 * A HIS polls `GET /his/v1/events?_since=` (or `_pollFrom=`) every minute or so. With `_since` the practice's events
 * were read by receipt and `updated_at` filtered: every poll read the practice's whole history (a plan of
 * `inbox_practice_received` with a Filter on updated_at). Each poll must read an index by when the state changed, no
 * more of it than a page.
 */
describe("a HIS's poll of its events reads an index of the changes, not the practice's history", () => {
  let db: Db;
  const schema = `t_poll_plan_${Date.now().toString(36)}`;
  const practice = '01234567';
  const ANCHOR = '2026-06-01T00:00:00Z';

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // Twenty thousand events, one each ten minutes before a moment; one of them changed in the last minute.
    await db.query(
      `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload,
         received_at, updated_at)
       SELECT gen_random_uuid(), $1, 'poll-' || g, 'generic-json', 'referral.created', 'delivered', 't', '\\x00',
         $2::timestamptz - g * interval '10 minutes', $2::timestamptz - g * interval '10 minutes'
       FROM generate_series(1, 20000) g`,
      [practice, ANCHOR],
    );
    await db.query(`UPDATE inbox SET state = 'dead', updated_at = now() WHERE source_event_id = 'poll-17'`);
    await db.query('ANALYZE inbox');
  });

  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });

  it('reads the events changed since a moment by (updated_at, id), through the index of them', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const plans = await plansOf(db, () => listPracticeEvents(db, [practice], { updatedSince: since, size: 100 }));
    expect(plans).toHaveLength(1);
    expect(plans[0]).toContain('inbox_practice_updated');
    expect(plans[0]).not.toContain('Seq Scan on inbox');
    // No more of the index than the page and the row that says there is no more.
    expect(plans[0]).not.toMatch(/Rows Removed by Filter: \d{2,}/);
    const page = await listPracticeEvents(db, [practice], { updatedSince: since, size: 100 });
    expect(page.rows.map((e) => e.eventId)).toEqual(['poll-17']);
  });

  it('pages the events changed since a moment by a keyset on (updated_at, id), most recently changed first', async () => {
    // The three days before the moment: 432 events, one of them changed since.
    const since = new Date(Date.parse(ANCHOR) - 432 * 600_000 - 300_000).toISOString();
    const pages: Awaited<ReturnType<typeof listPracticeEvents>>[] = [];
    let cursor: (typeof pages)[number]['older'];
    do {
      const page = await listPracticeEvents(db, [practice], { updatedSince: since, cursor, size: 200 });
      pages.push(page);
      cursor = page.older;
    } while (cursor && pages.length < 10);
    expect(pages.map((p) => p.rows.length)).toEqual([200, 200, 32]);
    const all = pages.flatMap((p) => p.rows);
    expect(all[0]!.eventId).toBe('poll-17');
    expect(new Set(all.map((e) => e.id)).size).toBe(432);
    const times = all.map((e) => e.updatedAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    // A later page starts from the keyset in the index, not from its beginning.
    const plans = await plansOf(db, () =>
      listPracticeEvents(db, [practice], { updatedSince: since, cursor: pages[1]!.older, size: 200 }),
    );
    expect(plans[0]).toContain('inbox_practice_updated');
    expect(plans[0]).toMatch(/Index Cond: .*\(updated_at, id\) < /s);
    expect(plans[0]).not.toMatch(/Rows Removed by Filter: \d{2,}/);
  });

  it('reads the events changed from a poll (changed_xid) through the index of them', async () => {
    const [{ x }] = (await db.query<{ x: string }>(
      `SELECT changed_xid::text AS x FROM inbox WHERE source_event_id = 'poll-17'`,
    )) as [{ x: string }];
    const plans = await plansOf(db, () => listPracticeEvents(db, [practice], { changedFrom: x, size: 100 }));
    expect(plans[0]).toContain('inbox_practice_changed');
    expect(plans[0]).not.toContain('Seq Scan on inbox');
    const page = await listPracticeEvents(db, [practice], { changedFrom: x, size: 100 });
    expect(page.rows.map((e) => e.eventId)).toEqual(['poll-17']);
  });
});

interface Listing {
  events: { id: string; state: string; updatedAt: string }[];
  pollFrom?: string;
  next?: string;
}

/**
 * `updated_at` is when the transaction that changed an event began. A change still being written while a poll ran
 * commits with a time before that poll: a HIS polling from the newest `updatedAt` it saw (or from the moment of its
 * last poll) missed it for good. The answer's `pollFrom` is where the next poll starts and misses nothing.
 */
describe('GET /his/v1/events: a poll from the last one misses no change a transaction was still writing', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const ids: string[] = [];

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
      ids.push(((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id);
    }
    await waitFor('the referrals delivered', async () => {
      const rows = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = ANY($1)', [ids]);
      return rows.every((r) => r.state === 'delivered') ? true : undefined;
    });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const list = async (query: string) => {
    const res = await app.request(`/his/v1/events${query}`, { key: 'practice' });
    expect(res.status).toBe(200);
    return (await res.json()) as Listing;
  };

  it('answers a pollFrom; a poll from it sees the change a transaction open across the poll before committed', async () => {
    const db = app.rt.ctx.db;
    const [slow, other, third] = ids as [string, string, string];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    // One connection: a transaction that changes an event and stays open across the poll.
    const slowChange = db.transaction(async (tx) => {
      await tx.query(`UPDATE inbox SET state = 'dead', state_reason = 'slow', updated_at = now() WHERE id = $1`, [
        slow,
      ]);
      written();
      await held;
    });
    await wrote;
    // Another: a change that begins after it and commits at once.
    await new Promise((r) => setTimeout(r, 20));
    await db.query(`UPDATE inbox SET state = 'denied', updated_at = now() WHERE id = $1`, [other]);

    const poll = await list('?_count=2');
    expect(poll.events.map((e) => e.id)).toEqual([third, other]);
    expect(poll.events.find((e) => e.id === slow)).toBeUndefined();
    expect(typeof poll.pollFrom).toBe('string');
    // Every page of one poll answers the same pollFrom.
    expect(poll.next).toBeDefined();
    expect((await list(poll.next!.slice('/his/v1/events'.length))).pollFrom).toBe(poll.pollFrom);
    const newestSeen = poll.events
      .map((e) => e.updatedAt)
      .sort()
      .at(-1)!;

    release();
    await slowChange;

    // The change committed with the time its transaction began, before what the poll saw: `_since` misses it.
    const bySince = await list(`?_since=${encodeURIComponent(newestSeen)}`);
    expect(bySince.events.map((e) => e.id)).not.toContain(slow);
    // The poll from the last one's pollFrom has it.
    const next = await list(`?_pollFrom=${encodeURIComponent(poll.pollFrom!)}`);
    expect(next.events.map((e) => [e.id, e.state])).toContainEqual([slow, 'dead']);
    // And a poll from that one, with nothing changed since, nothing.
    await new Promise((r) => setTimeout(r, 20));
    expect((await list(`?_pollFrom=${encodeURIComponent(next.pollFrom!)}`)).events).toEqual([]);
  });

  it('pages a poll from a pollFrom through the next links, keeping it', async () => {
    const start = (await list('')).pollFrom!;
    await app.rt.ctx.db.query(`UPDATE inbox SET updated_at = now() WHERE id = ANY($1)`, [ids]);
    const first = await list(`?_pollFrom=${encodeURIComponent(start)}&_count=2`);
    expect(first.events).toHaveLength(2);
    expect(first.next).toContain('_pollFrom=');
    const second = await list(first.next!.slice('/his/v1/events'.length));
    expect(new Set([...first.events, ...second.events].map((e) => e.id))).toEqual(new Set(ids));
    expect(second.next).toBeUndefined();
    expect(second.pollFrom).toBe(first.pollFrom);
  });

  it.each([
    ['?_pollFrom=forged', '_pollFrom'],
    ['?_pollFrom=eyJ4IjoiMSJ9&_since=2026-12-01T10:00:00Z', '_pollFrom'],
    [
      '?_since=2026-12-01T10:00:00Z&_page=eyJrIjoiciIsImEiOiIyMDI2LTEyLTAxVDEwOjAwOjAwLjAwMDAwMFoiLCJpIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIiwidyI6IjEifQ',
      '_page',
    ],
  ])('answers %s 400 naming the parameter', async (query, parameter) => {
    const res = await app.request(`/his/v1/events${query}`, { key: 'practice' });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue.flatMap((i) => i.expression ?? [])).toContain(parameter);
  });
});
