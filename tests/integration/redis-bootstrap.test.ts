import fs from 'node:fs';
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
