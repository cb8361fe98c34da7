import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { PrincipalLimiter, TakeResult } from './rate-limit';

/** The configured rate: `burst` requests at once, `ratePerSecond` on average. */
export interface SharedRateLimitOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Keys live under `<prefix>:rate-limit:` (the deployment's hash-tagged queue prefix, so Redis Cluster works). */
  readonly prefix: string;
}

/**
 * The per-principal rate limit, counted in Redis (rate-limiter-flexible, one atomic Lua call per request), so every
 * API process draws from one count per caller: N processes allow the configured rate, not N times it.
 *
 * A fixed window: up to `burst` requests per `burst / ratePerSecond` seconds (by default 500 per 10 s, an average of
 * 50/s). When Redis does not answer, each process counts in memory with the same window until it does: a caller
 * may then get up to N times the rate, which beats refusing everyone while Redis is away.
 */
export class SharedRateLimiter implements PrincipalLimiter {
  private readonly limiter: RateLimiterRedis;
  private readonly windowSeconds: number;

  constructor(
    redis: Redis,
    private readonly options: SharedRateLimitOptions,
  ) {
    this.windowSeconds = Math.max(1, Math.round(options.burst / options.ratePerSecond));
    const common = { points: options.burst, duration: this.windowSeconds, keyPrefix: `${options.prefix}:rate-limit` };
    this.limiter = new RateLimiterRedis({
      ...common,
      storeClient: redis,
      insuranceLimiter: new RateLimiterMemory(common),
    });
  }

  async take(key: string): Promise<TakeResult> {
    try {
      const res = await this.limiter.consume(key, 1);
      return { allowed: true, state: this.stateOf(res) };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        throw err;
      }
      // Whole seconds, rounded up, so a client that obeys Retry-After is not refused again.
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
        state: this.stateOf(err),
      };
    }
  }

  private stateOf(res: RateLimiterRes) {
    return {
      limit: this.options.burst,
      remaining: res.remainingPoints,
      resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)),
      windowSeconds: this.windowSeconds,
    };
  }
}
