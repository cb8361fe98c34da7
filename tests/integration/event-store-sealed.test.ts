import { randomUUID } from 'node:crypto';
import {
  decideAndCreateDelivery,
  getDeliveryWorks,
  getSealedEvents,
  insertEvents,
  tryGetSealedEvent,
  type NewEventWithIdentifier,
} from '../../src/event/event-store';
import { bytesArray, TEXT_OID } from '../../src/kernel/binary-array';
import { PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

/**
 * The inbox's encrypted columns as the event store writes and reads them: sent to PostgreSQL as binary arrays, stored
 * without a compression attempt, and read by the pipeline's stages only as far as `openEvent` needs them.
 */
describe('the event store and the encrypted parts of an event', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({});
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  /** Every byte value, including those an array literal or hex text would have to escape or encode. */
  const everyByte = (offset: number): Buffer => Buffer.from(Array.from({ length: 256 }, (_, i) => (i + offset) % 256));

  function newEvent(i: number, overrides: Partial<NewEventWithIdentifier> = {}): NewEventWithIdentifier {
    return {
      id: randomUUID(),
      tenant: PRACTICE_AGB,
      sourceEventId: `sealed-${randomUUID()}`,
      dialect: 'generic-json',
      eventType: 'referral.created',
      municipality: 'GM0363',
      payload: Buffer.concat([everyByte(i), Buffer.from(`"{\\,} payload ${i}`)]),
      payloadKeyId: `k-payload-${i}`,
      canonical: Buffer.concat([everyByte(i + 7), Buffer.alloc(3000, i)]),
      canonicalKeyId: `k-canonical-${i}`,
      traceId: `trace-${i}`,
      contentDigest: `digest-${i}`,
      recordsObjection: false,
      ...overrides,
    };
  }

  it('stores the records and canonical events of a group byte for byte', async () => {
    const events = [0, 1, 2].map((i) => newEvent(i));
    const { inserted, refused } = await insertEvents(app.rt.ctx.db, events);
    expect(inserted).toEqual(new Set(events.map((e) => e.id)));
    expect(refused.size).toBe(0);
    for (const e of events) {
      const row = await tryGetSealedEvent(app.rt.ctx.db, e.id);
      expect(row).toEqual(
        expect.objectContaining({
          payload: e.payload,
          payload_key_id: e.payloadKeyId,
          canonical: e.canonical,
          canonical_key_id: e.canonicalKeyId,
        }),
      );
    }
  });

  it('stores the encrypted columns without trying to compress them (migration 016)', async () => {
    const rows = await app.rt.ctx.db.query<{ column: string; storage: string }>(
      `SELECT c.relname || '.' || a.attname AS column, a.attstorage AS storage
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relnamespace = current_schema()::regnamespace
         AND (c.relname, a.attname) IN (('inbox', 'payload'), ('inbox', 'canonical'), ('trajectory_event', 'payload'))
       ORDER BY 1`,
    );
    expect(rows).toEqual([
      { column: 'inbox.canonical', storage: 'e' },
      { column: 'inbox.payload', storage: 'e' },
      { column: 'trajectory_event.payload', storage: 'e' },
    ]);
  });

  it("gives the stages' group reads the record only of an event stored without its canonical event", async () => {
    const withCanonical = newEvent(3);
    const withoutCanonical = newEvent(4);
    await insertEvents(app.rt.ctx.db, [withCanonical, withoutCanonical]);
    // An event received before the canonical event was stored (migration 004): the stages map its record again.
    await app.rt.ctx.db.query('UPDATE inbox SET canonical = NULL, canonical_key_id = NULL WHERE id = $1', [
      withoutCanonical.id,
    ]);
    const deliveries = await Promise.all(
      [withCanonical, withoutCanonical].map((e) =>
        decideAndCreateDelivery(app.rt.ctx.db, {
          id: randomUUID(),
          inboxId: e.id,
          destination: 'sealed-test',
          idempotencyKey: randomUUID(),
          reason: 'permit',
          passing: [],
        }),
      ),
    );
    const events = await getSealedEvents(app.rt.ctx.db, [withCanonical.id, withoutCanonical.id]);
    const works = await getDeliveryWorks(
      app.rt.ctx.db,
      deliveries.map((d) => d.id),
    );
    for (const rows of [events, works]) {
      const byEvent = new Map(rows.map((r) => ['inbox_id' in r ? r.inbox_id : r.id, r]));
      expect(byEvent.get(withCanonical.id)).toEqual(
        expect.objectContaining({
          payload: null,
          payload_key_id: null,
          canonical: withCanonical.canonical,
          canonical_key_id: withCanonical.canonicalKeyId,
        }),
      );
      expect(byEvent.get(withoutCanonical.id)).toEqual(
        expect.objectContaining({
          payload: withoutCanonical.payload,
          payload_key_id: withoutCanonical.payloadKeyId,
          canonical: null,
          canonical_key_id: null,
        }),
      );
    }
    // The single-event read, which the console and the status routes use, still holds the record.
    expect(await tryGetSealedEvent(app.rt.ctx.db, withCanonical.id)).toEqual(
      expect.objectContaining({ payload: withCanonical.payload, canonical: withCanonical.canonical }),
    );
  });

  it('sends byte strings and NULLs as a binary array PostgreSQL reads as they are', async () => {
    const texts = ['plain', null, 'quote " backslash \\ brace {} comma ,', '', 'ë ü 😀', undefined];
    const [row] = await app.rt.ctx.db.query<{ same: boolean; n: number }>(
      `SELECT $1::text[] IS NOT DISTINCT FROM $2::text[] AS same, cardinality($1::text[]) AS n`,
      [bytesArray(texts, (t) => (typeof t === 'string' ? Buffer.from(t) : t), TEXT_OID), texts.map((t) => t ?? null)],
    );
    expect(row).toEqual({ same: true, n: 6 });
    const bytes = [everyByte(0), null, Buffer.alloc(0)];
    const [back] = await app.rt.ctx.db.query<{ elements: (Buffer | null)[] }>('SELECT $1::bytea[] AS elements', [
      bytesArray(bytes, (b) => b),
    ]);
    expect(back?.elements).toEqual(bytes);
  });
});
