import fs from 'node:fs';
import path from 'node:path';
import { reviveDelivery } from '../../src/event/event-store';
import type { Db } from '../../src/kernel/db';
import { insertInboxRows } from '../helpers/inbox-rows';
import { useTestApp } from '../helpers/test-runtime';

const HEADING = '### Events listed `delivered` with a dead delivery (finished before 654e94c)';

/** The runbook's query under `HEADING`: the first ```sql block of that section. */
function runbookQuery(): string {
  const runbook = fs.readFileSync(path.join(__dirname, '../../docs/runbook.md'), 'utf8');
  const section = runbook.split(HEADING)[1]?.split(/\n#{2,3} /)[0];
  const sql = section && /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!sql) {
    throw new Error(`docs/runbook.md has no sql block under "${HEADING}"`);
  }
  return sql;
}

// Before 654e94c an event with several deliveries took the outcome of the first to finish: listed `delivered` though
// another of its deliveries became a dead letter. 654e94c made such an event `dead` from then on, and left those
// finished before as they were; the runbook's query is how an operator finds them. Run here as the runbook prints it.
describe("the runbook's query for events delivered with a dead delivery", () => {
  // No workers: a replay's delivery stays pending for the test to see.
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
  const db = (): Db => app.rt.ctx.db;

  /** An event in `state` with a delivery per entry of `deliveries` (its state, and whether a receiver accepted it). */
  async function eventWith(state: string, deliveries: [string, string, boolean][]): Promise<string> {
    const [inboxId] = await insertInboxRows(db(), state, 1);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, last_status, last_error, delivered_at)
       SELECT gen_random_uuid(), $1, x.destination, gen_random_uuid()::text, x.state,
         CASE x.state WHEN 'dead' THEN 422 ELSE 201 END, CASE x.state WHEN 'dead' THEN 'HTTP 422; refused' END,
         CASE WHEN x.accepted THEN now() - interval '1 day' END
       FROM unnest($2::text[], $3::text[], $4::boolean[]) AS x(destination, state, accepted)`,
      [inboxId, deliveries.map((d) => d[0]), deliveries.map((d) => d[1]), deliveries.map((d) => d[2])],
    );
    return inboxId!;
  }

  it('lists each dead delivery no receiver accepted of an event listed delivered, and nothing else', async () => {
    const seeded = {
      // The case: one notice arrived first, the other became a dead letter after; the event said delivered.
      deadUnderDelivered: await eventWith('delivered', [
        ['gm0226', 'delivered', true],
        ['gm0344', 'dead', false],
      ]),
      // Its state says it already.
      dead: await eventWith('dead', [
        ['gm0226', 'delivered', true],
        ['gm0344', 'dead', false],
      ]),
      delivered: await eventWith('delivered', [['gm0226', 'delivered', true]]),
      // A failed resend of what the receiver had accepted: the municipality has it.
      deadButDeliveredBefore: await eventWith('delivered', [
        ['gm0226', 'delivered', true],
        ['gm0344', 'dead', true],
      ]),
    };
    const rows = await db().query<Record<string, unknown>>(runbookQuery());
    expect(rows.map((r) => ({ event: r.event_id, destination: r.destination, error: r.last_error }))).toEqual([
      { event: seeded.deadUnderDelivered, destination: 'gm0344', error: 'HTTP 422; refused' },
    ]);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'event_id',
      'practice',
      'event_type',
      'event_updated_at',
      'delivery_id',
      'destination',
      'last_status',
      'last_error',
      'dead_since',
    ]);

    // What the runbook says to do next: replay the delivery (the replay's own statement, `reviveDelivery`); the
    // event keeps its state, and the row is gone from the list while the delivery is under way.
    const deliveryId = String(rows[0]?.delivery_id);
    expect(await reviveDelivery(db(), deliveryId, 'replayed by operator')).toMatchObject({ id: deliveryId });
    const [event] = await db().query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [
      seeded.deadUnderDelivered,
    ]);
    expect(event?.state).toBe('delivered');
    expect(await db().query(runbookQuery())).toEqual([]);
  });
});
