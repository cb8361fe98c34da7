import { Redis } from 'ioredis';
import { SharedConcurrencyLimit } from '../../../src/kernel/shared-concurrency-limit';
import { randomLetters, TEST_REDIS_URL } from '../../helpers/test-runtime';
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
  const key = `{t${randomLetters(10)}}:slots`;
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
