import type { Job } from 'bullmq';
import { processDeliverJob } from '../../src/event/deliver';
import { processMapJob } from '../../src/event/map';
import type { DeliverJobData } from '../../src/event/queues';
import { openEvent, openEventOnce } from '../../src/event/stored-event';
import { getDeliveryWorks, type DeliveryWork } from '../../src/event/event-store';
import { useStageApp } from '../helpers/stage-app';

// The map stage hands the event it opened on to the deliver stage of the same process (stored-event.ts,
// `handOnEvent`), so a delivery's job does not decrypt and parse the event again. These tests call the stages directly
// (ROLE=api: no worker takes the jobs), as stage-groups.test.ts does.

describe('the event the map stage opened, handed on to its delivery', () => {
  const stage = useStageApp();
  const { receive } = stage;

  const map = (inboxId: string) => processMapJob(stage.app.rt.ctx, { inboxId, traceId: 'handed-on-test' });

  async function workOf(inboxId: string): Promise<DeliveryWork> {
    const [d] = await stage.app.rt.ctx.db.query<{ id: string }>('SELECT id FROM delivery WHERE inbox_id = $1', [
      inboxId,
    ]);
    const [work] = await getDeliveryWorks(stage.app.rt.ctx.db, [d!.id]);
    return work!;
  }

  const deliver = (work: DeliveryWork) =>
    processDeliverJob(stage.app.rt.ctx, {
      data: { deliveryId: work.id, traceId: 'handed-on-test' },
    } as Job<DeliverJobData>);

  it('hands on the event as stored: what the map stage opened, unchanged by it', async () => {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    const work = await workOf(id!);
    const { cipher } = stage.app.rt.ctx;
    const opened = jest.spyOn(cipher, 'decrypt');
    let handedOn;
    try {
      handedOn = openEventOnce(cipher, work);
      expect(opened).not.toHaveBeenCalled();
    } finally {
      opened.mockRestore();
    }
    // What the delivery's own row holds, opened fresh: the map stage changed nothing in the event it handed on.
    expect(handedOn).toEqual(openEvent(cipher, work));
  });

  it('delivers without opening the event again', async () => {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    const work = await workOf(id!);
    const opened = jest.spyOn(stage.app.rt.ctx.cipher, 'decrypt');
    try {
      expect(await deliver(work)).toBe('delivered');
      expect(opened).not.toHaveBeenCalled();
    } finally {
      opened.mockRestore();
    }
    expect(stage.receiver.stored.has(work.idempotency_key)).toBe(true);
  });

  it('hands an event on once: a second reading of the delivery opens the event itself', async () => {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    // Two reads of the delivery's row, as a job and its retry make.
    const [first, second] = [await workOf(id!), await workOf(id!)];
    const { cipher } = stage.app.rt.ctx;
    const opened = jest.spyOn(cipher, 'decrypt');
    try {
      const taken = openEventOnce(cipher, first);
      expect(opened).not.toHaveBeenCalled();
      const own = openEventOnce(cipher, second);
      expect(opened).toHaveBeenCalledTimes(1);
      // Not shared: the second has an event of its own, equal to the first.
      expect(own).not.toBe(taken);
      expect(own).toEqual(taken);
    } finally {
      opened.mockRestore();
    }
  });

  it('opens the stored event when it is no longer the one the map stage opened (a remap sealed it again)', async () => {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    // The canonical event sealed again (as remap.ts does): other bytes, so what was handed on does not serve.
    const { cipher, db } = stage.app.rt.ctx;
    const before = await workOf(id!);
    const resealed = cipher.encrypt(openEvent(cipher, before));
    await db.query('UPDATE inbox SET canonical = $2, canonical_key_id = $3 WHERE id = $1', [
      id,
      resealed.data,
      resealed.keyId,
    ]);
    const work = await workOf(id!);
    const opened = jest.spyOn(cipher, 'decrypt');
    try {
      expect(await deliver(work)).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
    } finally {
      opened.mockRestore();
    }
  });

  const mapData = (inboxId: string) => ({ inboxId, traceId: 'handed-on-test' });

  /**
   * The stages with a cipher object of their own (the app's, copied): the events handed on are held per cipher, so
   * a test that counts them starts with none held, whatever the tests before it left.
   */
  function ownStages() {
    const ctx = { ...stage.app.rt.ctx, cipher: { ...stage.app.rt.ctx.cipher } };
    return {
      opened: () => jest.spyOn(ctx.cipher, 'decrypt'),
      map: (inboxId: string) => processMapJob(ctx, mapData(inboxId)),
      deliver: async (inboxId: string) =>
        processDeliverJob(ctx, {
          data: { deliveryId: (await workOf(inboxId)).id, traceId: 'handed-on-test' },
        } as Job<DeliverJobData>),
      /**
       * Maps `ids` 64 at a time (their statements grouped, as under load), each 64 after those before: the first four
       * 64s are the 256 held, whatever the order within a 64.
       */
      mapInSixtyFours: async (ids: readonly string[]) => {
        for (let i = 0; i < ids.length; i += 64) {
          const mapped = await Promise.all(ids.slice(i, i + 64).map((id) => processMapJob(ctx, mapData(id))));
          expect(mapped.every((m) => m === 'decided')).toBe(true);
        }
      },
    };
  }

  it('keeps at most a bounded number of events handed on: those mapped while it is full are opened again', async () => {
    const own = ownStages();
    const ids = await receive(300);
    await own.mapInSixtyFours(ids);
    const opened = own.opened();
    try {
      // 256 are held, the first mapped: the last mapped's delivery opens its event; the first mapped's does not.
      expect(await own.deliver(ids[ids.length - 1]!)).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
      expect(await own.deliver(ids[0]!)).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
    } finally {
      opened.mockRestore();
    }
  }, 120_000);

  it('serves deliveries taken in the order mapped while more are mapped, more of them waiting than are held', async () => {
    // The deliver queue takes the oldest deliveries while the map stage adds new ones behind them: the events held
    // must be those delivered next, or (when the newest push out the oldest) every delivery opens its event again.
    const own = ownStages();
    const ids = await receive(330);
    await own.mapInSixtyFours(ids.slice(0, 300));
    const opened = own.opened();
    try {
      // The map stage opens each event it maps; what is counted is what the deliveries opened.
      let openedByDeliveries = 0;
      for (let i = 0; i < 30; i++) {
        const before = opened.mock.calls.length;
        expect(await own.deliver(ids[i]!)).toBe('delivered');
        openedByDeliveries += opened.mock.calls.length - before;
        expect(await own.map(ids[300 + i]!)).toBe('decided');
      }
      expect(openedByDeliveries).toBe(0);
      expect(opened).toHaveBeenCalledTimes(30);
    } finally {
      opened.mockRestore();
    }
  }, 120_000);
});
