import { createRedisClient, type RedisClient } from '../../src/kernel/redis-client';
import { TEST_REDIS_URL } from './test-runtime';

/**
 * A client of the test Redis made as the API makes its rate limiter's (fail-fast, auto-pipelined), once it is
 * connected: a fail-fast client counts in memory until then, which is not what a test of the Redis count is about.
 */
async function connectRateLimitRedis(): Promise<RedisClient> {
  const redis = createRedisClient(
    { REDIS_TLS: false },
    { kind: 'standalone', url: TEST_REDIS_URL },
    { failFast: true, autoPipelining: true },
  );
  if (redis.status !== 'ready') {
    await new Promise((resolve) => redis.once('ready', resolve));
  }
  return redis;
}

/**
 * For a `describe` of rate-limit tests: connects that client before its tests, closes it after them, and restores
 * the spies each test sets on it. Returns the client's getter (there is no client until the tests start).
 */
export function useRateLimitRedis(): () => RedisClient {
  let redis: RedisClient | undefined;
  beforeAll(async () => {
    redis = await connectRateLimitRedis();
  });
  afterAll(async () => {
    await redis?.quit();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  return () => {
    if (!redis) {
      throw new Error('the rate-limit Redis client is used before the tests started');
    }
    return redis;
  };
}
