import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ConfigError } from '../../src/kernel/config';
import { isRedisUp, provideRedis } from '../../src/kernel/redis';
import { timersLeftBehind } from '../helpers/leftover-timers';
import { freePort } from '../helpers/product-process';

const log = pino({ level: 'silent' });

describe('Redis for `npm start` without REDIS_URL', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-redis-'));
  });

  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('uses the Redis that answers locally, starting nothing', async () => {
    const redis = await provideRedis({ startRedis: true, dataDir }, log);
    expect(redis.url).toBe('redis://127.0.0.1:6379');
    await redis.stop();
    expect(await isRedisUp(redis.url)).toBe(true);
  });

  it('starts redis-server from PATH with an append-only file in the data directory, and stops it', async () => {
    const port = await freePort();
    const redis = await provideRedis({ startRedis: true, dataDir, localPort: port }, log);
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
      expect(await isRedisUp(redis.url)).toBe(true);
      // Redis 7 keeps its AOF in a directory of its own under --dir.
      const files = fs.readdirSync(path.join(dataDir, 'redis'), { recursive: true }).map(String);
      expect(files.some((f) => f.includes('appendonly'))).toBe(true);
    } finally {
      await redis.stop();
    }
    expect(await isRedisUp(redis.url)).toBe(false);
  });

  it('leaves no timer behind to hold the process open: a probe that is refused, a redis-server stopped', async () => {
    // Timers that keep a process alive after `npm start` has stopped, or a Jest worker after its last test.
    const left = await timersLeftBehind(async () => {
      expect(await isRedisUp(`redis://127.0.0.1:${await freePort()}`)).toBe(false);
      const redis = await provideRedis({ startRedis: true, dataDir, localPort: await freePort() }, log);
      await redis.stop();
    });
    expect(left).toEqual([]);
  });

  it('leaves no timer behind when the process was busy while its redis-server stopped', async () => {
    // Under CPU load (CI with several Jest workers) the process may not run while redis-server reads the last probe's
    // close and exits on SIGTERM; it then learns of the socket's close and the server's exit in one turn of its event
    // loop, and stop() resolves on the exit before the socket's 'close' event has cleared ioredis's 2 s timer.
    const left = await timersLeftBehind(async () => {
      const redis = await provideRedis({ startRedis: true, dataDir, localPort: await freePort() }, log);
      const stopped = redis.stop();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      await stopped;
    });
    expect(left).toEqual([]);
  });

  it('leaves no timer behind after a probe answered by a Redis slow to close the connection', async () => {
    // A busy redis-server (or one stopped right after the probe, as `npm start` does on a failed start-up) notices
    // the probe's close late; ioredis's disconnect() meanwhile holds a ref'd 2 s timer until the socket has closed.
    const redis = await slowToClose(6379, 300);
    try {
      let up: boolean | undefined;
      expect(await timersLeftBehind(async () => (up = await isRedisUp(redis.url)))).toEqual([]);
      expect(up).toBe(true);
    } finally {
      await redis.close();
    }
  });

  it('exits with one clear message when there is no Redis and no redis-server', async () => {
    const port = await freePort();
    const attempt = provideRedis(
      { startRedis: true, dataDir, localPort: port, redisServer: 'no-such-redis-server' },
      log,
    );
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(
      provideRedis({ startRedis: true, dataDir, localPort: port, redisServer: 'no-such-redis-server' }, log),
    ).rejects.toThrow(/no-such-redis-server is not on PATH\. Install Redis .* or set REDIS_URL=/);
  });
});

/**
 * A stand-in in front of the Redis on `port` that passes everything through but closes a connection the client has
 * ended only `delayMs` later (its own timer unref'd, so it does not count as the code under test's).
 */
async function slowToClose(port: number, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream, { end: false });
    upstream.pipe(client, { end: false });
    client.on('end', () =>
      setTimeout(() => {
        upstream.end();
        client.end();
      }, delayMs).unref(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${own}`,
    close: () => {
      for (const s of sockets) {
        s.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
