import { finishDeliveriesUnlessConsentsChanged, finishDelivery, getHistory } from '../../src/event/event-store';
import { stageStatements } from '../../src/event/stage-groups';
import type { Db } from '../../src/kernel/db';
import { insertInboxRows } from '../helpers/inbox-rows';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

type Finish = 'delivered' | 'dead';

// An event with several deliveries (a consent event's withdrawal notices to two municipalities) took the state of the
// first delivery to finish: delivered, though the second later died, or dead, though the second arrived. The event
// now stays `decided` while another of its deliveries waits; the last to finish sets its state, `dead` winning.
describe('an event with deliveries to two destinations', () => {
  let app: TestApp;
  const db = (): Db => app.rt.ctx.db;

  beforeAll(async () => {
    // No workers: the test finishes the deliveries itself, with the statements the deliver stage uses.
    app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  /** A decided event with a pending delivery to each of gm0226 and gm0344; the delivery ids in that order. */
  async function eventToTwo(): Promise<{ inboxId: string; deliveries: [string, string] }> {
    const [inboxId] = await insertInboxRows(db(), 'decided', 1);
    const rows = await db().query<{ id: string; destination: string }>(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
       SELECT gen_random_uuid(), $1, d, gen_random_uuid()::text, 'pending' FROM unnest($2::text[]) AS d
       RETURNING id, destination`,
      [inboxId, ['gm0226', 'gm0344']],
    );
    const of = (destination: string) => rows.find((r) => r.destination === destination)!.id;
    return { inboxId: inboxId!, deliveries: [of('gm0226'), of('gm0344')] };
  }

  /** What the deliver stage passes for an accepted send, or for a permanent refusal (HTTP 422). */
  function finishOf(inboxId: string, deliveryId: string, destination: string, how: Finish) {
    return how === 'delivered'
      ? {
          deliveryId,
          inboxId,
          deliveryState: 'delivered',
          step: 'delivered',
          reason: `${destination}: HTTP 201`,
          status: 201,
        }
      : {
          deliveryId,
          inboxId,
          deliveryState: 'dead',
          step: 'deadLetter',
          reason: `${destination}: HTTP 422; refused`,
          status: 422,
          error: 'HTTP 422; refused',
        };
  }

  const stateOf = async (inboxId: string) =>
    (
      await db().query<{ state: string; state_reason: string | null }>(
        'SELECT state, state_reason FROM inbox WHERE id = $1',
        [inboxId],
      )
    )[0]!;

  /** The three ways the deliver stage finishes a delivery: alone, in a group, and with the consents' check. */
  const paths = {
    alone: (f: ReturnType<typeof finishOf>) => finishDelivery(db(), f as Parameters<typeof finishDelivery>[1]),
    grouped: (f: ReturnType<typeof finishOf>) =>
      stageStatements(db()).finishDelivery(f as Parameters<typeof finishDelivery>[1]),
    checked: async (f: ReturnType<typeof finishOf>) =>
      (
        await finishDeliveriesUnlessConsentsChanged(db(), f.step as 'delivered', [
          { finish: f as Parameters<typeof finishDelivery>[1] },
        ])
      ).finished.has(0),
  };

  const orders: [Finish, Finish, string][] = [
    ['delivered', 'dead', 'dead'],
    ['dead', 'delivered', 'dead'],
    ['delivered', 'delivered', 'delivered'],
    ['dead', 'dead', 'dead'],
  ];

  describe.each(Object.keys(paths) as (keyof typeof paths)[])('finished %s', (path) => {
    // The statement with the consents' check finishes accepted sends only.
    const ofPath = path === 'checked' ? orders.filter(([a, b]) => a === 'delivered' && b === 'delivered') : orders;
    it.each(ofPath)('gm0226 %s, then gm0344 %s: decided in between, then %s', async (first, second, final) => {
      const { inboxId, deliveries } = await eventToTwo();
      expect(await paths[path](finishOf(inboxId, deliveries[0], 'gm0226', first))).toBe(true);
      // The other delivery still waits: the event is under way.
      expect((await stateOf(inboxId)).state).toBe('decided');
      expect((await getHistory(db(), inboxId)).map((h) => h.state)).toEqual([]);

      expect(await paths[path](finishOf(inboxId, deliveries[1], 'gm0344', second))).toBe(true);
      const ended = await stateOf(inboxId);
      expect(ended.state).toBe(final);
      // A dead letter's reason names the destination that refused it, whichever finished last.
      const named = second === 'dead' ? 'gm0344' : first === 'dead' ? 'gm0226' : undefined;
      if (named) {
        expect(ended.state_reason).toMatch(new RegExp(`^${named}: HTTP 422`));
      }
      expect((await getHistory(db(), inboxId)).map((h) => h.state)).toEqual([final]);
    });
  });

  it('the same when both finish at once, each in its own transaction: the one that commits last moves it', async () => {
    for (const [first, second, final] of orders) {
      const { inboxId, deliveries } = await eventToTwo();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let firstDone!: () => void;
      const firstFinished = new Promise<void>((resolve) => (firstDone = resolve));
      const one = db().transaction(async (tx) => {
        await finishDelivery(tx, finishOf(inboxId, deliveries[0], 'gm0226', first) as never);
        firstDone();
        await held; // not committed yet while the other finishes
      });
      await firstFinished;
      let otherDone = false;
      const other = finishDelivery(db(), finishOf(inboxId, deliveries[1], 'gm0344', second) as never).then((r) => {
        otherDone = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(otherDone).toBe(false); // it waits for the first's commit, then reads its outcome
      release();
      await one;
      expect(await other).toBe(true);
      expect({ order: [first, second], state: (await stateOf(inboxId)).state }).toEqual({
        order: [first, second],
        state: final,
      });
    }
  });
});
