import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, freePort, spawnProduct } from '../tests/helpers/product-process';
import { deleteQueueKeys, uniqueQueuePrefix } from './queue-keys';

const READY_TIMEOUT_MS = 90_000;
const EXIT_TIMEOUT_MS = 30_000;

/** Whether a URL answers 200 within two seconds. */
export async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Seconds from spawning the product as `npm start` does (embedded PGlite, a fresh data directory) until
 * `GET /health/ready` answers 200. Stops it with SIGTERM afterwards and fails when it does not exit cleanly.
 */
export async function measureReadySeconds(): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-bench-start-'));
  const logFile = path.join(dataDir, 'out.log');
  const prefix = uniqueQueuePrefix('benchstart');
  const port = await freePort();
  const readyUrl = `http://127.0.0.1:${port}/health/ready`;
  const started = performance.now();
  // No DATABASE_URL: the embedded PGlite default, created from scratch in the fresh data directory.
  const child = spawnProduct(
    { PORT: String(port), DATA_DIR: dataDir, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' },
    logFile,
  );
  try {
    let seconds: number | undefined;
    while (seconds === undefined) {
      if (child.exitCode !== null) {
        throw new Error(`product exited with code ${child.exitCode} before it was ready; see ${logFile}`);
      }
      if (performance.now() - started > READY_TIMEOUT_MS) {
        throw new Error(`product not ready after ${READY_TIMEOUT_MS / 1000} s; see ${logFile}`);
      }
      if (await isReady(readyUrl)) {
        seconds = (performance.now() - started) / 1000;
      } else {
        await sleep(50);
      }
    }
    child.kill('SIGTERM');
    const code = await Promise.race([exited(child), sleep(EXIT_TIMEOUT_MS).then(() => 'timeout' as const)]);
    if (code !== 0) {
      throw new Error(`product did not stop cleanly on SIGTERM (exit: ${String(code)}); see ${logFile}`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    return seconds;
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await deleteQueueKeys(prefix);
  }
}
