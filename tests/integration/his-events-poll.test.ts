import { listPracticeEvents } from '../../src/reports/practice-events/practice-events';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';
import { plansOf } from '../helpers/query-plans';

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
    const plans = await plansOf(db, () => listPracticeEvents(db, [practice], { updatedSince: since, size: 100 }), {
      analyze: true,
    });
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
    const plans = await plansOf(
      db,
      () => listPracticeEvents(db, [practice], { updatedSince: since, cursor: pages[1]!.older, size: 200 }),
      { analyze: true },
    );
    expect(plans[0]).toContain('inbox_practice_updated');
    expect(plans[0]).toMatch(/Index Cond: .*\(updated_at, id\) < /s);
    expect(plans[0]).not.toMatch(/Rows Removed by Filter: \d{2,}/);
  });

  it('reads the events changed from a poll (changed_xid) through the index of them', async () => {
    const [{ x }] = (await db.query<{ x: string }>(
      `SELECT changed_xid::text AS x FROM inbox WHERE source_event_id = 'poll-17'`,
    )) as [{ x: string }];
    const plans = await plansOf(db, () => listPracticeEvents(db, [practice], { changedFrom: x, size: 100 }), {
      analyze: true,
    });
    expect(plans[0]).toContain('inbox_practice_changed');
    expect(plans[0]).not.toContain('Seq Scan on inbox');
    const page = await listPracticeEvents(db, [practice], { changedFrom: x, size: 100 });
    expect(page.rows.map((e) => e.eventId)).toEqual(['poll-17']);
  });

  // inbox is the busiest table: a trigger without WHEN entered plpgsql for every write of it (an ack, a purge), as
  // 070's did for `delivery` until 080. Inserts take the transaction's id from the column's default instead.
  it('keeps changed_xid by a default on insert and a trigger only on updates that change state or updated_at', async () => {
    const [column] = await db.query<{ dflt: string | null }>(
      `SELECT pg_get_expr(d.adbin, d.adrelid) AS dflt
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = 'inbox'::regclass AND a.attname = 'changed_xid'`,
    );
    expect(column?.dflt).toBe('pg_current_xact_id()');
    const triggers = await db.query<{ def: string }>(
      `SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'inbox'::regclass AND tgname = 'inbox_changed_xid'`,
    );
    expect(triggers.map((t) => t.def.replace(/\S+\.inbox\b/, 'inbox'))).toEqual([
      'CREATE TRIGGER inbox_changed_xid BEFORE UPDATE ON inbox FOR EACH ROW WHEN (((new.updated_at IS DISTINCT FROM ' +
        'old.updated_at) OR (new.state IS DISTINCT FROM old.state))) EXECUTE FUNCTION ' +
        triggers[0]!.def.match(/EXECUTE FUNCTION (.*)$/)![1],
    ]);
    // What it keeps is the same: an insert and a state change carry their transaction's id, another write keeps it.
    const [inserted] = await db.query<{ x: string; now: string }>(
      `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
       VALUES (gen_random_uuid(), $1, 'poll-new', 'generic-json', 'referral.created', 'received', 't', '\\x00')
       RETURNING changed_xid::text AS x, pg_current_xact_id()::text AS now`,
      [practice],
    );
    expect(inserted?.x).toBe(inserted?.now);
    const [acked] = await db.query<{ x: string }>(
      `UPDATE inbox SET trace_id = 'u' WHERE source_event_id = 'poll-new' RETURNING changed_xid::text AS x`,
    );
    expect(acked?.x).toBe(inserted?.x);
    const [changed] = await db.query<{ x: string; now: string }>(
      `UPDATE inbox SET state = 'dead' WHERE source_event_id = 'poll-new'
       RETURNING changed_xid::text AS x, pg_current_xact_id()::text AS now`,
    );
    expect(changed?.x).toBe(changed?.now);
    expect(changed?.x).not.toBe(inserted?.x);
  });
});
