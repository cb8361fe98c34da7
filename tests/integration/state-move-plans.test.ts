import { randomBytes } from 'node:crypto';
import {
  decideAndCreateDeliveries,
  finishDeliveries,
  finishDeliveriesUnlessConsentsChanged,
  finishDelivery,
  deniedForConsentOfChild,
  keyDenialAndReadConsents,
  keyDeniedEvents,
  moveEvent,
  pendingDeliveriesOf,
  recordAttempt,
  reviveDelivery,
  reviveFeedback,
  stalePendingDeliveries,
  staleEventsToMap,
} from '../../src/event/event-store';
import { TERMINAL_STATES } from '../../src/event/states';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { insertInboxRows, permittedTo } from '../helpers/inbox-rows';
import { statementsOf, type RecordedStatement } from '../helpers/recorded-statements';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * The pipeline's state moves find their rows by primary key, whatever the statistics say about `state`
 * (event-store.ts, "How the state moves find their rows"). The statistics here are what autovacuum leaves after a
 * quiet hour: taken when every event was finished. Then a burst arrives. A plan that trusted those statistics would
 * read the whole backlog through a partial index of open rows, or scan filtered on `state`, for every statement.
 */

const schema = `t_plans_${randomBytes(5).toString('hex')}`;
let db: Db;

/** The indexes whose use by a state move would read every open (or dead) row to find one. */
const STATE_INDEXES = [
  'inbox_open',
  'inbox_denied',
  'delivery_pending',
  'delivery_dead',
  'feedback_open',
  'trajectory_event_open',
];
const MOVED_TABLES = new Set(['inbox', 'delivery', 'feedback', 'trajectory_event']);
/** A state compared with a constant (`state = 'pending'`, `state = ANY ('{…}'::text[])`): the planner may cost it. */
const STATE_CONSTANT = /\bstate = (ANY \()?'/;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/** What each scan of a moved table in `plan` uses and checks, as one line each. */
function scansOf(plan: PlanNode): string[] {
  // A bitmap heap scan names its index on the bitmap index scan beneath it.
  const index = plan['Index Name'] ?? plan.Plans?.find((p) => p['Node Type'] === 'Bitmap Index Scan')?.['Index Name'];
  const own =
    plan['Relation Name'] && MOVED_TABLES.has(plan['Relation Name']) && plan['Node Type'] !== 'ModifyTable'
      ? [
          `${plan['Node Type']} on ${plan['Relation Name']}` +
            (index ? ` using ${index}` : '') +
            (plan['Index Cond'] ? ` cond ${plan['Index Cond']}` : '') +
            (plan.Filter ? ` filter ${plan.Filter}` : ''),
        ]
      : [];
  return [...own, ...(plan.Plans ?? []).flatMap(scansOf)];
}

/** The scans PostgreSQL plans for each statement, with the statement's own parameters (a custom plan). */
async function plannedScans(statements: readonly RecordedStatement[]): Promise<string[]> {
  const scans: string[] = [];
  for (const { sql, params } of statements) {
    const [row] = await db.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    scans.push(...scansOf(row!['QUERY PLAN'][0]!.Plan));
  }
  return scans;
}

const insertInbox = (state: string, n: number) => insertInboxRows(db, state, n);

const insertDeliveries = (state: string, inboxIds: readonly string[]) =>
  db.query<{ id: string; inbox_id: string }>(
    `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
     SELECT gen_random_uuid(), i, 'gm0363', gen_random_uuid()::text, $1 FROM unnest($2::uuid[]) AS i
     RETURNING id, inbox_id`,
    [state, inboxIds],
  );

const insertFeedback = (state: string, inboxIds: readonly string[]) =>
  db.query<{ id: string }>(
    `INSERT INTO feedback (id, inbox_id, tenant, municipality, status, service_request_status, task, submitted_by,
       idempotency_key, state)
     SELECT gen_random_uuid(), i, '01234567', 'GM0363', 'accepted', 'active', '{}', 'p', gen_random_uuid()::text, $1
     FROM unnest($2::uuid[]) AS i RETURNING id`,
    [state, inboxIds],
  );

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
  await migrate(db);
  // A quiet hour: everything finished, and the statistics taken then.
  const finished = await insertInbox('delivered', 3000);
  await insertDeliveries('delivered', finished);
  await insertFeedback('delivered', finished);
  await db.exec('ANALYZE inbox; ANALYZE delivery; ANALYZE feedback');
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

describe('state moves after statistics taken while nothing was open', () => {
  it('find every event, delivery and feedback row by its primary key in a burst', async () => {
    // The burst: a backlog of open events, deliveries, feedback and dead letters the statistics never saw.
    const received = await insertInbox('received', 1500);
    const decided = await insertInbox('decided', 1500);
    const dead = await insertInbox('dead', 300);
    const pending = await insertDeliveries('pending', decided);
    const deadDeliveries = await insertDeliveries('dead', dead);
    const pendingFeedback = await insertFeedback('pending', decided.slice(0, 1000));
    const deadFeedback = await insertFeedback('dead', dead);

    const statements = await statementsOf(db, async (rec) => {
      expect(await moveEvent(rec, received[0]!, 'denied')).toBe(true);
      // Keyed with its child right after (redecide.ts recheckConsentDenial), or when a consent opened it.
      await keyDenialAndReadConsents(rec, {
        inboxId: received[0]!,
        childKey: 'abcdefabcdefabcdefabcdefabcdefab',
        tenant: '01234567',
        patientBsn: '999990019',
      });
      await keyDeniedEvents(rec, [{ id: received[0]!, childKey: 'abcdefabcdefabcdefabcdefabcdefab' }]);
      const created = await decideAndCreateDeliveries(rec, permittedTo('gm0363', received.slice(1, 21)));
      expect(created.size).toBe(20);
      const delivered = (d: { id: string; inbox_id: string }) => ({
        deliveryId: d.id,
        inboxId: d.inbox_id,
        deliveryState: 'delivered' as const,
        step: 'delivered' as const,
        reason: 'accepted',
        status: 201,
      });
      const finishedNow = await finishDeliveries(rec, 'delivered', pending.slice(0, 20).map(delivered));
      expect(finishedNow.size).toBe(20);
      // The same finish behind a check of the children's consents (withdrawal-notice.ts), none of them changed.
      const checkedNow = await finishDeliveriesUnlessConsentsChanged(
        rec,
        'delivered',
        pending.slice(21, 41).map((d) => ({
          check: { tenant: '01234567', patientBsn: '999990019', seen: [] },
          finish: delivered(d),
        })),
      );
      expect(checkedNow).toEqual({ finished: new Set(Array.from({ length: 20 }, (_, i) => i)), changed: new Map() });
      const one = pending[20]!;
      expect(
        await finishDelivery(rec, {
          deliveryId: one.id,
          inboxId: one.inbox_id,
          deliveryState: 'delivered',
          step: 'delivered',
          reason: 'accepted',
        }),
      ).toBe(true);
      expect(await recordAttempt(rec, 'feedback', pendingFeedback[0]!.id, { state: 'delivered', status: 200 })).toBe(
        true,
      );
      expect(await reviveFeedback(rec, deadFeedback[0]!.id)).toEqual(expect.objectContaining({ state: 'pending' }));
      expect(await reviveDelivery(rec, deadDeliveries[0]!.id, 'operator replay')).toEqual(
        expect.objectContaining({ id: deadDeliveries[0]!.id }),
      );
    });

    const scans = await plannedScans(statements);
    // Every move above reads the row it changes; a plan without scans of these tables would check nothing.
    expect(scans.length).toBeGreaterThanOrEqual(statements.length);
    expect(scans.filter((s) => STATE_INDEXES.some((index) => s.includes(` using ${index}`)))).toEqual([]);
    expect(scans.filter((s) => STATE_CONSTANT.test(s))).toEqual([]);
    // And by the primary key: no scan of a whole table, however small the planner thinks it is. A finish also reads
    // the other deliveries of each event it moves (an event with several waits for the last), by the event's key.
    const byEventKey = /^Index Scan on delivery using delivery_event_destination cond \(inbox_id = locked\.id\)$/;
    expect(
      scans.filter((s) => !/^(Bitmap Heap|Index) Scan on (\w+) using \2_pkey\b/.test(s) && !byEventKey.test(s)),
    ).toEqual([]);
  });

  it("read an event's pending deliveries by the event's key, not through the index of all pending ones", async () => {
    const [pending] = await insertDeliveries('pending', await insertInbox('decided', 1));
    const statements = await statementsOf(db, async (rec) => {
      expect(await pendingDeliveriesOf(rec, pending!.inbox_id)).toEqual([expect.objectContaining({ id: pending!.id })]);
    });
    expect(await plannedScans(statements)).toEqual([
      expect.stringMatching(/^Index Scan on delivery using delivery_event_destination\b/),
    ]);
  });

  it("let a recorded consent find its child's denied events without reading the practice's history", async () => {
    const statements = await statementsOf(db, (rec) =>
      deniedForConsentOfChild(rec, {
        tenant: '01234567',
        childKey: 'abcdefabcdefabcdefabcdefabcdefab',
        windowDays: 30,
        limit: 500,
      }),
    );
    const scans = await plannedScans(statements);
    expect(scans).toEqual([expect.stringMatching(/^(Bitmap Heap|Index) Scan on inbox using inbox_denied_child\b/)]);
  });

  it('let the reconciler find events left unmapped through an index that holds no finished event', async () => {
    const statements = await statementsOf(db, (rec) => staleEventsToMap(rec, 30_000));
    expect(await plannedScans(statements)).toEqual([expect.stringMatching(/^Index Scan on inbox using inbox_open\b/)]);
    // Finished: every terminal state, consent events (completed) among them, is left out of the index.
    const [index] = await db.query<{ condition: string }>(
      `SELECT pg_get_expr(indpred, indrelid) AS condition FROM pg_index WHERE indexrelid = 'inbox_open'::regclass`,
    );
    const leftOut = [...index!.condition.matchAll(/'(\w+)'::text/g)].map((m) => m[1]);
    expect(leftOut.sort()).toEqual([...TERMINAL_STATES].sort());
    expect(index!.condition).toMatch(/^\(state <> ALL /);
  });

  it('let the reconciler find stale pending deliveries without reading the delivered ones', async () => {
    const statements = await statementsOf(db, (rec) => stalePendingDeliveries(rec, 30_000, ['gm0226']));
    const scans = await plannedScans(statements);
    expect(scans.filter((s) => s.includes('on delivery'))).toEqual([expect.stringMatching(/using delivery_pending/)]);
  });
});
