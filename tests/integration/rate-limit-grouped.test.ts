import { randomUUID } from 'node:crypto';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { SharedRateLimiter } from '../../src/access/shared-rate-limit';
import type { TakeResult } from '../../src/access/rate-limit';
import { useRateLimitRedis } from '../helpers/rate-limit-redis';

/**
 * Takes of one caller made at the same moment go to Redis as one count (SharedRateLimiter.take). They must be answered
 * exactly as the same takes made one after the other: same verdicts, same RateLimit-* state, in order.
 */
describe('the shared rate limit counts concurrent takes of one caller together', () => {
  const redis = useRateLimitRedis();
  // One request per 100 s steadily, the rest of a burst of 6 over 600 s: no window ends during the test. Redis is
  // waited for as long as it takes: a count made in memory when a busy machine delays an answer is another test.
  const limiter = () =>
    new SharedRateLimiter(redis(), {
      ratePerSecond: 0.01,
      burst: 6,
      prefix: `{${randomUUID()}}`,
      redisAnswerMs: 60_000,
    });
  const verdicts = (results: readonly TakeResult[]) =>
    results.map((r) => ({
      allowed: r.allowed,
      remaining: r.state?.remaining,
      limit: r.state?.limit,
      retryAfter: r.allowed ? undefined : r.retryAfterSeconds > 0 && r.retryAfterSeconds <= 100,
    }));

  it('answers ten takes at once as ten in a row: six allowed counting down, four refused, in fewer Redis counts', async () => {
    const oneByOne: TakeResult[] = [];
    const sequential = limiter();
    for (let i = 0; i < 10; i++) {
      oneByOne.push(await sequential.take('caller'));
    }

    const grouped = limiter();
    const consume = jest.spyOn(RateLimiterRedis.prototype, 'consume');
    const together = await Promise.all(Array.from({ length: 10 }, async () => grouped.take('caller')));

    expect(verdicts(oneByOne)).toEqual([
      ...[5, 4, 3, 2, 1, 0].map((remaining) => ({ allowed: true, remaining, limit: 6, retryAfter: undefined })),
      ...Array.from({ length: 4 }, () => ({ allowed: false, remaining: 0, limit: 6, retryAfter: true })),
    ]);
    expect(verdicts(together)).toEqual(verdicts(oneByOne));
    // The first take went alone; the nine made meanwhile went as one group: the steady window refused all nine, and
    // the burst window was asked for nine at once.
    expect(consume.mock.calls.map(([, points]) => points)).toEqual([1, 9, 9]);
  });

  it('keeps callers apart within one moment', async () => {
    const l = limiter();
    const [a1, b1, a2, b2] = await Promise.all([l.take('a'), l.take('b'), l.take('a'), l.take('b')]);
    expect([a1, a2, b1, b2].map((r) => r?.state?.remaining)).toEqual([5, 4, 5, 4]);
  });
});
