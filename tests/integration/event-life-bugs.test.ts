import { Queue } from 'bullmq';
import pg from 'pg';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { genericJsonDialect } from '../../mappings/his/generic-json/index';
import type { PipelineContext } from '../../src/event/context';
import { ingestRecords } from '../../src/event/receive';
import { reconcileOnce } from '../../src/event/reconciler';
import { mapJobId } from '../../src/event/queues';
import { eventReceived } from '../../src/audit/audit-events';
import { insertEvent } from '../../src/event/event-store';
import { referralIdentifierOf } from '../../src/event/referral-identifier';
import { contentDigest, sealEvent } from '../../src/event/stored-event';
import { randomUUID } from 'node:crypto';

const ACTOR = { userId: 'api-key:practice', accessPoint: 'test' };

// Faults on the event's path, each reproduced through the public API and the database alone, so the same
// file shows them on the code before the fix and their absence after it.

interface EventView {
  state: string;
  stateReason: string | null;
  history: { state: string; reason: string | null }[];
  deliveries: { id: string; state: string; attempts: number; lastError: string | null }[];
}

describe('an event whose delivery cannot go on ends, and says why', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let db: pg.Client;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    db = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${app.testEnv.schema}` });
    await db.connect();
  });

  afterAll(async () => {
    await db.end();
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  beforeEach(() => {
    receiver.mode = { kind: 'ok' };
  });

  const view = async (id: string) => (await (await app.request(`/his/v1/events/${id}`)).json()) as EventView;
  const reaches = (id: string, done: (v: EventView) => boolean, what: string) =>
    waitFor(`event ${id} ${what}`, async () => {
      const v = await view(id);
      return done(v) ? v : undefined;
    });

  async function submit(): Promise<string> {
    const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
    expect(res.status).toBe(202);
    return ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
  }

  /** Removes what retention removes: the encrypted event (whichever columns hold it). */
  async function purgeContent(inboxId: string, value: 'null' | 'garbage'): Promise<void> {
    const cols = await db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'inbox'
         AND data_type = 'bytea'`,
      [app.testEnv.schema],
    );
    for (const { column_name } of cols.rows) {
      await db.query(
        `UPDATE inbox SET ${column_name} = ${value === 'null' ? 'NULL' : `'\\x00ff00ff'::bytea`} WHERE id = $1`,
        [inboxId],
      );
    }
  }

  async function pause(destination: string): Promise<void> {
    const res = await app.request(`/admin/v1/destinations/${destination}/pause`, { key: 'operator', json: {} });
    expect(res.status).toBe(200);
  }

  async function resume(destination: string): Promise<void> {
    const res = await app.request(`/admin/v1/destinations/${destination}/resume`, { key: 'operator', json: {} });
    expect(res.status).toBe(200);
  }

  async function deliverJob(destination: string, deliveryId: string) {
    const queue = new Queue(`deliver.${destination}`, {
      connection: { url: TEST_REDIS_URL },
      prefix: app.testEnv.prefix,
    });
    try {
      return await queue.getJob(`deliver-${deliveryId}-0`);
    } finally {
      await queue.close();
    }
  }

  /** A referral decided while its destination is paused, so its delivery waits for the test to act first. */
  async function decidedWhilePaused(): Promise<{ destination: string; id: string; deliveryId: string }> {
    const destination = app.rt.ctx.registry.destinations[0]!.id;
    receiver.hits.length = 0;
    await pause(destination);
    const id = await submit();
    const decided = await reaches(id, (v) => v.state === 'decided', 'to be decided');
    return { destination, id, deliveryId: decided.deliveries[0]!.id };
  }

  const becomesDead = (id: string) =>
    reaches(id, (v) => v.state === 'dead' && v.deliveries[0]?.state === 'dead', 'to become a dead letter');

  /**
   * The audit trail of the event, in the order it was written: type/subtype of each AuditEvent naming it, but for
   * this test's own reads of it (`rest/read`).
   */
  const auditOf = async (inboxId: string) =>
    (
      await db.query<{ kind: string }>(
        `SELECT type || '/' || coalesce(subtype, '') AS kind FROM audit_event WHERE $1 = ANY(entities)
         ORDER BY recorded, seq`,
        [`inbox/${inboxId}`],
      )
    ).rows
      .map((r) => r.kind)
      .filter((kind) => kind !== 'rest/read');

  /**
   * Stores the event as a request does, but its audit writer fails after the inbox row committed (PostgreSQL went
   * down, or the process stopped, right then): the request fails, so the practice is answered 503 or not at all.
   * Returns the inbox id of the stored row.
   */
  async function storedWithoutReceipt(event: ReturnType<typeof buildReferralEvent>): Promise<string> {
    const down = { ...app.rt.ctx, audit: { append: () => Promise.reject(new Error('connect ECONNREFUSED')) } };
    await expect(
      ingestRecords(down as unknown as PipelineContext, genericJsonDialect, [{ value: event, location: '' }], ACTOR),
    ).rejects.toThrow('ECONNREFUSED');
    const rows = await db.query<{ id: string }>('SELECT id FROM inbox WHERE source_event_id = $1', [event.eventId]);
    expect(rows.rows).toHaveLength(1);
    return rows.rows[0]!.id;
  }

  it('audits the receipt on the retry when the process stopped between storing an event and auditing it', async () => {
    const event = buildReferralEvent();
    // The first request stores the event, then its audit writer fails, as when the process stops right there.
    const id = await storedWithoutReceipt(event);
    const receiptsOf = async (inboxId: string) =>
      (
        await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_event WHERE action = 'C' AND $1 = ANY(entities)`,
          [`inbox/${inboxId}`],
        )
      ).rows[0]!.n;
    expect(await receiptsOf(id)).toBe(0);

    // The practice, having had no answer, sends it again: accepted now (it was not before), with the id the event was
    // stored under, and its receipt audited now, once; a third send is a duplicate.
    const again = await app.request('/his/v1/events', { json: event });
    expect(((await again.json()) as { receipts: { status: string; id: string }[] }).receipts[0]).toEqual(
      expect.objectContaining({ status: 'accepted', id }),
    );
    expect(await receiptsOf(id)).toBe(1);
    const third = await app.request('/his/v1/events', { json: event });
    expect(((await third.json()) as { receipts: { status: string }[] }).receipts[0]!.status).toBe('duplicate');
    expect(await receiptsOf(id)).toBe(1);
    await reaches(id, (v) => v.state === 'delivered', 'to be delivered');
  });

  it('stores the referral identifier also when an event is inserted on its own (a group member alone)', async () => {
    const record = { value: buildReferralEvent(), location: '' };
    const event = genericJsonDialect.map(record);
    const identifier = referralIdentifierOf(event);
    expect(identifier).toBeDefined();
    const stored = await insertEvent(app.rt.ctx.db, {
      id: randomUUID(),
      tenant: event.practice.agb,
      sourceEventId: event.sourceEventId,
      dialect: genericJsonDialect.name,
      eventType: event.eventType,
      municipality: event.municipalityCode,
      ...sealEvent(app.rt.ctx.cipher, { dialect: genericJsonDialect.name, record }, event),
      traceId: 'test',
      contentDigest: contentDigest(record.value),
      recordsObjection: false,
      referralIdentifier: identifier,
    });
    expect(stored).toEqual(expect.objectContaining({ duplicate: false, conflict: false }));
    const rows = await db.query('SELECT system, value FROM referral_identifier WHERE inbox_id = $1', [stored.id]);
    expect(rows.rows).toEqual([{ system: identifier!.system, value: identifier!.value }]);
  });

  it('refuses to replay a dead letter whose event retention removed, and leaves it dead', async () => {
    receiver.mode = { kind: 'status', status: 422, body: 'not ours' };
    const id = await submit();
    const dead = await reaches(id, (v) => v.state === 'dead', 'to become a dead letter');
    const deliveryId = dead.deliveries[0]!.id;
    await purgeContent(id, 'null');
    receiver.mode = { kind: 'ok' };

    const replay = await app.request(`/admin/v1/dead-letters/${deliveryId}/replay`, { key: 'operator', json: {} });
    expect(replay.status).toBe(409);
    expect(JSON.stringify(await replay.json())).toContain('payload purged');
    // Nothing was revived: the delivery stays a dead letter, so no reconciler round picks it up again.
    const after = await view(id);
    expect(after.state).toBe('dead');
    expect(after.deliveries[0]!.state).toBe('dead');
    const pending = await db.query(`SELECT 1 FROM delivery WHERE id = $1 AND state = 'pending'`, [deliveryId]);
    expect(pending.rowCount).toBe(0);

    // "Replay all" leaves it too, and no longer counts it as remaining (a client calling again until `remaining`
    // was 0 never got there): listed as purged, counted under `skipped` with why.
    const all = await app.request('/admin/v1/dead-letters/replay', { key: 'operator', json: {} });
    expect(all.status).toBe(202);
    const answer = (await all.json()) as {
      replayed: string[];
      remaining: number;
      purged?: string[];
      skipped?: { reason: string; count: number; details: string }[];
    };
    expect(answer.replayed).not.toContain(deliveryId);
    expect(answer.purged).toContain(deliveryId);
    expect(answer.remaining).toBe(0);
    expect(answer.skipped).toContainEqual({
      reason: 'purged',
      count: answer.purged?.length,
      details: expect.stringContaining('payload purged'),
    });
  });

  it('makes a stored event that cannot be read a dead letter at once, without retrying it', async () => {
    const { destination, id, deliveryId } = await decidedWhilePaused();
    try {
      await purgeContent(id, 'garbage');
      await resume(destination);
      const dead = await becomesDead(id);
      expect(dead.state).toBe('dead');
      expect(dead.deliveries[0]!.lastError).toMatch(/cannot be read/);
      const job = await deliverJob(destination, deliveryId);
      // One attempt: a permanent problem is not retried as if it were transient.
      expect(job?.attemptsMade).toBe(1);
      expect(receiver.hits).toHaveLength(0);
    } finally {
      await resume(destination).catch(() => undefined);
    }
  });

  it('ends a delivery as a dead letter when its last attempt fails before sending', async () => {
    const { destination, id, deliveryId } = await decidedWhilePaused();
    // The decision before sending reads the consent registry: without it, every attempt fails before the send.
    await db.query('ALTER TABLE consent RENAME TO consent_away');
    try {
      await resume(destination);
      const dead = await becomesDead(id);
      expect(dead.state).toBe('dead');
      expect(dead.stateReason).toMatch(/retries exhausted/);
      const job = await deliverJob(destination, deliveryId);
      expect(job?.attemptsMade).toBe(Number(app.testEnv.env.DELIVERY_MAX_ATTEMPTS));
      expect(receiver.hits).toHaveLength(0);
    } finally {
      await db.query('ALTER TABLE consent_away RENAME TO consent');
    }
  });

  // An event stored whose receipt AuditEvent was never written (PostgreSQL went away between the two, or the process
  // stopped) was answered 503, or not at all: the practice was not told it was accepted. The reconciler must not
  // process it on its own; the practice's resend records the receipt, and only then does it go on.
  describe('without its receipt on record', () => {
    beforeEach(() => {
      receiver.hits.length = 0;
    });

    /** An event held for want of its receipt, whose receipt is recorded afterwards, with no map job queued then. */
    async function heldThenReceipted(): Promise<string> {
      const event = buildReferralEvent();
      const id = await storedWithoutReceipt(event);
      await reconcileOnce(app.rt.ctx, 0);
      expect((await view(id)).state).toBe('unacknowledged');
      const mapped = genericJsonDialect.map({ value: event, location: '' });
      await app.rt.ctx.audit.append(
        mapped.practice.agb,
        eventReceived({ actor: ACTOR, inboxId: id, eventType: mapped.eventType, patientBsn: mapped.patient.bsn }),
      );
      return id;
    }

    /** Lets the workers run for a while: long enough to map, decide and deliver an event several times over. */
    const settle = () => new Promise((r) => setTimeout(r, 1500));

    it('is held by the reconciler, not delivered, and goes out once after the practice sends it again', async () => {
      const event = buildReferralEvent();
      const id = await storedWithoutReceipt(event);
      expect(await auditOf(id)).toEqual([]);

      // The reconciler finds the stored event without a map job, and every round after it too.
      await reconcileOnce(app.rt.ctx, 0);
      await settle();
      await reconcileOnce(app.rt.ctx, 0);
      await settle();

      const held = await view(id);
      expect(held.state).toBe('unacknowledged');
      expect(held.stateReason).toMatch(/not acknowledged/);
      expect(held.history.map((h) => h.state)).toEqual(['received', 'unacknowledged']);
      expect(await app.rt.ctx.queues.map.getJob(mapJobId(id))).toBeUndefined();
      expect(receiver.hits).toHaveLength(0);
      // Not mapped, not decided, not disclosed: no AuditEvent names it, the receipt included.
      expect(await auditOf(id)).toEqual([]);

      // The practice, told 503, sends it again: now it is accepted (the first answer was not), with the same id.
      const again = await app.request('/his/v1/events', { json: event });
      expect(again.status).toBe(202);
      expect(((await again.json()) as { receipts: { status: string; id: string }[] }).receipts).toEqual([
        expect.objectContaining({ status: 'accepted', id }),
      ]);
      await waitFor('the resent event to be delivered', async () => (await view(id)).state === 'delivered');
      expect(receiver.hits).toHaveLength(1);
      const after = await view(id);
      expect(after.history.map((h) => h.state)).toEqual([
        'received',
        'unacknowledged',
        'received',
        'mapped',
        'decided',
        'delivered',
      ]);
      // The receipt (who submitted it) is on record before anything else happened to the event.
      const trail = await auditOf(id);
      expect(trail[0]).toBe('rest/create');
      expect(trail.filter((k) => k === 'rest/create')).toHaveLength(1);
      expect(trail.slice(1)).toContain('110106/disclose');

      // A third send is a plain duplicate: no second receipt, no second delivery.
      const third = await app.request('/his/v1/events', { json: event });
      expect(((await third.json()) as { receipts: { status: string }[] }).receipts[0]!.status).toBe('duplicate');
      await settle();
      expect(receiver.hits).toHaveLength(1);
      expect((await auditOf(id)).filter((k) => k === 'rest/create')).toHaveLength(1);
    });

    it('goes on when its receipt is recorded after it was held, though no map job was queued then', async () => {
      // As when the resend's receipt committed but Redis did not take its map job, or the first request's audit
      // committed just after a reconciler round held the event.
      const id = await heldThenReceipted();

      await reconcileOnce(app.rt.ctx, 0);

      await waitFor('the acknowledged event to be delivered', async () => (await view(id)).state === 'delivered');
      expect(receiver.hits).toHaveLength(1);
    });

    it('goes on at once when a map job comes for it after it was held', async () => {
      // The first request's audit committed just after the reconciler held the event, and the request then queued
      // its map job as usual.
      const id = await heldThenReceipted();

      await app.rt.ctx.queues.enqueueMap([{ inboxId: id, traceId: 'late-receipt' }]);

      await waitFor('the acknowledged event to be delivered', async () => (await view(id)).state === 'delivered');
      expect(receiver.hits).toHaveLength(1);
    });
  });
});
