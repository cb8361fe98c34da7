import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/product-process';
import { spawnRedisServer, waitForRedis } from '../helpers/redis-server';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

/**
 * BullMQ needs Redis's `maxmemory-policy noeviction`: with an evicting policy a full Redis drops keys, and a queued
 * job with them. Each test runs the product on a redis-server of its own, configured as an operator might have left
 * it; the shared Redis is never reconfigured.
 */
describe("Redis's maxmemory-policy, checked at start-up and shown in /metrics", () => {
  const servers: { child: ChildProcess; dir: string }[] = [];
  afterAll(async () => {
    for (const { child, dir } of servers) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A redis-server of this test's own with `args` (after the README's settings, which they override). */
  const ownRedis = async (args: string[]): Promise<string> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-redis-policy-'));
    const port = await freePort();
    servers.push({ child: spawnRedisServer(port, dir, args), dir });
    await waitForRedis(port);
    return `redis://127.0.0.1:${port}`;
  };

  /** The product started on `redisUrl`: its log lines about the policy, and one scrape of its /metrics. */
  const startOn = async (redisUrl: string) => {
    let app: TestApp | undefined;
    try {
      app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { REDIS_URL: redisUrl } });
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      const lines = fs
        .readFileSync(app.testEnv.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('maxmemory-policy'))
        .map((l) => JSON.parse(l) as { level: string; msg: string; maxmemoryPolicy?: string; readFrom?: string });
      const redisSeries = metrics
        .split('\n')
        .filter((l) => /^jeugdbrug_(redis_|metrics_source_up\{source="redis"\})/.test(l));
      return { lines, redisSeries };
    } finally {
      await app?.close();
      if (app) {
        await cleanupTestEnv(app.testEnv);
      }
    }
  };

  it('starts, says so in one error line, and shows the policy and the memory against maxmemory', async () => {
    const url = await ownRedis(['--maxmemory-policy', 'allkeys-lru', '--maxmemory', '64mb']);
    const { lines, redisSeries } = await startOn(url);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        maxmemoryPolicy: 'allkeys-lru',
        readFrom: 'CONFIG GET',
        msg: expect.stringMatching(/^redis evicts keys when full .*queued jobs can vanish; set noeviction$/),
      }),
    ]);
    expect(redisSeries).toEqual(
      expect.arrayContaining([
        'jeugdbrug_redis_maxmemory_policy{policy="allkeys-lru"} 1',
        `jeugdbrug_redis_memory_max_bytes ${64 * 1024 * 1024}`,
        expect.stringMatching(/^jeugdbrug_redis_memory_used_bytes [1-9]\d+$/),
        'jeugdbrug_metrics_source_up{source="redis"} 1',
      ]),
    );
  });

  // Managed Redis services refuse CONFIG (it is renamed or not granted): the policy is read from INFO memory, which
  // BullMQ needs anyway, and start-up goes on either way.
  it('reads the policy from INFO when CONFIG is refused, as on a managed Redis', async () => {
    const url = await ownRedis(['--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', '""']);
    const { lines, redisSeries } = await startOn(url);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', maxmemoryPolicy: 'volatile-lru', readFrom: 'INFO memory' }),
    ]);
    expect(redisSeries).toEqual(
      expect.arrayContaining([
        'jeugdbrug_redis_maxmemory_policy{policy="volatile-lru"} 1',
        // No maxmemory set: the alert on memory filling has nothing to compare with (README, "Redis").
        'jeugdbrug_redis_memory_max_bytes 0',
      ]),
    );
  });

  it('says in one info line that a Redis configured as the README asks does not evict', async () => {
    const url = await ownRedis([]);
    const { lines, redisSeries } = await startOn(url);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        maxmemoryPolicy: 'noeviction',
        msg: 'redis maxmemory-policy is noeviction',
      }),
    ]);
    expect(redisSeries).toContain('jeugdbrug_redis_maxmemory_policy{policy="noeviction"} 1');
  });
});
