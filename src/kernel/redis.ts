import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from './config';
import { DependencyUnavailableError, withTimeout } from './outage';

export interface RedisHandle {
  readonly url: string;
  /** Stops the redis-server we started, if we started one. */
  stop(): Promise<void>;
}

/** How long a probe waits for the answer to its PING. */
const PROBE_ANSWER_TIMEOUT_MS = 1000;

/** Answers whether a Redis server replies to PING at `url` within a short time. */
export async function isRedisUp(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 500,
    // A server that takes the connection and never answers (a hung Redis, a wrong port with another service on it)
    // is down too: without this the PING waited for good, and start-up with it.
    commandTimeout: PROBE_ANSWER_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    await disconnectAndWait(client);
  }
}

/**
 * Disconnects a client that neither retries nor reconnects, and resolves once its connection has closed.
 *
 * ioredis's disconnect() ends the socket and arms a ref'd 2 s timer that only the socket's 'close' event clears, so
 * returning straight after it left that timer to whoever called: when Redis was busy or stopped right after the probe
 * (`npm start`'s bootstrap), the close came after the caller had moved on. The wait is bounded by that same timer,
 * which destroys the socket. A client whose connection failed has ended already; disconnecting it again would arm the
 * timer for a 'close' event that has passed.
 */
export async function disconnectAndWait(client: Redis): Promise<void> {
  if (client.status === 'end') {
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  client.disconnect();
  await ended;
}

/** Throws a DependencyUnavailableError unless Redis answers at `url`: start-up waits on it. */
export async function assertRedisUp(url: string): Promise<void> {
  if (!(await isRedisUp(url))) {
    throw new DependencyUnavailableError('redis', 'Redis does not answer');
  }
}

/**
 * The Redis to use: `REDIS_URL` when set; else one answering on 127.0.0.1:6379; else a `redis-server` from PATH
 * started as a child with an append-only file in the data directory (so queued work survives a restart).
 */
export async function provideRedis(
  opts: {
    redisUrl?: string | undefined;
    startRedis: boolean;
    dataDir: string;
    /** Where a local Redis is looked for and started (tests use another port than the machine's). */
    localPort?: number;
    /** The server command looked up on PATH. */
    redisServer?: string;
  },
  log: Logger,
): Promise<RedisHandle> {
  const port = opts.localPort ?? 6379;
  const command = opts.redisServer ?? 'redis-server';
  const localUrl = `redis://127.0.0.1:${port}`;
  if (opts.redisUrl) {
    return { url: opts.redisUrl, stop: () => Promise.resolve() };
  }
  if (await isRedisUp(localUrl)) {
    return { url: localUrl, stop: () => Promise.resolve() };
  }
  const hasServer = spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
  if (!opts.startRedis || !hasServer) {
    throw new ConfigError(
      `No Redis: REDIS_URL is unset, nothing answers on 127.0.0.1:${port}, and ` +
        (hasServer ? 'START_REDIS=false.' : `${command} is not on PATH.`) +
        ' Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)' +
        ' or set REDIS_URL=redis://host:6379.',
    );
  }
  const dir = path.join(opts.dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  const child = spawn(
    command,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--appendonly',
      'yes',
      '--save',
      '',
      '--dir',
      dir,
      '--daemonize',
      'no',
    ],
    { stdio: 'ignore' },
  );
  log.info({ pid: child.pid, dir }, 'started redis-server');
  for (let i = 0; i < 100 && !(await isRedisUp(localUrl)); i++) {
    if (child.exitCode !== null) {
      throw new ConfigError(`redis-server exited with code ${child.exitCode} at start-up; see ${dir}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: localUrl, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) {
    return;
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  // At most 5 s; withTimeout clears its timer, so the wait cannot hold the process open after the exit.
  await withTimeout(exited, 5000, 'redis', 'redis-server stop').catch(() => undefined);
}
