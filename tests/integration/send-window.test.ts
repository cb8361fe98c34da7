import Redis from 'ioredis';
import { takeSendSlot } from '../../src/event/send-window';
import { buildDestination } from '../helpers/builders';
import { startTestApp, TEST_REDIS_URL, type TestApp, useTestApp } from '../helpers/test-runtime';

// The destination's rate limit as the receiver sees it: a sliding window over the moments sends are let go,
// shared through Redis by every caller (src/event/send-window.ts). Two apps stand in for two worker processes.

const MAX = 3;
const DURATION_MS = 400;

describe('send window (a destination rate limit held at send time)', () => {
  let second: TestApp | undefined;
  // Declared first, so it runs first (Jest runs a block's afterAll hooks in order): the second process is closed
  // before useTestApp's afterAll deletes the queue keys and drops the schema the two share.
  afterAll(async () => {
    await second?.close();
  });

  const first = useTestApp({ env: { ROLE: 'api' } });

  beforeAll(async () => {
    second = await startTestApp({ testEnv: first.testEnv, env: { ROLE: 'api' } });
  });

  it('lets at most max sends go in any durationMs, across processes, and lets all of them go in the end', async () => {
    const destination = buildDestination('http://127.0.0.1:9/', { rateLimit: { max: MAX, durationMs: DURATION_MS } });
    const released: number[] = [];
    // Each slot's moment on Redis's clock, which keeps the window: this process's own clock would also measure
    // how late a busy event loop got round to each answer.
    const take = (app: TestApp) => takeSendSlot(app.rt.ctx.queues, destination).then((at) => released.push(at!));
    await Promise.all(Array.from({ length: 10 }, (_, i) => take(i % 2 === 0 ? first : second!)));

    expect(released).toHaveLength(10);
    released.sort((a, b) => a - b);
    for (const start of released) {
      expect(released.filter((t) => t >= start && t < start + DURATION_MS).length).toBeLessThanOrEqual(MAX);
    }
    // Ten sends at three per window need at least three full windows after the first three.
    expect(released.at(-1)! - released[0]!).toBeGreaterThanOrEqual(3 * DURATION_MS);
  });

  it('does not hold back or count for a destination without a rate limit', async () => {
    const unlimited = buildDestination('http://127.0.0.1:9/', { id: 'unlimited' });
    const limited = buildDestination('http://127.0.0.1:9/', {
      id: 'limited',
      rateLimit: { max: 1, durationMs: 60_000 },
    });
    await Promise.all(Array.from({ length: 50 }, () => takeSendSlot(first.rt.ctx.queues, unlimited)));
    await takeSendSlot(first.rt.ctx.queues, limited);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const keyOf = (id: string) => `${first.testEnv.prefix}:send-window:${id}`;
      expect(await redis.exists(keyOf('limited'))).toBe(1);
      expect(await redis.exists(keyOf('unlimited'))).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
