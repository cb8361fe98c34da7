import type { OperationOutcome } from '@medplum/fhirtypes';
import { setPrincipal } from '../../../src/access/authenticate';
import { createPrincipal } from '../../../src/access/principal';
import { createRateLimiter, TokenBucketLimiter } from '../../../src/access/rate-limit';
import { startApp, type TestServer } from './helpers';

/** A limiter on a clock the test moves by hand. */
function limiter(ratePerSecond: number, burst: number): { limiter: TokenBucketLimiter; advance: (ms: number) => void } {
  let now = 1_000_000;
  return {
    limiter: new TokenBucketLimiter({ ratePerSecond, burst, now: () => now }),
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('TokenBucketLimiter', () => {
  it('allows a burst, then refuses with the seconds until the next token', () => {
    const { limiter: l } = limiter(0.5, 3);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([{ allowed: true }, { allowed: true }, { allowed: true }]);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterSeconds: 2 });
  });

  it('refills at the configured rate and never beyond the burst', () => {
    const { limiter: l, advance } = limiter(0.5, 2);
    l.take('a');
    l.take('a');
    advance(1_999);
    expect(l.take('a').allowed).toBe(false);
    advance(1);
    expect(l.take('a').allowed).toBe(true);
    advance(3_600_000);
    expect([l.take('a'), l.take('a'), l.take('a')].map((r) => r.allowed)).toEqual([true, true, false]);
  });

  it('keeps one bucket per key', () => {
    const { limiter: l } = limiter(1, 1);
    expect(l.take('a').allowed).toBe(true);
    expect(l.take('a').allowed).toBe(false);
    expect(l.take('b').allowed).toBe(true);
  });

  it.each([
    ['rounds a fraction of a second up to 1', 10, 1],
    ['rounds 1.5 seconds up to 2', 2 / 3, 2],
  ])('%s in Retry-After', (_name, rate, seconds) => {
    const { limiter: l } = limiter(rate, 1);
    l.take('a');
    expect(l.take('a')).toEqual({ allowed: false, retryAfterSeconds: seconds });
  });

  it('forgets callers whose bucket has refilled, so memory follows the active callers', () => {
    const { limiter: l, advance } = limiter(1, 2);
    for (let i = 0; i < 100; i++) {
      l.take(`caller-${i}`);
    }
    expect(l.size).toBe(100);
    advance(2_000);
    l.take('active');
    expect(l.size).toBe(1);
  });

  it.each([
    ['a zero rate', 0, 1],
    ['a negative rate', -1, 1],
    ['an infinite rate', Infinity, 1],
    ['a zero burst', 1, 0],
    ['a fractional burst', 1, 1.5],
  ])('refuses %s', (_name, ratePerSecond, burst) => {
    expect(() => new TokenBucketLimiter({ ratePerSecond, burst })).toThrow(RangeError);
  });
});

describe('createRateLimiter', () => {
  let app: TestServer;

  beforeAll(async () => {
    const limit = createRateLimiter({ ratePerSecond: 0.01, burst: 2 });
    app = await startApp((a) => {
      // Stands in for the authenticator: the caller is named by a test header.
      a.use((req, res, next) => {
        const id = req.get('x-test-principal');
        if (id) {
          setPrincipal(
            res,
            createPrincipal({ id, role: 'operator', practices: [], municipalities: [], via: 'api-key' }),
          );
        }
        next();
      });
      a.use(limit);
      a.get('/', (_req, res) => {
        res.json({ ok: true });
      });
    });
  });

  afterAll(async () => {
    await app.close();
  });

  const call = (principal?: string): Promise<Response> =>
    fetch(app.url, { headers: principal ? { 'x-test-principal': principal } : {} });

  it('answers 429 with Retry-After after the burst, and leaves another principal alone', async () => {
    expect((await call('api-key:a')).status).toBe(200);
    expect((await call('api-key:a')).status).toBe(200);
    const refused = await call('api-key:a');
    expect(refused.status).toBe(429);
    // 0.01 tokens per second: the next token is about 100 seconds away.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(99);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(100);
    expect(((await refused.json()) as OperationOutcome).id).toBe('too-many-requests');
    expect((await call('api-key:b')).status).toBe(200);
  });

  it('answers 401 when mounted before authentication', async () => {
    const res = await call();
    expect(res.status).toBe(401);
    expect(res.headers.get('retry-after')).toBeNull();
  });
});
