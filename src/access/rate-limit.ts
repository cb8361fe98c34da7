import { OperationOutcomeError, tooManyRequests } from '@medplum/core';
import type { NextFunction, RequestHandler, Response } from 'express';
import { getPrincipal } from './authenticate';

/** Token bucket settings: `ratePerSecond` steady requests, up to `burst` at once. */
export interface RateLimitOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Milliseconds on a monotonic clock; tests pass a fake one. */
  readonly now?: () => number;
}

/**
 * Where a caller stands, for the `RateLimit-*` response headers (IETF draft "RateLimit header fields for HTTP",
 * draft-ietf-httpapi-ratelimit-headers-06): the quota, what is left of it, and whole seconds until it is whole again.
 */
export interface RateLimitState {
  readonly limit: number;
  readonly remaining: number;
  readonly resetSeconds: number;
  /** The quota policies (`RateLimit-Policy`), e.g. `50;w=1, 500;w=10`. */
  readonly policy: string;
}

/** The outcome of taking one token. */
export type TakeResult = (
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number }
) & { readonly state?: RateLimitState };

/** Anything that counts requests per key: the shared Redis limiter in production, a token bucket in memory. */
export interface PrincipalLimiter {
  take(key: string): TakeResult | Promise<TakeResult>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Token buckets keyed by an arbitrary string (the principal id), held in memory: one process's own count. The API
 * uses the shared Redis limiter (shared-rate-limit.ts), so that N API processes allow the configured rate, not N
 * times it; this one serves where no Redis is wanted (tests, tools).
 */
export class TokenBucketLimiter implements PrincipalLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${options.ratePerSecond}`);
    }
    if (!Number.isInteger(options.burst) || options.burst < 1) {
      throw new RangeError(`burst must be a positive integer, got ${options.burst}`);
    }
    this.ratePerMs = options.ratePerSecond / 1000;
    this.now = options.now ?? (() => performance.now());
    this.lastSweep = this.now();
  }

  /** Number of keys currently tracked (full buckets are forgotten). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from the key's bucket, or says how many whole seconds until one is available. */
  take(key: string): TakeResult {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.options.burst, updatedAt: now };
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (now - bucket.updatedAt) * this.ratePerMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    // Retry-After is in whole seconds; round up so a client that obeys it is not refused again.
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerMs / 1000)) };
  }

  // A bucket that has refilled is the same as no bucket, so forgetting it bounds memory by the active callers.
  private sweep(now: number): void {
    const fullAfterMs = this.options.burst / this.ratePerMs;
    if (now - this.lastSweep < Math.min(fullAfterMs, 60_000)) {
      return;
    }
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.updatedAt) * this.ratePerMs >= this.options.burst) {
        this.buckets.delete(key);
      }
    }
  }
}

/**
 * Middleware that limits each principal separately; mount it after the authenticator. Sets the `RateLimit-*` headers
 * when the limiter reports its state; over the limit it sets `Retry-After` and passes a 429 to the error handler.
 */
export function createRateLimiter(options: RateLimitOptions | PrincipalLimiter): RequestHandler {
  const limiter = 'take' in options ? options : new TokenBucketLimiter(options);
  return (_req, res, next) => {
    const taken = limiter.take(getPrincipal(res).id);
    // A take answered at once (a token bucket in memory, a lease of the shared limiter: nearly every request of a
    // busy caller) goes on in the same turn, without a promise and a turn of the microtask queue per request.
    if (!(taken instanceof Promise)) {
      answer(res, taken, next);
      return undefined;
    }
    // Returned, so that a throw on the way on is the caller's to pass to the error handler, as an async handler's.
    return taken.then((result) => answer(res, result, next));
  };
}

/** Sets the `RateLimit-*` headers of a take; passes the request on, or over the limit a 429 with `Retry-After`. */
function answer(res: Response, result: TakeResult, next: NextFunction): void {
  if (result.state) {
    const { limit, remaining, resetSeconds, policy } = result.state;
    // setHeader rather than Express's `res.set`, which would check each of these for a content type: every request
    // pays for these four.
    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, remaining)));
    res.setHeader('RateLimit-Reset', String(resetSeconds));
    res.setHeader('RateLimit-Policy', policy);
  }
  if (!result.allowed) {
    res.set('Retry-After', String(result.retryAfterSeconds));
    next(new OperationOutcomeError(tooManyRequests));
    return;
  }
  next();
}
