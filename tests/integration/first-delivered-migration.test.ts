import { randomBytes } from 'node:crypto';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { insertInboxRows } from '../helpers/inbox-rows';
import { migrateBefore } from '../helpers/migrate-before';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/** A moment `minutes` after a fixed start (no wall clock). */
const at = (minutes: number): Date => new Date(Date.UTC(2026, 11, 1, 8, 0) + minutes * 60_000);

/**
 * Migration 070: `delivery.first_delivered_at`, when a receiver first accepted a delivery, which the municipality's
 * received referrals are listed and dated by. The deliveries there get their `delivered_at`; from then on the
 * database keeps it on every write, an older build's (which knows nothing of the column) included.
 */
describe('when a delivery was first delivered, from migration 070 on', () => {
  const schema = `t_first_delivered_${randomBytes(5).toString('hex')}`;
  let db: Db;
  const ids: Record<'delivered' | 'dead' | 'pending', string> = { delivered: '', dead: '', pending: '' };

  const firstOf = async (id: string): Promise<Date | null> =>
    (
      await db.query<{ first_delivered_at: Date | null }>('SELECT first_delivered_at FROM delivery WHERE id = $1', [id])
    )[0]!.first_delivered_at;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrateBefore(db, '070');
    const inboxIds = await insertInboxRows(db, 'delivered', 3);
    const rows: [keyof typeof ids, string, Date | null][] = [
      ['delivered', 'delivered', at(0)],
      // A redelivery that failed: the receiver had accepted it.
      ['dead', 'dead', at(10)],
      ['pending', 'pending', null],
    ];
    for (const [i, [name, state, deliveredAt]] of rows.entries()) {
      const [row] = await db.query<{ id: string }>(
        `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
         VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, $2, $3) RETURNING id`,
        [inboxIds[i], state, deliveredAt],
      );
      ids[name] = row!.id;
    }
    expect((await migrate(db))[0]).toBe('070_delivery_first_delivered.sql');
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('gives the deliveries there their delivered_at, whatever their state, and none to one never delivered', async () => {
    expect(await firstOf(ids.delivered)).toEqual(at(0));
    expect(await firstOf(ids.dead)).toEqual(at(10));
    expect(await firstOf(ids.pending)).toBeNull();
  });

  it('keeps it from the first delivery on, through writes that know nothing of it (an older build’s)', async () => {
    // Delivered at last, as any build records it.
    await db.query(`UPDATE delivery SET state = 'delivered', delivered_at = $2 WHERE id = $1`, [ids.pending, at(20)]);
    expect(await firstOf(ids.pending)).toEqual(at(20));
    // Redelivered: `delivered_at` moves on, the first delivery stays.
    await db.query(`UPDATE delivery SET round = round + 1, delivered_at = $2 WHERE id = $1`, [ids.pending, at(30)]);
    expect(await firstOf(ids.pending)).toEqual(at(20));
    // A delivery inserted delivered (as the tests' and tools' rows are) has it at once.
    const [inboxId] = await insertInboxRows(db, 'delivered', 1);
    const [row] = await db.query<{ first_delivered_at: Date }>(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'delivered', $2) RETURNING first_delivered_at`,
      [inboxId, at(40)],
    );
    expect(row!.first_delivered_at).toEqual(at(40));
  });
});

/**
 * Migration 080: the trigger keeping `first_delivered_at` runs only for a write that changes it (a `WHEN` clause), not
 * for every write to `delivery` (each attempt, each pending delivery's bookkeeping); what it keeps is as from 070 on.
 */
describe('when a delivery was first delivered, from migration 080 on', () => {
  const schema = `t_first_delivered_when_${randomBytes(5).toString('hex')}`;
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrate(db);
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  /**
   * Runs `sql` and answers its row's `first_delivered_at`, and how often the trigger's function ran for it: the
   * difference of the session's count around it (it also holds earlier transactions' calls not yet reported).
   */
  const write = (sql: string, params: unknown[]) =>
    db.transaction(async (tx) => {
      await tx.query(`SET LOCAL track_functions = 'pl'`);
      const calls = async () =>
        (
          await tx.query<{ n: number }>(
            `SELECT coalesce(pg_stat_get_xact_function_calls('delivery_first_delivered'::regproc), 0)::int AS n`,
          )
        )[0]!.n;
      const before = await calls();
      const [row] = await tx.query<{ first_delivered_at: Date | null }>(`${sql} RETURNING first_delivered_at`, params);
      return { first: row!.first_delivered_at, calls: (await calls()) - before };
    });

  it('keeps first_delivered_at as before, and runs its function only for the writes that change it', async () => {
    const [inboxId, otherInboxId] = await insertInboxRows(db, 'delivered', 2);
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'pending') RETURNING id`,
      [inboxId],
    );
    const id = inserted[0]!.id;
    const update = (set: string, ...params: unknown[]) =>
      write(`UPDATE delivery SET ${set} WHERE id = $1`, [id, ...params]);

    // A failed attempt of a pending delivery: nothing to keep, no call.
    expect(await update('attempts = attempts + 1, last_status = 503')).toEqual({ first: null, calls: 0 });
    // Delivered: kept.
    expect(await update(`state = 'delivered', delivered_at = $2`, at(20))).toEqual({ first: at(20), calls: 1 });
    // Redelivered: `delivered_at` moves on, the first delivery stays, and nothing ran.
    expect(await update('round = round + 1, delivered_at = $2', at(30))).toEqual({ first: at(20), calls: 0 });
    expect(await update(`state = 'dead', attempts = attempts + 1`)).toEqual({ first: at(20), calls: 0 });
    // A write that clears or moves it (no build does) gets the earliest it may be, as from 070 on.
    expect(await update('first_delivered_at = NULL')).toEqual({ first: at(30), calls: 1 });
    expect(await update('first_delivered_at = $2', at(45))).toEqual({ first: at(30), calls: 1 });
    expect(await update('first_delivered_at = $2', at(5))).toEqual({ first: at(5), calls: 0 });
    // Inserted delivered: it has it at once.
    expect(
      await write(
        `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
         VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'delivered', $2)`,
        [otherInboxId, at(40)],
      ),
    ).toEqual({ first: at(40), calls: 1 });
  });
});
