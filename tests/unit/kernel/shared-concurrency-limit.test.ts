import { Redis } from 'ioredis';
import { createRedisClient } from '../../../src/kernel/redis-client';
import { SharedConcurrencyLimit } from '../../../src/kernel/shared-concurrency-limit';
import { newQueuePrefix, TEST_REDIS_URL } from '../../helpers/test-runtime';
import { waitFor } from '../../helpers/wait-for';

/** A task that runs until `finish` is called. */
function held(): { task: () => Promise<string>; finish: (v: string) => void; started: () => boolean } {
  let finish: (v: string) => void = () => undefined;
  let started = false;
  const task = () =>
    new Promise<string>((resolve) => {
      started = true;
      finish = resolve;
    });
  return { task, finish: (v) => finish(v), started: () => started };
}

const refuse = () => new Error('refused');

// The slots are counted in Redis; while it does not answer nothing can be counted across processes, so a report is
// refused at once (the caller's 503 with Retry-After) instead of being computed beyond the limit or left waiting.
describe('SharedConcurrencyLimit while Redis does not answer', () => {
  const redis = new Redis('redis://127.0.0.1:9', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);

  afterAll(() => redis.disconnect());

  it('refuses the task as redis-unavailable without starting it', async () => {
    const limit = new SharedConcurrencyLimit(redis, '{opsfix}:slots', 1, 2);
    let started = false;
    const refusals: string[] = [];
    await expect(
      limit.run(
        () => {
          started = true;
          return Promise.resolve(1);
        },
        (why) => {
          refusals.push(why);
          return new Error(why);
        },
      ),
    ).rejects.toThrow('redis-unavailable');
    expect(started).toBe(false);
    expect(refusals).toEqual(['redis-unavailable']);
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
  });
});

// Moved from concurrency-limit.test.ts with the in-process limit it tested, which this one replaced: the same
// behaviour, the slots now counted in the tests' Redis under a key of this file's own.
describe('SharedConcurrencyLimit on Redis', () => {
  const redis = new Redis(TEST_REDIS_URL);
  const key = `${newQueuePrefix()}:slots`;
  const times = { slotMs: 10_000, waitMs: 5_000, retryMs: 10 };

  afterAll(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it('runs up to max at once, lets maxWaiting wait, refuses the next without starting it, and runs the waiting in turn', async () => {
    const limit = new SharedConcurrencyLimit(redis, key, 1, 1, times);
    const first = held();
    const second = held();
    const third = held();
    const a = limit.run(first.task, refuse);
    await waitFor('the first task to start', () => first.started());
    const b = limit.run(second.task, refuse);
    await waitFor('the second task to wait', () => limit.waiting === 1);
    await expect(limit.run(third.task, refuse)).rejects.toThrow('refused');
    expect(third.started()).toBe(false);
    expect([limit.running, limit.waiting]).toEqual([1, 1]);
    expect(second.started()).toBe(false);
    first.finish('a');
    await expect(a).resolves.toBe('a');
    // The waiting one was handed the slot (it asks Redis every retryMs).
    await waitFor('the waiting task to start', () => second.started());
    expect([limit.running, limit.waiting]).toEqual([1, 0]);
    second.finish('b');
    await expect(b).resolves.toBe('b');
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a task that fails', async () => {
    const limit = new SharedConcurrencyLimit(redis, key, 1, 0, times);
    await expect(limit.run(() => Promise.reject(new Error('boom')), refuse)).rejects.toThrow('boom');
    expect(limit.running).toBe(0);
    await expect(limit.run(() => Promise.resolve(1), refuse)).resolves.toBe(1);
  });
});

// A slot expired after `slotMs` whatever its task did: a report running longer than that freed it, and one more
// started beyond MONITORING_REPORT_CONCURRENCY. redis-semaphore now renews it while the task runs.
describe('SharedConcurrencyLimit with a task running longer than a slot lives', () => {
  const key = `${newQueuePrefix()}:slots`;
  const times = { slotMs: 800, waitMs: 200, retryMs: 10 };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const cleanup = new Redis(TEST_REDIS_URL);

  beforeAll(() => process.on('unhandledRejection', onUnhandled));

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await cleanup.del(key, `semaphore:${key}`);
    cleanup.disconnect();
  });

  it('keeps its slot for as long as it runs, so no other task starts beyond the limit', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const limit = new SharedConcurrencyLimit(redis, key, 1, 0, times);
      const long = held();
      const running = limit.run(long.task, refuse);
      await waitFor('the long task to start', () => long.started());
      // Four lifetimes of a slot: without renewal it expired long ago, and a second task would start here.
      await sleep(4 * times.slotMs);
      let second = false;
      await expect(
        limit.run(() => {
          second = true;
          return Promise.resolve(2);
        }, refuse),
      ).rejects.toThrow('refused');
      expect(second).toBe(false);
      long.finish('long');
      await expect(running).resolves.toBe('long');
      // Released when it ended: the next one starts at once.
      await expect(limit.run(() => Promise.resolve(3), refuse)).resolves.toBe(3);
      expect(unhandled).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('keeps its slot when a renewal finds Redis away for a moment, without an unhandled rejection', async () => {
    // As runtime.ts makes it for an API process: fail-fast, so a renewal while disconnected fails at once.
    const redis = createRedisClient(
      { REDIS_TLS: false },
      { kind: 'standalone', url: TEST_REDIS_URL },
      { failFast: true, autoPipelining: true },
    );
    redis.on('error', () => undefined);
    const other = new Redis(TEST_REDIS_URL);
    try {
      await new Promise((resolve) => redis.once('ready', resolve));
      const limit = new SharedConcurrencyLimit(redis, key, 1, 0, times);
      const long = held();
      const running = limit.run(long.task, refuse);
      await waitFor('the long task to start', () => long.started());
      // Away for less than a slot's life: at least one renewal fails meanwhile.
      redis.disconnect();
      await sleep(times.slotMs / 2);
      await redis.connect();
      await sleep(2 * times.slotMs);
      // Another process on the same key still finds the one slot taken.
      const elsewhere = new SharedConcurrencyLimit(other, key, 1, 0, times);
      await expect(elsewhere.run(() => Promise.resolve(2), refuse)).rejects.toThrow('refused');
      long.finish('long');
      await expect(running).resolves.toBe('long');
      // Released on its own connection, after the task's answer: the other process sees it a moment later.
      await waitFor('the slot to be released', async () => (await other.zcard(`semaphore:${key}`)) === 0);
      await expect(elsewhere.run(() => Promise.resolve(3), refuse)).resolves.toBe(3);
      expect(unhandled).toEqual([]);
    } finally {
      redis.disconnect();
      other.disconnect();
    }
  });

  it('tells when a running task lost its slot (removed in Redis, or every renewal missed), and the task finishes', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const other = new Redis(TEST_REDIS_URL);
    try {
      let lost = 0;
      const limit = new SharedConcurrencyLimit(redis, key, 1, 0, times, () => lost++);
      const long = held();
      const running = limit.run(long.task, refuse);
      await waitFor('the long task to start', () => long.started());
      await other.del(`semaphore:${key}`);
      await waitFor('the lost slot to be told', () => lost === 1);
      long.finish('long');
      await expect(running).resolves.toBe('long');
      expect(lost).toBe(1);
      expect(unhandled).toEqual([]);
    } finally {
      redis.disconnect();
      other.disconnect();
    }
  });
});
