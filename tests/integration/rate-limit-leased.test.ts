import { randomUUID } from 'node:crypto';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { SharedRateLimiter } from '../../src/access/shared-rate-limit';
import type { TakeResult } from '../../src/access/rate-limit';
import { useRateLimitRedis } from '../helpers/rate-limit-redis';

/**
 * A busy caller's count goes to Redis in leases (SharedRateLimiter): tokens of the steady window counted in Redis
 * ahead of need and handed out by one process. The processes together must still never allow more than the window,
 * and a caller must see the same RateLimit-* countdown as when every take is counted in Redis.
 */
describe('the shared rate limit leases tokens of a busy caller', () => {
  const redis = useRateLimitRedis();
  // The steady window is one second long; a run that crosses its end is run again on a fresh prefix (see `inOneWindow`).
  const limiter = (prefix: string, ratePerSecond: number) =>
    new SharedRateLimiter(redis(), { ratePerSecond, burst: ratePerSecond, prefix, redisAnswerMs: 60_000 });
  const steadyCount = async (prefix: string, key: string) =>
    Number((await redis().get(`${prefix}:rate-limit:steady:${key}`)) ?? 0);

  /**
   * Runs `attempt` on fresh prefixes until a run stays within one steady window (at most ten times: on a machine
   * shared with other work a run of a few hundred takes can last longer than a second, as in a CI run at load 18).
   */
  async function inOneWindow<T>(attempt: (prefix: string) => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 10; i++) {
      const result = await attempt(`{${randomUUID()}}`);
      if (result !== undefined) {
        return result;
      }
    }
    throw new Error('every run crossed the end of a steady window');
  }

  it('answers 200 takes in a row with far fewer Redis counts, counting down one by one as before', async () => {
    const { remaining, counts } = await inOneWindow(async (prefix) => {
      const l = limiter(prefix, 1000);
      const consume = jest.spyOn(RateLimiterRedis.prototype, 'consume');
      const results: TakeResult[] = [];
      for (let i = 0; i < 200; i++) {
        results.push(await l.take('caller'));
      }
      const counted = consume.mock.calls.length;
      consume.mockRestore();
      const left = results.map((r) => (r.allowed ? r.state?.remaining : undefined));
      // A count that went up is a new window: run again.
      return left.some((r, i) => i > 0 && (r ?? 0) >= (left[i - 1] ?? 0))
        ? undefined
        : { remaining: left, counts: counted };
    });
    expect(remaining).toEqual(Array.from({ length: 200 }, (_, i) => 999 - i));
    // One by one, each take was its own count: 200. Leases of up to what the caller took in the last 100 ms.
    expect(counts).toBeLessThanOrEqual(40);
  });

  it('never lets two processes on one key allow more than the window between them', async () => {
    const allowed = await inOneWindow(async (prefix) => {
      const [a, b] = [limiter(prefix, 100), limiter(prefix, 100)];
      const results: TakeResult[] = [];
      // Both busy at once, each taking ahead: 300 takes against a window of 100.
      for (let round = 0; round < 30; round++) {
        results.push(
          ...(await Promise.all([
            ...Array.from({ length: 5 }, () => a.take('p')),
            ...Array.from({ length: 5 }, () => b.take('p')),
          ])),
        );
      }
      // Every take was counted in Redis (on its own or in a lease) before it was answered; fewer in the window means
      // the window ended during the run and a new one began.
      return (await steadyCount(prefix, 'p')) >= results.length ? results.filter((r) => r.allowed).length : undefined;
    });
    expect(allowed).toBeLessThanOrEqual(100);
    // Leased tokens are used before a count is asked for, so nearly all of the window is handed out: only a lease whose
    // end this process reckoned a moment early (at most 10 tokens, a tenth of the window, each) may go unused.
    expect(allowed).toBeGreaterThanOrEqual(80);
  });
});
