import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { isRedisUp } from '../../src/kernel/redis';
import { freePort } from './product-process';
import { waitFor } from './wait-for';

/**
 * A PostgreSQL and a Redis of a test's own, in a temporary directory on free ports, for tests that stop, restart or
 * kill them. The machine's shared servers are never touched.
 */

/** The newest PostgreSQL server binaries the machine has (Debian: /usr/lib/postgresql/<major>/bin). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const major of majors) {
    const bin = path.join(root, major, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb'))) {
      return bin;
    }
  }
  throw new Error('No PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)');
}

export interface OwnPostgres {
  readonly url: string;
  /** Stops the server (fast shutdown: backends are terminated with 57P01). */
  stop(): void;
  /** Starts it (again); a no-op while it runs. */
  start(): void;
  /** Terminates every other backend, as `pg_terminate_backend` by an operator would. */
  terminateBackends(): Promise<number>;
  /** Stops the server and removes its directory. */
  destroy(): void;
}

/** initdb refuses to run as root: as root, the cluster belongs to the `postgres` OS user. */
function asServerUser(bin: string, args: string[]): void {
  const runAsPostgres = process.getuid?.() === 0;
  if (runAsPostgres) {
    execFileSync('runuser', ['-u', 'postgres', '--', bin, ...args], { stdio: 'ignore' });
  } else {
    execFileSync(bin, args, { stdio: 'ignore' });
  }
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = postgresBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-pg-'));
  fs.chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    execFileSync('chown', ['postgres:postgres', dir]);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  asServerUser(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'root', '--no-sync', '-E', 'UTF8']);
  const ctl = (args: string[]) => asServerUser(path.join(bin, 'pg_ctl'), ['-D', data, ...args]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB`;
  const isRunning = () => {
    try {
      ctl(['status']);
      return true;
    } catch {
      return false;
    }
  };
  const start = () => {
    if (!isRunning()) {
      ctl(['-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    }
  };
  start();
  const url = `postgres://root@127.0.0.1:${port}/postgres`;
  return {
    url,
    start,
    stop: () => ctl(['-m', 'fast', '-w', 'stop']),
    async terminateBackends() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const rows = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        return rows.rowCount ?? 0;
      } finally {
        await client.end();
      }
    },
    destroy() {
      try {
        ctl(['-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OwnRedis {
  readonly url: string;
  /** Kills the server as a crash would: whatever it held in memory is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    await waitFor('own redis-server', () => isRedisUp(url), 20_000, 50);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }
  };
  await start();
  return {
    url,
    start,
    kill,
    async destroy() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
