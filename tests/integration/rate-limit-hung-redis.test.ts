import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { SharedRateLimiter } from '../../src/access/shared-rate-limit';
import { createRedisClient, type RedisClient } from '../../src/kernel/redis-client';
import { exited, freePort } from '../helpers/product-process';
import { spawnRedisServer, waitForRedis } from '../helpers/redis-server';

/**
 * A Redis that takes commands and never answers them (here: our own redis-server, stopped with SIGSTOP; on a Redis
 * Cluster, a slot whose primary just died) must not hold requests up: the rate limit then counts in memory. The
 * cluster failover test hung in its POST on exactly this before the limiter stopped waiting.
 */
describe('the shared rate limit when Redis stops answering', () => {
  // The API's own client (runtime.ts) fails fast and pipelines the commands of one event-loop turn together.
  const clients: [string, (port: number) => RedisClient][] = [
    [
      'a plain client',
      (port) => new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: null }),
    ],
    [
      'the API’s fail-fast, auto-pipelining client',
      (port) =>
        createRedisClient(
          { REDIS_TLS: false },
          { kind: 'standalone', url: `redis://127.0.0.1:${port}` },
          { failFast: true, autoPipelining: true },
        ),
    ],
  ];

  it.each(clients)(
    'counts in memory after a second instead of waiting for Redis for ever (%s)',
    async (_, client) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-hung-redis-'));
      const port = await freePort();
      const server = spawnRedisServer(port, dir);
      const redis = client(port);
      try {
        await waitForRedis(port);
        // A fail-fast client counts in memory until it is connected; the first takes below are meant for Redis.
        if (redis.status !== 'ready') {
          await new Promise((resolve) => redis.once('ready', resolve));
        }
        const limiter = new SharedRateLimiter(redis, { ratePerSecond: 1, burst: 2, prefix: '{hung}' });
        // Counted in Redis while it answers: two allowed (the burst), the third refused.
        expect((await limiter.take('p')).allowed).toBe(true);
        expect((await limiter.take('p')).allowed).toBe(true);
        expect((await limiter.take('p')).allowed).toBe(false);

        server.kill('SIGSTOP');
        // Now nothing answers. The answer still comes, from this process's own count (fresh: allowed), with headers.
        const answer = await limiter.take('p');
        expect(answer.allowed).toBe(true);
        expect(answer.state?.limit).toBe(2);
      } finally {
        server.kill('SIGCONT');
        redis.disconnect();
        server.kill('SIGKILL');
        await exited(server);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
