import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { disconnectAndWait } from '../../src/kernel/redis';
import { waitFor } from './wait-for';

/**
 * Starts a `redis-server` of a test's (or the soak's) own on 127.0.0.1, configured as the README asks of a
 * production Redis: append-only file fsynced every second, no RDB snapshots, nothing evicted. `extra` adds
 * arguments (cluster mode).
 */
export function spawnRedisServer(port: number, dir: string, extra: readonly string[] = []): ChildProcess {
  return spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
}

/** Runs `fn` on a short-lived client of the server at `port` that neither retries nor reconnects. */
export async function withRedis<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    await disconnectAndWait(r);
  }
}

/** Waits until the server at `port` answers PING. */
export async function waitForRedis(port: number): Promise<void> {
  await waitFor(
    `redis-server :${port} to answer`,
    () => withRedis(port, async (r) => (await r.ping()) === 'PONG').catch(() => false),
    20_000,
    100,
  );
}
