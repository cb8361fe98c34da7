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

  it('keeps at most a bounded number of events handed on: the oldest are opened again', async () => {
    const ids = await receive(300);
    for (const id of ids) {
      expect(await map(id)).toBe('decided');
    }
    const opened = jest.spyOn(stage.app.rt.ctx.cipher, 'decrypt');
    try {
      // The first mapped is no longer held (256 are): its delivery opens its event; the last mapped's does not.
      expect(await deliver(await workOf(ids[0]!))).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
      expect(await deliver(await workOf(ids[ids.length - 1]!))).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
    } finally {
      opened.mockRestore();
    }
  });
});
