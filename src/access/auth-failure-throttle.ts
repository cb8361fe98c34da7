import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { DependencyUnavailableError, REDIS_ANSWER_MS, withTimeout } from '../kernel/outage';
import type { RedisClient } from '../kernel/redis-client';

/** How many refused credentials a client address may send in a window before it is throttled. */
export interface AuthFailureThrottleOptions {
  readonly limit: number;
  readonly windowSeconds: number;
  /** Keys live under `<prefix>:auth-failures:` (the deployment's hash-tagged queue prefix). */
  readonly prefix: string;
  /** How long a failure waits for Redis's count before it is counted in this process's memory (REDIS_ANSWER_MS). */
  readonly redisAnswerMs?: number;
}

/** What counting one failure found: its place in the window, and how long the address is throttled, if it is. */
export interface FailureCount {
  /** 1 for the window's first failure; above `limit` the address is throttled. */
  readonly count: number;
  readonly retryAfterSeconds: number | undefined;
}

/** Most addresses held as throttled in one process: beyond it the longest-known are forgotten (Redis still counts). */
const MAX_BLOCKED = 10_000;

/**
 * Refused credentials per client address, counted in Redis across API processes (rate-limiter-flexible, a fixed
 * window of `windowSeconds`); past `limit` the address is throttled until the window ends. Only a failure costs a
 * Redis call: whether an address is throttled is asked of this process's memory, which learns it from the failure
 * that crossed the limit here, or from the next failure the address sends to this process (answered 429 at once).
 * When Redis does not answer, failures are counted in memory (per process) rather than not at all.
 */
export class AuthFailureThrottle {
  private readonly redis: RateLimiterRedis;
  private readonly memory: RateLimiterMemory;
  /** Throttled addresses and when (ms on the monotonic clock) their window ends. */
  private readonly blocked = new Map<string, number>();

  constructor(
    client: RedisClient,
    private readonly options: AuthFailureThrottleOptions,
  ) {
    const shape = { points: options.limit, duration: options.windowSeconds };
    this.memory = new RateLimiterMemory(shape);
    this.redis = new RateLimiterRedis({
      ...shape,
      storeClient: client,
      keyPrefix: `${options.prefix}:auth-failures`,
      insuranceLimiter: this.memory,
    });
  }

  /** Failures allowed per window. */
  get limit(): number {
    return this.options.limit;
  }

  /** Whole seconds the address is still throttled for, as this process knows; undefined when it is not. */
  throttledFor(address: string): number | undefined {
    const until = this.blocked.get(address);
    if (until === undefined) {
      return undefined;
    }
    const left = until - performance.now();
    if (left <= 0) {
      this.blocked.delete(address);
      return undefined;
    }
    return Math.max(1, Math.ceil(left / 1000));
  }

  /** Counts one refused credential of the address; throttles it here once the count passes the limit. */
  async countFailure(address: string): Promise<FailureCount> {
    const res = await this.consume(address);
    if (res.consumedPoints <= this.options.limit) {
      return { count: res.consumedPoints, retryAfterSeconds: undefined };
    }
    if (this.blocked.size >= MAX_BLOCKED) {
      const oldest = this.blocked.keys().next();
      if (!oldest.done) {
        this.blocked.delete(oldest.value);
      }
    }
    this.blocked.set(address, performance.now() + res.msBeforeNext);
    return { count: res.consumedPoints, retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
  }

  private async consume(address: string): Promise<RateLimiterRes> {
    try {
      return await withTimeout(
        settle(this.redis.consume(address)),
        this.options.redisAnswerMs ?? REDIS_ANSWER_MS,
        'redis',
        'count a failed authentication',
      );
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) {
        throw err;
      }
      return settle(this.memory.consume(address));
    }
  }
}

/** The window's count either way: rate-limiter-flexible rejects with it when over the limit. */
async function settle(p: Promise<RateLimiterRes>): Promise<RateLimiterRes> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof RateLimiterRes) {
      return err;
    }
    throw err;
  }
}
