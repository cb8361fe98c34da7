import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  flushAcceptedSendDrops,
  forgetAcceptedSend,
  rememberAcceptedSend,
  tryGetAcceptedSend,
  type AcceptedSend,
} from '../../src/event/accepted-sends';
import { QueueSet } from '../../src/event/queues';
import { deleteQueueKeys, newQueuePrefix, TEST_REDIS_URL } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// The note behind "sent once means sent once" (src/event/accepted-sends.ts), on the real Redis: the notes that many
// deliver jobs write, read and drop at the same moment travel together, and each job still sees only its own.

const note = (i: number): AcceptedSend => ({
  status: 200 + (i % 3),
  at: new Date(Date.UTC(2026, 11, 4, 12, 0, i % 60)).toISOString(),
  purpose: 'referral',
  resources: [`Patient/p-${i}`, `ServiceRequest/sr-${i}`],
  agreement: { id: 'agreement-1', version: 1 },
  consentIds: i % 2 === 0 ? [`consent-${i}`] : [],
  audited: i % 4 === 0,
});

describe('accepted-send notes', () => {
  const prefix = newQueuePrefix();
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queues = new QueueSet(redis, prefix, [], 3);
  const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);

  // Connected before the first timed read: on a busy machine the connection alone took more than the 1 s a read is
  // given, and the read failed as if Redis did not answer.
  beforeAll(async () => {
    await redis.ping();
  });

  afterAll(async () => {
    await queues.close();
    await deleteQueueKeys(prefix);
    redis.disconnect();
  });

  /** Counts the commands sent on the queue set's Redis client (BullMQ's proxy forwards to it) while `fn` runs. */
  async function countingCommands(fn: () => Promise<unknown>): Promise<number> {
    const spy = jest.spyOn(redis, 'sendCommand');
    try {
      await fn();
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  it('has no note for a delivery the receiver never accepted', async () => {
    await expect(tryGetAcceptedSend(queues, 'never-sent')).resolves.toBeUndefined();
  });

  it('gives each of many deliveries noted at once its own note back, and forgets each', async () => {
    const writes = await countingCommands(() =>
      Promise.all(keys.map((k, i) => rememberAcceptedSend(queues, k, note(i)))),
    );
    // Written in groups, not one command each.
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThan(keys.length / 4);

    await expect(Promise.all(keys.map((k) => tryGetAcceptedSend(queues, k)))).resolves.toEqual(
      keys.map((_, i) => note(i)),
    );
    // Kept for 30 days, as before: longer than any retry or reconcile could take.
    const ttl = await redis.ttl(`${prefix}:accepted:${keys[0]!}`);
    expect(ttl).toBeGreaterThan(29 * 24 * 3600);

    keys.slice(0, 30).forEach((k) => forgetAcceptedSend(queues, k));
    const after = await Promise.all(keys.map((k) => tryGetAcceptedSend(queues, k)));
    expect(after.slice(0, 30)).toEqual(keys.slice(0, 30).map(() => undefined));
    expect(after.slice(30)).toEqual(keys.slice(30).map((_, i) => note(i + 30)));
  });

  it('one note Redis refuses fails alone: the rest of its group is answered command by command', async () => {
    const good = ['alone-0', 'alone-1', 'alone-2'];
    await Promise.all(good.map((k, i) => rememberAcceptedSend(queues, k, note(i))));
    // A key of another type under a note's name: GET on it fails with WRONGTYPE, and so does the group's script.
    await redis.hset(`${prefix}:accepted:alone-bad`, 'field', 'value');
    const results = await Promise.allSettled([...good, 'alone-bad'].map((k) => tryGetAcceptedSend(queues, k)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect(results.slice(0, 3).map((r) => (r as PromiseFulfilledResult<AcceptedSend | undefined>).value)).toEqual(
      good.map((_, i) => note(i)),
    );
    expect(String((results[3] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
  });

  it('answers reads, writes and drops of different deliveries made in the same moment, each as its own', async () => {
    await rememberAcceptedSend(queues, 'mixed-a', note(1));
    await rememberAcceptedSend(queues, 'mixed-c', note(3));
    // One delivery marks its note audited while another writes its own and a third drops its own.
    forgetAcceptedSend(queues, 'mixed-c');
    await Promise.all([
      rememberAcceptedSend(queues, 'mixed-a', { ...note(1), audited: true }),
      rememberAcceptedSend(queues, 'mixed-b', note(2)),
    ]);
    const [a, b, c] = await Promise.all(['mixed-a', 'mixed-b', 'mixed-c'].map((k) => tryGetAcceptedSend(queues, k)));
    expect(a).toEqual({ ...note(1), audited: true });
    expect(b).toEqual(note(2));
    expect(c).toBeUndefined();
  });

  it('sends a drop with the next note command, not as a round trip of its own', async () => {
    await rememberAcceptedSend(queues, 'recorded', note(1));
    const commands = await countingCommands(async () => {
      // One delivery is recorded, and a moment later the next reads its note, as at a steady rate.
      forgetAcceptedSend(queues, 'recorded');
      await sleep(20);
      await expect(tryGetAcceptedSend(queues, 'next-delivery')).resolves.toBeUndefined();
    });
    expect(commands).toBe(1);
    expect(await redis.exists(`${prefix}:accepted:recorded`)).toBe(0);
  });

  it('sends a drop on its own when no other note command follows, and at once when shutdown asks', async () => {
    await rememberAcceptedSend(queues, 'last-one', note(1));
    forgetAcceptedSend(queues, 'last-one');
    await waitFor('the drop', async () => (await redis.exists(`${prefix}:accepted:last-one`)) === 0, 10_000);

    await rememberAcceptedSend(queues, 'at-shutdown', note(2));
    forgetAcceptedSend(queues, 'at-shutdown');
    await flushAcceptedSendDrops(queues);
    expect(await redis.exists(`${prefix}:accepted:at-shutdown`)).toBe(0);
  });

  it('reads a note that does not parse as no note, without failing the reads grouped with it', async () => {
    await redis.set(`${prefix}:accepted:garbled`, JSON.stringify({ status: 'two hundred' }));
    await rememberAcceptedSend(queues, 'beside-garbled', note(5));
    const [garbled, beside] = await Promise.all([
      tryGetAcceptedSend(queues, 'garbled'),
      tryGetAcceptedSend(queues, 'beside-garbled'),
    ]);
    expect(garbled).toBeUndefined();
    expect(beside).toEqual(note(5));
  });
});
