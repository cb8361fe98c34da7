import { randomUUID } from 'node:crypto';
import { addWithdrawalNotice, finishDelivery } from '../../src/event/event-store';
import type { Db } from '../../src/kernel/db';
import { insertInboxRows } from '../helpers/inbox-rows';
import { useTestApp } from '../helpers/test-runtime';

// A withdrawal notice added to a consent event (`addWithdrawalNotice`, a disclosure recorded after the event's search)
// while the event's last other notice was being finished: the add's move (`withdrawalNoticeLater`) did not see the
// finish's uncommitted `delivered`, and the finish did not see the add's notice, so the event ended `delivered` with a
// notice still to send, whose own outcome (a dead letter, say) could then never reach the event. The add now takes
// the event's row first, as `finishDeliveries` does, so one of the two waits for the other's commit.
//
// Still open (it.failing): with the add first, the finish waits for the add's commit on the event's row, but its
// statement read the event's other deliveries in the snapshot it took before that wait, which has no row the add
// inserted (a row lock returns the newest version of rows the snapshot has, never a new row). It leaves the event
// `delivered` all the same. Closing it needs the finish itself to read again once it holds the row.
describe('a withdrawal notice added while its consent event is being finished', () => {
  // No workers: the test adds and finishes the notices itself, with the statements the stages use.
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
  const db = (): Db => app.rt.ctx.db;

  /**
   * A consent event `decided` with its pending notice to gm0226, and a child's event delivered to gm0344 whose
   * disclosure no notice covers yet (recorded after the consent event's search).
   */
  async function consentEventUnderWay(): Promise<{ inboxId: string; notice: string; disclosure: string }> {
    const [inboxId, childEvent] = await insertInboxRows(db(), 'decided', 2);
    await db().query("UPDATE inbox SET event_type = 'consent.withdrawn' WHERE id = $1", [inboxId]);
    await db().query("UPDATE inbox SET state = 'delivered' WHERE id = $1", [childEvent]);
    const notice = randomUUID();
    const disclosure = randomUUID();
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state) VALUES
         ($1, $2, 'gm0226', gen_random_uuid()::text, 'pending'),
         ($3, $4, 'gm0344', gen_random_uuid()::text, 'delivered')`,
      [notice, inboxId, disclosure, childEvent],
    );
    await db().query(
      `INSERT INTO child_disclosure (delivery_id, tenant, child_key, destination, municipality, purpose, data_classes,
         resources)
       VALUES ($1, '01234567', 'child', 'gm0344', 'GM0344', 'referral', '{ServiceRequest}', '{ServiceRequest/x}')`,
      [disclosure],
    );
    return { inboxId: inboxId!, notice, disclosure };
  }

  const finishOf = (inboxId: string, deliveryId: string) =>
    ({
      deliveryId,
      inboxId,
      deliveryState: 'delivered',
      step: 'delivered',
      reason: 'gm0226: HTTP 201',
      status: 201,
    }) as const;

  const addOf = (inboxId: string, disclosure: string) =>
    ({
      inboxId,
      reason: 'recorded in the consent registry; withdrawal notice to gm0344',
      notice: { id: randomUUID(), destination: 'gm0344', idempotencyKey: randomUUID(), disclosures: [disclosure] },
    }) as const;

  /** The event's state and the destinations of its pending deliveries. */
  const whereIs = async (inboxId: string) => ({
    state: (await db().query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [inboxId]))[0]!.state,
    pending: (
      await db().query<{ destination: string }>(
        "SELECT destination FROM delivery WHERE inbox_id = $1 AND state = 'pending' ORDER BY destination",
        [inboxId],
      )
    ).map((r) => r.destination),
  });

  /**
   * The add and the finish, the one `first` in a transaction held open until the other has had time to run (or to
   * wait for it), then committed: where the event is then, and whether the other waited for the commit.
   */
  async function raced(first: 'finish' | 'add') {
    const { inboxId, notice, disclosure } = await consentEventUnderWay();
    const run = {
      finish: (on: Db) => finishDelivery(on, finishOf(inboxId, notice)),
      add: (on: Db) => addWithdrawalNotice(on, addOf(inboxId, disclosure)),
    };
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstDone!: () => void;
    const firstRan = new Promise<void>((resolve) => (firstDone = resolve));
    const one = db().transaction(async (tx) => {
      await run[first](tx);
      firstDone();
      await held; // not committed yet while the other runs
    });
    await firstRan;
    let secondDone = false;
    const other = run[first === 'finish' ? 'add' : 'finish'](db()).then(() => (secondDone = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waited = !secondDone;
    release();
    await one;
    await other;
    return { ...(await whereIs(inboxId)), waited };
  }

  // Decided, the new notice to go, and the second waited for the first's commit.
  const expected = { state: 'decided', pending: ['gm0344'], waited: true };

  it('the finish first, uncommitted: the add waits for it, then takes the event back to decided', async () => {
    expect(await raced('finish')).toEqual(expected);
  });

  it.failing(
    'the add first, uncommitted: the finish waits, then leaves the event decided, its notice to go',
    async () => {
      expect(await raced('add')).toEqual(expected);
    },
  );
});
