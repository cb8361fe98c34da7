import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { trackQueuePrefix } from './queue-prefixes';
import packageJson from '../../package.json';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The Node flags `npm start` gives the product (package.json's start script, between `node` and `--import`), so that
 * the tests and benches run it as it is deployed; tests/unit/docker-compose.test.ts holds the image's CMD to them.
 */
export const START_NODE_FLAGS: readonly string[] = ((script: string) => {
  const words = script.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('--import'));
})(packageJson.scripts.start);

/**
 * Runs the product as `npm start` does (`node <START_NODE_FLAGS> --import tsx src/main.ts`): one process, so
 * a signal sent to it, SIGKILL included, reaches the product itself and not a wrapper that would leave it running.
 * Its QUEUE_PREFIX is noted as the test file's: a key the process leaves under it fails the file.
 */
export function spawnProduct(env: Record<string, string>, logFile: string): ChildProcess {
  if (env.QUEUE_PREFIX) {
    trackQueuePrefix(env.QUEUE_PREFIX);
  }
  const out = fs.openSync(logFile, 'a');
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  return spawn(process.execPath, [...START_NODE_FLAGS, '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', out, out],
  });
}

/**
 * Resolves with the exit code once the process has ended (null when a signal ended it). A process a signal ended has
 * no exit code: it has ended when either is set, or its 'exit' event, already emitted, would be waited for in vain.
 */
export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Writes agreements and destinations as configuration files, as an operator would. */
export function writeConfigDir(dir: string, files: { agreements: unknown[]; destinations: unknown[] }): void {
  for (const [kind, items] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, kind), { recursive: true });
    items.forEach((item, i) => fs.writeFileSync(path.join(dir, kind, `${i}.json`), JSON.stringify(item, null, 2)));
  }
}

/**
 * The lowest port the kernel hands out for outgoing connections (`ip_local_port_range`); 32768 on Linux by default.
 * Ports below it are never taken by a connect(), only by a listen().
 */
function ephemeralPortsStart(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/** Whether a listen on `port` succeeds right now. */
function canListen(port: number): Promise<boolean> {
  const srv = net.createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port nothing listens on right now, for a product process whose URL the test must know in advance. Chosen at
 * random below the kernel's range for outgoing connections: a port from that range (what listen(0) gives) can be taken
 * by any test's database or Redis connection in the seconds before the product listens on it, and the product then
 * fails to start with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  // A machine shared by several test runs gives each a range of its own: TEST_PORTS=7160-7179.
  const range = /^(\d+)-(\d+)$/.exec(process.env.TEST_PORTS ?? '');
  const high = range ? Number(range[2]) + 1 : ephemeralPortsStart();
  const low = range ? Number(range[1]) : Math.max(1024, high - 12_000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) {
      return port;
    }
  }
  throw new Error(`No free port found between ${low} and ${high}`);
}

/**
 * Waits until `check` holds for the product process `child`, polling every 200 ms. Fails at once, with the end of its
 * log, when the process ends first (a port taken between `freePort` and its listen, a start-up error), rather than
 * polling a process that is gone until the timeout and leaving no clue why. The timeout is an upper bound for a
 * machine under heavy load (a start-up there took more than 30 s), not how long a start takes.
 */
async function waitForProduct(
  what: string,
  child: ChildProcess,
  logFile: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const logEnd = (): string => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '(no log)');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `The product ended (${child.exitCode ?? child.signalCode}) while waiting for ${what}; its log ends:\n${logEnd()}`,
      );
    }
    if (await check()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}; its log ends:\n${logEnd()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the product at `baseUrl` answers `/health/ready` with 200 (`waitForProduct`). */
export function waitForReady(baseUrl: string, child: ChildProcess, logFile: string, timeoutMs = 90_000): Promise<void> {
  return waitForProduct(
    `${baseUrl} to be ready`,
    child,
    logFile,
    async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.status === 200,
    timeoutMs,
  );
}

/**
 * Waits until the product's log has a line with message `msg` (`"msg":"workers started"`: a worker process, which
 * listens on no port, has started its queue workers), as `waitForReady` waits.
 */
export function waitForLogLine(child: ChildProcess, logFile: string, msg: string, timeoutMs = 120_000): Promise<void> {
  const line = `"msg":${JSON.stringify(msg)}`;
  return waitForProduct(
    `its log line "${msg}"`,
    child,
    logFile,
    () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes(line),
    timeoutMs,
  );
}

/**
 * The problems a start-up refused with, from its log: every line of which must be JSON (a log pipeline reads it),
 * with one `fatal` line that lists them. Throws, quoting the log, when the log is not that.
 */
export function refusedStartProblems(logFile: string): {
  problems: string[];
  fatal: Record<string, unknown>;
} {
  const text = fs.readFileSync(logFile, 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const notJson = lines.filter((l) => !l.startsWith('{'));
  if (notJson.length > 0) {
    throw new Error(`Lines of the log are not JSON:\n${notJson.join('\n')}`);
  }
  const fatal = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'fatal');
  if (fatal.length !== 1 || !Array.isArray(fatal[0]!.problems)) {
    throw new Error(`Not one fatal line with the problems listed:\n${text}`);
  }
  return { problems: fatal[0]!.problems as string[], fatal: fatal[0]! };
}
