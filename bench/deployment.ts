import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { buildAgreement, buildDestination } from '../tests/helpers/builders';
import { exited, freePort, spawnProduct, START_NODE_FLAGS, writeConfigDir } from '../tests/helpers/product-process';
import { isReady } from './startup';
import { cleanupTestEnv, createTestEnv, TEST_REDIS_URL, type TestEnv } from '../tests/helpers/test-runtime';

/**
 * The product as it is deployed, for the pipeline benchmarks: separate processes started as `npm start` starts one
 * (`node <START_NODE_FLAGS> --import tsx src/main.ts`), on the PostgreSQL server and Redis of the tests, each
 * deployment in its own schema and queue prefix (dropped afterwards). The load generator and the stand-in receiver
 * stay in the bench process, so what the product costs is measured apart from what the harness costs.
 */

const ROOT = path.resolve(__dirname, '..');
const READY_TIMEOUT_MS = 120_000;

/**
 * createTestEnv tunes retries, locks and the reconciler for failure tests; a benchmark runs with the product's
 * defaults instead (an empty value counts as unset, and is left out of the child's environment). Logs go to the
 * data directory, warnings and worse only. One API key stands in for many practices, each of which would have its
 * own rate-limit bucket, so the limit is lifted (the default, 50/s, would refuse an open-loop 200/s).
 */
export const BENCH_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  DELIVERY_BACKOFF_BASE_MS: '',
  DELIVERY_BACKOFF_MAX_MS: '',
  DELIVERY_MAX_ATTEMPTS: '',
  DELIVERY_TIMEOUT_MS: '',
  JOB_LOCK_MS: '',
  RECONCILE_INTERVAL_MS: '',
  RECONCILE_GRACE_MS: '',
  RATE_LIMIT_PER_S: '1000000',
  RATE_LIMIT_BURST: '1000000',
};

export interface Deployment {
  readonly testEnv: TestEnv;
  /** The API's base URL. */
  readonly url: string;
  /** The process that serves the API (ROLE=all or ROLE=api). */
  readonly api: ChildProcess;
  readonly processes: readonly ChildProcess[];
  stop(): Promise<void>;
}

/**
 * Spawns one product process as `npm start` does. With BENCH_CPU_PROF=<dir> each one also writes a V8 CPU profile
 * there when it exits (`--cpu-prof` is not allowed in NODE_OPTIONS, so it has to be a flag of the process itself).
 */
function spawnProductProcess(env: Record<string, string>, logFile: string): ChildProcess {
  const profileDir = process.env.BENCH_CPU_PROF;
  if (!profileDir) {
    return spawnProduct(env, logFile);
  }
  const out = fs.openSync(logFile, 'a');
  return spawn(
    process.execPath,
    [...START_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--import', 'tsx', 'src/main.ts'],
    { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', out, out] },
  );
}

function childEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
}

/** The number on the line of `/proc/<pid>/<file>` that starts with `key` (`VmHWM:` in `status`, `syscw:` in `io`). */
function procFigure(pid: number | undefined, file: string, key: string): number {
  const line = fs
    .readFileSync(`/proc/${pid ?? 0}/${file}`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(key));
  const value = Number(/(\d+)/.exec(line ?? '')?.[1]);
  if (!Number.isFinite(value)) {
    throw new Error(`${key} not readable in /proc/<pid>/${file}`);
  }
  return value;
}

/** Peak resident set size of a live process, from the kernel (VmHWM, in kB), in MB. */
export function peakRssMb(pid: number | undefined): number {
  return procFigure(pid, 'status', 'VmHWM:') / 1024;
}

/** CPU time (user + system) a live process has used so far, in seconds, from the kernel (`/proc/<pid>/stat`). */
export function cpuSeconds(pid: number | undefined): number {
  // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
  const stat = fs.readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) {
    throw new Error('CPU time not readable');
  }
  // Linux reports in clock ticks of 1/100 s (USER_HZ) on every platform Node supports.
  return ticks / 100;
}

/**
 * Write system calls a live process has made so far (`syscw` in `/proc/<pid>/io`): nearly all of the product's are
 * socket writes, one per statement, Redis command or HTTP message that leaves on its own, so their count per event
 * says how well the round trips of concurrent events were coalesced.
 */
export function writeSyscalls(pid: number | undefined): number {
  return procFigure(pid, 'io', 'syscw:');
}

/** Waits until BullMQ sees at least `count` workers on the `map` queue of the prefix. */
async function waitForWorkers(prefix: string, count: number, alive: () => boolean): Promise<void> {
  const queue = new Queue('map', { connection: { url: TEST_REDIS_URL }, prefix });
  try {
    for (const started = Date.now(); (await queue.getWorkersCount()) < count;) {
      if (!alive() || Date.now() - started > READY_TIMEOUT_MS) {
        throw new Error(`fewer than ${count} map workers started`);
      }
      await sleep(100);
    }
  } finally {
    await queue.close();
  }
}

/**
 * Starts the product delivering to `receiverUrl`: one ROLE=all process (`workers` 0), or one ROLE=api process and
 * `workers` ROLE=worker processes (`apiOnly`: the API alone). Resolves once the API answers `/health/ready` and
 * every worker listens.
 */
export async function startDeployment(
  receiverUrl: string,
  opts: { workers?: number; apiOnly?: boolean } = {},
): Promise<Deployment> {
  const workers = opts.workers ?? 0;
  const split = workers > 0 || opts.apiOnly === true;
  const testEnv = createTestEnv(BENCH_ENV);
  const configDir = path.join(testEnv.dataDir, 'config');
  writeConfigDir(configDir, { agreements: [buildAgreement()], destinations: [buildDestination(receiverUrl)] });
  const port = String(await freePort());
  const env = childEnv({ ...testEnv.env, CONFIG_DIR: configDir, PORT: port });
  const log = (name: string) => path.join(testEnv.dataDir, `${name}.log`);
  const api = spawnProductProcess({ ...env, ROLE: split ? 'api' : 'all' }, log('api'));
  const processes = [
    api,
    ...Array.from({ length: workers }, (_, i) =>
      spawnProductProcess({ ...env, ROLE: 'worker', PORT: '0' }, log(`worker-${i}`)),
    ),
  ];
  const stop = async (): Promise<void> => {
    processes.forEach((p) => p.kill('SIGTERM'));
    await Promise.all(processes.map(exited));
    await cleanupTestEnv(testEnv);
  };
  const alive = () => processes.every((p) => p.exitCode === null);
  try {
    const url = `http://127.0.0.1:${port}`;
    for (const started = Date.now(); !(await isReady(`${url}/health/ready`));) {
      if (!alive() || Date.now() - started > READY_TIMEOUT_MS) {
        throw new Error(`the product did not become ready (logs in ${testEnv.dataDir})`);
      }
      await sleep(100);
    }
    if (!opts.apiOnly) {
      await waitForWorkers(testEnv.prefix, Math.max(1, workers), alive);
    }
    return { testEnv, url, api, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Spawns a bench script as its own process with the product's Node flags; resolves once it prints `ready`. */
export async function spawnBenchProcess(
  script: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...START_NODE_FLAGS, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${String(code)} before it was ready`)));
  });
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}
