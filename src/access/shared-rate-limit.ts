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
 * How long "the last moment" is whose takes bound a lease: a caller that made k takes in it may be given up to k
 * tokens ahead of need with its next count.
 */
const MOMENT_MS = 100;

/**
 * The most of a steady window one process may hold ahead of need, as a share of it: what another process can be
 * refused early (it then draws on the burst window) while this one holds tokens it does not use. A window of fewer
 * than ten points is never leased from, so small limits stay counted take by take.
 */
const LEASE_SHARE = 0.1;

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
 *
 * A busy caller's count goes to Redis in leases: a count asks the steady window for the group's takes plus up to as
 * many as the caller took in the last moment (at most a tenth of the window), and the takes that follow are answered
 * from those tokens in this process until they run out or the window ends. The tokens are counted in Redis before they
 * are handed out and die with their window, so the processes together never allow more than the configured rate; what
 * a lease costs is that another process may be refused a little early while this one holds tokens it has not used.
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
  /** Per key: its takes in the last moments and the tokens this process holds of its steady window. */
  private readonly uses = new Map<string, KeyUse>();
  private readonly leaseCap: number;
  private lastSweep = performance.now();

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
    this.leaseCap = Math.floor(steadyPoints * LEASE_SHARE);
    // IETF draft-06 quota policies: the steady one and the whole burst.
    this.policy = `${steadyPoints};w=${stepSeconds}${this.burst ? `, ${options.burst};w=${burstSeconds}` : ''}`;
  }

  /**
   * Takes one request's token: from the lease this process holds of the key's steady window when it holds one, at
   * once. Otherwise the takes of one key made while its count is on the way to Redis wait and go together
   * as one `consume(key, n)`, like group commit: alone at low load (no added latency), grouped under load, so Redis
   * sees one script call per group instead of one per request. The answers are those of n single consumes in a row
   * (a window counts every take, allowed or not), so each member gets its own verdict and headers. While Redis does
   * not answer, a take waits for the group before its own too: at most twice `REDIS_ANSWER_MS` instead of once.
   */
  take(key: string): TakeResult | Promise<TakeResult> {
    const now = performance.now();
    const leased = this.fromLease(this.useOf(key, now), now);
    if (leased) {
      // At once, not as a promise: a busy caller's request then goes on in the same turn (rate-limit.ts).
      return leased;
    }
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

  /** A take answered from the tokens this process holds of the key's steady window, if it holds any. */
  private fromLease(use: KeyUse | undefined, now: number): TakeResult | undefined {
    const lease = use?.lease;
    if (!lease) {
      return undefined;
    }
    if (lease.left === 0 || now >= lease.endsAt) {
      use.lease = undefined;
      return undefined;
    }
    lease.left -= 1;
    const remaining = lease.remainingAfter + lease.left;
    const steady = new RateLimiterRes(remaining, lease.endsAt - now, this.steady.points - remaining, false);
    return { allowed: true, state: this.stateOf(steady, lease.burstNow) };
  }

  /** The key's record, its moment moved on to `now` and this take counted in it. */
  private useOf(key: string, now: number): KeyUse {
    this.sweep(now);
    let use = this.uses.get(key);
    if (!use) {
      use = { momentStart: now, inMoment: 0, inLastMoment: 0, lease: undefined };
      this.uses.set(key, use);
    } else if (now - use.momentStart >= MOMENT_MS) {
      use.inLastMoment = now - use.momentStart < 2 * MOMENT_MS ? use.inMoment : 0;
      use.momentStart = now;
      use.inMoment = 0;
    }
    use.inMoment += 1;
    return use;
  }

  /** How many tokens ahead of need the next count of `key` may ask for. */
  private leaseWanted(key: string): number {
    const use = this.uses.get(key);
    return use ? Math.min(this.leaseCap, Math.max(use.inLastMoment, use.inMoment)) : 0;
  }

  // A key untouched for two moments has no lease left worth keeping, nor a moment that bounds the next one.
  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) {
      return;
    }
    this.lastSweep = now;
    for (const [key, use] of this.uses) {
      if (now - use.momentStart >= 2 * MOMENT_MS && !(use.lease && now < use.lease.endsAt)) {
        this.uses.delete(key);
      }
    }
  }

  private async countGroups(key: string): Promise<void> {
    this.counting.add(key);
    try {
      for (let takers = this.nextGroup.get(key); takers; takers = this.nextGroup.get(key)) {
        this.nextGroup.delete(key);
        // Those that came while the last count was on its way: the lease it brought may answer some of them.
        const now = performance.now();
        const use = this.uses.get(key);
        let served = 0;
        while (served < takers.length) {
          const leased = this.fromLease(use, now);
          if (!leased) {
            break;
          }
          takers[served++]!.resolve(leased);
        }
        if (served === takers.length) {
          continue;
        }
        takers = takers.slice(served);
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

  /**
   * n takes of one key, counted in Redis, or in this process's memory when Redis does not answer in time; with a lease
   * for the takes that follow when Redis gave one.
   */
  private async takeGroup(key: string, n: number): Promise<TakeResult[]> {
    try {
      const sentAt = performance.now();
      const { results, lease } = await withTimeout(
        this.takeFrom(this.steady, this.burst, key, n, this.leaseWanted(key)),
        this.options.redisAnswerMs ?? REDIS_ANSWER_MS,
        'redis',
        'rate limit',
      );
      const use = this.uses.get(key);
      if (lease && use) {
        // The window's end as Redis saw it, counted from before the count was sent: never later than the real end.
        const { msBeforeNext, ...held } = lease;
        use.lease = { ...held, endsAt: sentAt + msBeforeNext };
      }
      return results;
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) {
        throw err;
      }
      return (await this.takeFrom(this.steadyInMemory, this.burstInMemory, key, n, 0)).results;
    }
  }

  /**
   * n takes counted in the steady window (and those it refuses in the burst window), asking the steady window for
   * `ahead` more tokens after them: the lease, as many of those as the window still held.
   */
  private async takeFrom(
    steadyLimiter: RateLimiterRedis | RateLimiterMemory,
    burstLimiter: RateLimiterRedis | RateLimiterMemory | undefined,
    key: string,
    n: number,
    ahead: number,
  ): Promise<{ results: TakeResult[]; lease?: Omit<Lease, 'endsAt'> & { readonly msBeforeNext: number } }> {
    const asked = n + ahead;
    const [steadyGroup, burstNow] = await Promise.all([
      settle(steadyLimiter.consume(key, asked)),
      burstLimiter?.get(key),
    ]);
    const steady = eachOf(steadyGroup.res, asked, steadyLimiter.points, n);
    const refused = steady.filter((r) => r.consumedPoints > steadyLimiter.points).length;
    if (refused === 0) {
      const results = steady.map((s) => ({ allowed: true as const, state: this.stateOf(s, burstNow ?? undefined) }));
      // The tokens asked for ahead that the window still held; any beyond them were refused and are left unused.
      const left = Math.min(ahead, steadyLimiter.points - (steadyGroup.res.consumedPoints - ahead));
      if (left <= 0) {
        return { results };
      }
      return {
        results,
        lease: {
          left,
          remainingAfter: Math.max(0, steadyLimiter.points - steadyGroup.res.consumedPoints),
          msBeforeNext: steadyGroup.res.msBeforeNext,
          burstNow: burstNow ?? undefined,
        },
      };
    }
    if (!burstLimiter) {
      return {
        results: steady.map((s) =>
          s.consumedPoints > steadyLimiter.points
            ? this.refused(s, undefined)
            : { allowed: true, state: this.stateOf(s, undefined) },
        ),
      };
    }
    // Those the steady window refused draw on the burst window, in the same order.
    const burst = eachOf((await settle(burstLimiter.consume(key, refused))).res, refused, burstLimiter.points);
    const allowedBySteady = n - refused;
    return {
      results: steady.map((s, i) => {
        if (i < allowedBySteady) {
          return { allowed: true, state: this.stateOf(s, burstNow ?? undefined) };
        }
        const b = burst[i - allowedBySteady]!;
        return b.consumedPoints <= burstLimiter.points
          ? { allowed: true, state: this.stateOf(s, b) }
          : this.refused(s, b);
      }),
    };
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

/** Tokens of a key's steady window that this process has counted in Redis and not yet handed out. */
interface Lease {
  left: number;
  /** What the steady window had left after the lease was counted (the others' share). */
  readonly remainingAfter: number;
  /** When the window ends, on this process's clock. */
  readonly endsAt: number;
  /** The burst window as it was read with the lease, for the headers. */
  readonly burstNow: RateLimiterRes | undefined;
}

interface KeyUse {
  momentStart: number;
  inMoment: number;
  inLastMoment: number;
  lease: Lease | undefined;
}

interface Taker {
  resolve(result: TakeResult): void;
  reject(err: unknown): void;
}

/**
 * The window's answer to each of n takes counted together, as n single consumes in a row would have answered: the
 * i-th of them saw the count before the group plus i + 1. Only the first `first` of them when fewer are wanted.
 */
function eachOf(group: RateLimiterRes, n: number, points: number, first = n): RateLimiterRes[] {
  return Array.from({ length: first }, (_, i) => {
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
