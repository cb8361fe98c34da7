import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exited, freePort } from '../helpers/product-process';
import { spawnRedisServer, waitForRedis, withRedis } from '../helpers/redis-server';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** The connections of a Redis, but the one asking: BullMQ's carry a name (its prefix and queue), this process's not. */
async function connections(port: number): Promise<{ named: number; unnamed: number }> {
  return withRedis(port, async (r) => {
    const own = await r.client('ID');
    const lines = String(await r.client('LIST'))
      .split('\n')
      .filter((line) => line.startsWith('id=') && !line.startsWith(`id=${own} `));
    const unnamed = lines.filter((line) => / name= /.test(line)).length;
    return { named: lines.length - unnamed, unnamed };
  });
}

/** The connections once they have settled: the same twice in a row, a moment apart (BullMQ names its own as it opens). */
async function settledConnections(port: number): Promise<{ named: number; unnamed: number }> {
  let last = await connections(port);
  return waitFor('the connections to settle', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await connections(port);
    const same = now.named === last.named && now.unnamed === last.unnamed;
    last = now;
    return same ? now : undefined;
  });
}

// The monitoring reports' slots (MONITORING_REPORT_CONCURRENCY) limit the reports requests ask for: only an API
// process computes those. A worker's scheduled pushes are not limited, so a worker held a Redis connection it never
// used; an API process held it beside the rate limiter's, though both fail fast in the same way.
describe('the Redis connections a process opens for its role', () => {
  let dir: string;
  let port: number;
  let server: ReturnType<typeof spawnRedisServer>;
  let testEnv: TestEnv;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-connections-'));
    port = await freePort();
    server = spawnRedisServer(port, dir);
    testEnv = createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
    await waitForRedis(port);
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    if (server) {
      await exited(server);
    }
    await cleanupTestEnv(testEnv);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a worker opens only the shared client beside its queue workers, and has no monitoring report slots', async () => {
    const app = await startTestApp({ testEnv, env: { ROLE: 'worker' } });
    try {
      const seen = await settledConnections(port);
      // The queue workers' blocking connections, named by BullMQ.
      expect(seen.named).toBeGreaterThan(0);
      // The one client shared by the queues, the workers' commands and the destination rate limiters.
      expect(seen.unnamed).toBe(1);
      expect(app.rt.ctx.monitoringReports).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('an API process counts its monitoring report slots on the rate limiter’s connection', async () => {
    const app = await startTestApp({ testEnv, env: { ROLE: 'api' } });
    try {
      // The shared client, the console sessions' and the one failing fast for the rate limit, the refused
      // credentials and the monitoring report slots.
      expect(await settledConnections(port)).toEqual({ named: 0, unnamed: 3 });
      expect(app.rt.ctx.monitoringReports).toBeDefined();
    } finally {
      await app.close();
    }
  });
});
