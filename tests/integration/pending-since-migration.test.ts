import { randomBytes } from 'node:crypto';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { insertInboxRows } from '../helpers/inbox-rows';
import { migrateBefore } from '../helpers/migrate-before';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/** A moment `minutes` after a fixed start, three days before the upgrade below (no wall clock). */
const at = (minutes: number): Date => new Date(Date.UTC(2026, 11, 1, 8, 0) + minutes * 60_000);
const DAY = 24 * 60;

/**
 * Migration 059: the deliveries pending at the upgrade count their age on /metrics from the start of their current
 * round, as the build that has it counts a delivery's age: a dead letter created days ago and replayed just before
 * the upgrade is minutes old, not days (the 15-minute waiting-delivery alert would fire at once).
 */
describe('the deliveries pending when migration 059 is applied', () => {
  const schema = `t_pending_since_${randomBytes(5).toString('hex')}`;
  let db: Db;
  const since = new Map<string, Date>();

  /** A pending delivery of a new event, with the event's moves to `decided` at `decidedAt`. */
  async function pendingDelivery(d: { created: Date; updated: Date; round: number; decidedAt: Date[] }) {
    const [inboxId] = await insertInboxRows(db, 'decided', 1);
    for (const moment of d.decidedAt) {
      await db.query(`INSERT INTO inbox_history (inbox_id, state, reason, at) VALUES ($1, 'decided', 'x', $2)`, [
        inboxId,
        moment,
      ]);
    }
    const [row] = await db.query<{ id: string }>(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, round, attempts, created_at, updated_at)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'pending', $2, 2, $3, $4) RETURNING id`,
      [inboxId, d.round, d.created, d.updated],
    );
    return row!.id;
  }

  const cases = {
    // Its first round, retried since: from its creation, as before.
    firstRound: { created: at(0), updated: at(3 * DAY - 5), round: 0, decidedAt: [at(0)] },
    // A dead letter replayed three days after its creation, not tried since: the replay's statement set updated_at
    // (the transaction's start) and the event's move to `decided` (a moment later).
    replayedNotTried: {
      created: at(0),
      updated: at(3 * DAY - 10),
      round: 1,
      decidedAt: [at(0), new Date(at(3 * DAY - 10).getTime() + 40)],
    },
    // Replayed an hour before the upgrade and tried again since: from the replay, not the latest attempt.
    replayedAndTried: { created: at(0), updated: at(3 * DAY - 2), round: 1, decidedAt: [at(0), at(3 * DAY - 60)] },
    // Replayed twice: from the second replay.
    replayedTwice: {
      created: at(0),
      updated: at(3 * DAY - 1),
      round: 2,
      decidedAt: [at(0), at(DAY), at(3 * DAY - 30)],
    },
    // A new round whose event was not moved (no move recorded for it): from its latest touch, never its creation.
    newRoundUnrecorded: { created: at(0), updated: at(3 * DAY - 7), round: 1, decidedAt: [at(0)] },
  };

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrateBefore(db, '059');
    const ids = new Map<string, string>();
    for (const [name, d] of Object.entries(cases)) {
      ids.set(name, await pendingDelivery(d));
    }
    expect((await migrate(db))[0]).toBe('059_delivery_pending_since.sql');
    for (const [name, id] of ids) {
      const [row] = await db.query<{ pending_since: Date }>('SELECT pending_since FROM delivery WHERE id = $1', [id]);
      since.set(name, row!.pending_since);
    }
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('counts a delivery in its first round from its creation', () => {
    expect(since.get('firstRound')).toEqual(cases.firstRound.created);
  });

  it('counts a replayed delivery not tried since from its replay', () => {
    expect(since.get('replayedNotTried')).toEqual(cases.replayedNotTried.updated);
  });

  it('counts a replayed delivery tried since from its replay, not from its latest attempt', () => {
    expect(since.get('replayedAndTried')).toEqual(at(3 * DAY - 60));
  });

  it('counts a delivery replayed twice from its second replay', () => {
    expect(since.get('replayedTwice')).toEqual(at(3 * DAY - 30));
  });

  it('counts a new round with no move of its event recorded from its latest touch, not its creation', () => {
    expect(since.get('newRoundUnrecorded')).toEqual(cases.newRoundUnrecorded.updated);
  });
});
