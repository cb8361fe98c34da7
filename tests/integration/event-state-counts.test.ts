import { randomBytes } from 'node:crypto';
import { clearFinishedPayloads, decideAndCreateDeliveries, moveEvent } from '../../src/event/event-store';
import { eventStateCounts, foldEventStateCounts } from '../../src/event/state-counts';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { migrateBefore } from '../helpers/migrate-before';
import { insertInboxRows, permittedTo } from '../helpers/inbox-rows';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * /metrics reports the events per state from the changes the inbox's triggers record (migration 019), not by counting
 * the inbox. Whatever changes the inbox, and however the changes are folded, those figures must be what counting the
 * inbox gives.
 */

const schema = `t_counts_${randomBytes(5).toString('hex')}`;
let db: Db;

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 8, dataDir: '' });
  await migrate(db);
});

afterAll(async () => {
  await db.close();
  await dropSchema(schema);
});

beforeEach(async () => {
  await db.query('TRUNCATE inbox CASCADE');
});

const insertInbox = (state: string, n: number) => insertInboxRows(db, state, n);

/** The events per state as counting the inbox gives them. */
async function counted(): Promise<{ state: string; count: number }[]> {
  return db.query<{ state: string; count: number }>(
    'SELECT state, count(*)::float8 AS count FROM inbox GROUP BY state ORDER BY state',
  );
}

async function expectCountsExact(): Promise<void> {
  expect(await eventStateCounts(db)).toEqual(await counted());
}

describe('the events per state for /metrics', () => {
  it('follow every kind of change the store makes, one at a time and in groups', async () => {
    const received = await insertInbox('received', 6);
    await expectCountsExact();
    expect(await eventStateCounts(db)).toEqual([{ state: 'received', count: 6 }]);

    // A grouped decision of four events, each with its delivery.
    const decided = received.slice(0, 4);
    await decideAndCreateDeliveries(db, permittedTo('gm0363', decided));
    await expectCountsExact();

    await moveEvent(db, received[4]!, 'denied', { reason: 'no consent' });
    await moveEvent(db, decided[0]!, 'delivered');
    await moveEvent(db, decided[1]!, 'deadLetter');
    // A move that finds its event already moved changes nothing.
    await moveEvent(db, decided[0]!, 'delivered');
    await expectCountsExact();

    // An update that leaves the states as they were (retention clearing finished records) adds no change rows.
    const changeRows = await db.query('SELECT 1 FROM inbox_state_count');
    expect((await clearFinishedPayloads(db, new Date(Date.now() + 60_000), 100)).length).toBeGreaterThan(0);
    expect(await db.query('SELECT 1 FROM inbox_state_count')).toHaveLength(changeRows.length);
    await expectCountsExact();

    expect(await eventStateCounts(db)).toEqual([
      { state: 'dead', count: 1 },
      { state: 'decided', count: 2 },
      { state: 'delivered', count: 1 },
      { state: 'denied', count: 1 },
      { state: 'received', count: 1 },
    ]);
  });

  it('are folded into one row per state with the same sums', async () => {
    const ids = await insertInbox('received', 10);
    for (const id of ids.slice(0, 7)) {
      await moveEvent(db, id, 'denied');
    }
    expect((await db.query('SELECT 1 FROM inbox_state_count')).length).toBeGreaterThan(2);

    await foldEventStateCounts(db);

    expect(await db.query('SELECT state, n::float8 AS n FROM inbox_state_count ORDER BY state')).toEqual([
      { state: 'denied', n: 7 },
      { state: 'received', n: 3 },
    ]);
    await expectCountsExact();
  });

  it('leave out a state no event is in any more', async () => {
    const [id] = await insertInbox('received', 1);
    await moveEvent(db, id!, 'denied');
    await foldEventStateCounts(db);

    expect(await eventStateCounts(db)).toEqual([{ state: 'denied', count: 1 }]);
    expect(await db.query('SELECT state FROM inbox_state_count')).toEqual([{ state: 'denied' }]);
  });

  it('follow rows deleted and a table truncated', async () => {
    await insertInbox('received', 3);
    await insertInbox('failed', 2);
    await db.query(`DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE state = 'failed' LIMIT 1)`);
    await expectCountsExact();

    await db.query('TRUNCATE inbox CASCADE');
    expect(await eventStateCounts(db)).toEqual([]);
    expect(await db.query('SELECT 1 FROM inbox_state_count')).toEqual([]);
  });

  it('stay exact while writers and several folds run at the same moment', async () => {
    const ids = await insertInbox('received', 200);
    const moves = ids.map((id, i) => moveEvent(db, id, i % 3 === 0 ? 'denied' : 'mappingFailed'));
    const folds = Array.from({ length: 6 }, () => foldEventStateCounts(db));
    const inserts = Array.from({ length: 5 }, () => insertInbox('received', 10));
    await Promise.all([...moves, ...folds, ...inserts]);
    await expectCountsExact();

    await Promise.all([foldEventStateCounts(db), foldEventStateCounts(db)]);
    await expectCountsExact();
    expect(await eventStateCounts(db)).toEqual([
      { state: 'denied', count: 67 },
      { state: 'failed', count: 133 },
      { state: 'received', count: 50 },
    ]);
  });

  it('start from the events already there when the migration runs', async () => {
    const before = `t_counts_before_${randomBytes(4).toString('hex')}`;
    const old = await openDb({ databaseUrl: TEST_DATABASE_URL, schema: before, poolSize: 2, dataDir: '' });
    try {
      // The schema as it was before migration 019, with events in it.
      await migrateBefore(old, '019');
      await old.query(
        `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id)
         SELECT gen_random_uuid(), '01234567', 'old-' || k, 'generic-json', 'referral.created',
           CASE WHEN k % 4 = 0 THEN 'denied' ELSE 'delivered' END, 't'
         FROM generate_series(1, 12) k`,
      );
      expect((await migrate(old))[0]).toBe('019_inbox_state_count.sql');
      expect(await eventStateCounts(old)).toEqual([
        { state: 'delivered', count: 9 },
        { state: 'denied', count: 3 },
      ]);
    } finally {
      await old.close();
      await dropSchema(before);
    }
  });
});
