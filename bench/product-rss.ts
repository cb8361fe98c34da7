import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildAgreement, buildDestination, buildReferralEvent } from '../tests/helpers/builders';
import { exited, freePort, spawnProduct, writeConfigDir } from '../tests/helpers/product-process';
import { TestReceiver } from '../tests/helpers/receiver';
import { cleanupTestEnv, createTestEnv } from '../tests/helpers/test-runtime';

const EVENTS = 3000;
const BATCH = 100;
const IN_FLIGHT = 4;

/** Peak resident set size of a process, from the kernel (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'));
  const kb = Number(/(\d+)/.exec(line ?? '')?.[1]);
  if (!Number.isFinite(kb)) {
    throw new Error('VmHWM not readable');
  }
  return kb / 1024;
}

/**
 * The product's own peak memory: it runs as `npm start` does (ROLE=all, one process, PostgreSQL and Redis of the
 * tests, production retry and lock settings), takes EVENTS referrals end to end, and the kernel's high-water mark
 * of its resident set is read before it is stopped. The bench harness, receiver and stored bundles are not in it.
 */
export async function measureProductPeakRssMb(benchEnv: Record<string, string>): Promise<number> {
  const receiver = await new TestReceiver().start();
  const testEnv = createTestEnv({ ...benchEnv, RATE_LIMIT_PER_S: '100000', RATE_LIMIT_BURST: '100000' });
  const configDir = path.join(testEnv.dataDir, 'config');
  writeConfigDir(configDir, { agreements: [buildAgreement()], destinations: [buildDestination(receiver.url)] });
  const port = String(await freePort());
  const env = Object.fromEntries(
    Object.entries({ ...testEnv.env, CONFIG_DIR: configDir, PORT: port }).filter(([, v]) => v !== ''),
  );
  const child = spawnProduct(env, path.join(testEnv.dataDir, 'product.log'));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      const ready = await fetch(`${base}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) {
        break;
      }
      if (i > 600 || child.exitCode !== null) {
        throw new Error('the product did not become ready');
      }
      await sleep(100);
    }
    const batches = Array.from({ length: EVENTS / BATCH }, () =>
      Array.from({ length: BATCH }, () => buildReferralEvent()),
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < batches.length) {
          const batch = batches[next++];
          const res = await fetch(`${base}/his/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${testEnv.keys.practice}`, 'content-type': 'application/json' },
            body: JSON.stringify(batch),
          });
          if (res.status !== 202) {
            throw new Error(`POST answered ${res.status}`);
          }
          await res.body?.cancel();
        }
      }),
    );
    for (let i = 0; receiver.stored.size < EVENTS; i++) {
      if (i > 3000) {
        throw new Error(`only ${receiver.stored.size} of ${EVENTS} delivered`);
      }
      await sleep(100);
    }
    return peakRssMb(child.pid ?? 0);
  } finally {
    child.kill('SIGTERM');
    await exited(child);
    await receiver.stop();
    await cleanupTestEnv(testEnv);
  }
}
