import { Redis } from 'ioredis';
import { SharedConcurrencyLimit } from '../../../src/kernel/shared-concurrency-limit';

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
