import { DependencyUnavailableError, REDIS_ANSWER_MS, withTimeout } from '../kernel/outage';
import type { RedisClient } from '../kernel/redis-client';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type IRateLimiterStoreOptions,
} from 'rate-limiter-flexible';
import type { PrincipalLimiter, RateLimitState, TakeResult } from './rate-limit';

/** The configured rate: `ratePerSecond` on average, up to `burst` at once. */
export interface SharedRateLimitOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Keys live under `<prefix>:rate-limit:` (the deployment's hash-tagged queue prefix, so Redis Cluster works). */
  readonly prefix: string;
  /**
   * How long a request waits for Redis's count before it is counted in this process's memory instead (default
   * `REDIS_ANSWER_MS`, the bound on every request's Redis call).
   */
  readonly redisAnswerMs?: number;
}

/**
 * The per-principal rate limit, counted in Redis (rate-limiter-flexible: atomic Lua per call), so every API process
 * draws from one count per caller: N processes allow the configured rate, not N times it.
 *
 * Two fixed windows composed the way rate-limiter-flexible's BurstyRateLimiter does, which approximates the token
 * bucket the limit is specified as: a steady window (`ratePerSecond` per second; for rates below one, one request
 * per `1 / ratePerSecond` seconds) and, when that is used up, a burst window holding the rest of `burst` for
 * `burst / ratePerSecond` seconds. A steady caller never touches the burst allowance; a single fixed window would
 * instead let a caller spend the whole burst and then shut it out until the window ends. Composed here rather than
 * with BurstyRateLimiter itself because the `RateLimit-*` headers need both windows' counts, which it hides.
 *
 * When Redis does not answer, each process counts in memory with the same windows until it does (the library's
 * insurance limiter): a caller may then get up to N times the rate, which beats refusing everyone. "Does not
 * answer" includes a command that hangs: a Redis Cluster client holds a command for a slot whose primary has just
 * died until the failover ends, or for good when its slot map is not refreshed, and the library waits for the
 * client. So an answer that takes longer than `REDIS_ANSWER_MS` is not waited for either.
 */
export class SharedRateLimiter implements PrincipalLimiter {
  private readonly steady: RateLimiterRedis;
  private readonly burst: RateLimiterRedis | undefined;
  private readonly steadyInMemory: RateLimiterMemory;
  private readonly burstInMemory: RateLimiterMemory | undefined;
  private readonly policy: string;
  /** Per key: the takes waiting for the group on its way to Redis to be answered. */
  private readonly nextGroup = new Map<string, Taker[]>();
  /** The keys with a group on its way. */
  private readonly counting = new Set<string>();

  constructor(
    redis: RedisClient,
    private readonly options: SharedRateLimitOptions,
  ) {
    const stepSeconds = options.ratePerSecond >= 1 ? 1 : Math.ceil(1 / options.ratePerSecond);
    const steadyPoints = Math.min(options.burst, Math.max(1, Math.round(options.ratePerSecond * stepSeconds)));
    const burstSeconds = Math.max(stepSeconds, Math.round(options.burst / options.ratePerSecond));
    const limiter = (name: string, points: number, duration: number) => {
      const opts: IRateLimiterStoreOptions = {
        storeClient: redis,
        points,
        duration,
        keyPrefix: `${options.prefix}:rate-limit:${name}`,
      };
      const inMemory = new RateLimiterMemory({ points, duration });
      return [new RateLimiterRedis({ ...opts, insuranceLimiter: inMemory }), inMemory] as const;
    };
    [this.steady, this.steadyInMemory] = limiter('steady', steadyPoints, stepSeconds);
    const burstPoints = options.burst - steadyPoints;
    [this.burst, this.burstInMemory] =
      burstPoints > 0 ? limiter('burst', burstPoints, burstSeconds) : [undefined, undefined];
    // IETF draft-06 quota policies: the steady one and the whole burst.
    this.policy = `${steadyPoints};w=${stepSeconds}${this.burst ? `, ${options.burst};w=${burstSeconds}` : ''}`;
  }

  /**
   * Takes one request's token. The takes of one key made while its count is on the way to Redis wait and go together
   * as one `consume(key, n)`, like group commit: alone at low load (no added latency), grouped under load, so Redis
   * sees one script call per group instead of one per request. The answers are those of n single consumes in a row
   * (a window counts every take, allowed or not), so each member gets its own verdict and headers. While Redis does
   * not answer, a take waits for the group before its own too: at most twice `REDIS_ANSWER_MS` instead of once.
   */
  take(key: string): Promise<TakeResult> {
    return new Promise<TakeResult>((resolve, reject) => {
      const next = this.nextGroup.get(key);
      if (next) {
        next.push({ resolve, reject });
      } else {
        this.nextGroup.set(key, [{ resolve, reject }]);
      }
      if (!this.counting.has(key)) {
        void this.countGroups(key);
      }
    });
  }

  private async countGroups(key: string): Promise<void> {
    this.counting.add(key);
    try {
      for (let takers = this.nextGroup.get(key); takers; takers = this.nextGroup.get(key)) {
        this.nextGroup.delete(key);
        try {
          const results = await this.takeGroup(key, takers.length);
          takers.forEach((t, i) => t.resolve(results[i]!));
        } catch (err) {
          takers.forEach((t) => t.reject(err));
        }
      }
    } finally {
      this.counting.delete(key);
    }
  }

  /** n takes of one key, counted in Redis, or in this process's memory when Redis does not answer in time. */
  private async takeGroup(key: string, n: number): Promise<TakeResult[]> {
    try {
      return await withTimeout(
        this.takeFrom(this.steady, this.burst, key, n),
        this.options.redisAnswerMs ?? REDIS_ANSWER_MS,
        'redis',
        'rate limit',
      );
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) {
        throw err;
      }
      return this.takeFrom(this.steadyInMemory, this.burstInMemory, key, n);
    }
  }

  private async takeFrom(
    steadyLimiter: RateLimiterRedis | RateLimiterMemory,
    burstLimiter: RateLimiterRedis | RateLimiterMemory | undefined,
    key: string,
    n: number,
  ): Promise<TakeResult[]> {
    const [steadyGroup, burstNow] = await Promise.all([settle(steadyLimiter.consume(key, n)), burstLimiter?.get(key)]);
    const steady = eachOf(steadyGroup.res, n, steadyLimiter.points);
    const refused = steady.filter((r) => r.consumedPoints > steadyLimiter.points).length;
    if (refused === 0) {
      return steady.map((s) => ({ allowed: true, state: this.stateOf(s, burstNow ?? undefined) }));
    }
    if (!burstLimiter) {
      return steady.map((s) =>
        s.consumedPoints > steadyLimiter.points
          ? this.refused(s, undefined)
          : { allowed: true, state: this.stateOf(s, undefined) },
      );
    }
    // Those the steady window refused draw on the burst window, in the same order.
    const burst = eachOf((await settle(burstLimiter.consume(key, refused))).res, refused, burstLimiter.points);
    const allowedBySteady = n - refused;
    return steady.map((s, i) => {
      if (i < allowedBySteady) {
        return { allowed: true, state: this.stateOf(s, burstNow ?? undefined) };
      }
      const b = burst[i - allowedBySteady]!;
      return b.consumedPoints <= burstLimiter.points
        ? { allowed: true, state: this.stateOf(s, b) }
        : this.refused(s, b);
    });
  }

  private refused(steady: RateLimiterRes, burst: RateLimiterRes | undefined): TakeResult {
    // The steady window frees a request first; whole seconds, rounded up, so an obedient client is not refused again.
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(steady.msBeforeNext / 1000)),
      state: this.stateOf(steady, burst),
    };
  }

  private stateOf(steady: RateLimiterRes, burst: RateLimiterRes | undefined): RateLimitState {
    const burstLeft = this.burst ? (burst ? Math.max(0, burst.remainingPoints) : this.burst.points) : 0;
    const remaining = Math.max(0, steady.remainingPoints) + burstLeft;
    // Whole again when both windows have ended (an unused burst window has nothing to wait for).
    const resetMs = Math.max(steady.msBeforeNext, burst && burst.consumedPoints > 0 ? burst.msBeforeNext : 0);
    return {
      limit: this.options.burst,
      remaining,
      resetSeconds: Math.max(0, Math.ceil(resetMs / 1000)),
      policy: this.policy,
    };
  }
}

interface Taker {
  resolve(result: TakeResult): void;
  reject(err: unknown): void;
}

/**
 * The window's answer to each of n takes counted together, as n single consumes in a row would have answered: the
 * i-th of them saw the count before the group plus i + 1.
 */
function eachOf(group: RateLimiterRes, n: number, points: number): RateLimiterRes[] {
  return Array.from({ length: n }, (_, i) => {
    const consumed = group.consumedPoints - n + 1 + i;
    return new RateLimiterRes(Math.max(0, points - consumed), group.msBeforeNext, consumed, consumed === 1);
  });
}

/** A rate-limiter-flexible promise as a value: it rejects with a RateLimiterRes when over the limit. */
async function settle(p: Promise<RateLimiterRes>): Promise<{ ok: boolean; res: RateLimiterRes }> {
  try {
    return { ok: true, res: await p };
  } catch (err) {
    if (err instanceof RateLimiterRes) {
      return { ok: false, res: err };
    }
    throw err;
  }
}
