import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import { exited, spawnProduct, waitForLogLine, writeConfigDir } from '../helpers/product-process';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

describe('a worker process killed with SIGKILL mid-job', () => {
  let receiver: TestReceiver;
  let api: TestApp;
  const workers: ChildProcess[] = [];
  const testEnv = createTestEnv();

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    const configDir = path.join(testEnv.dataDir, 'config');
    writeConfigDir(configDir, { agreements: [buildAgreement()], destinations: [buildDestination(receiver.url)] });
    testEnv.env.CONFIG_DIR = configDir;
    api = await startTestApp({ testEnv, env: { ROLE: 'api', CONFIG_DIR: configDir } });
  });

  afterAll(async () => {
    // Ended before the queue keys are deleted: a worker still running would write some of them again.
    await Promise.all(
      workers.map((w) => {
        w.kill('SIGKILL');
        return exited(w);
      }),
    );
    await api.close();
    await receiver.stop();
    await cleanupTestEnv(testEnv);
  });

  it('loses nothing: after a restart every event is delivered and stored once per idempotency key', async () => {
    receiver.mode = { kind: 'slow', delayMs: 300 };
    // A worker's start-up took more than 30 s on a machine at load 20: each wait below is for a signal (the line the
    // worker logs once its queue workers run, the receiver's hits, the rows), bounded only generously.
    const startWorker = () => {
      const logFile = path.join(testEnv.dataDir, `worker-${workers.length}.log`);
      const w = spawnProduct({ ...testEnv.env, ROLE: 'worker' }, logFile);
      workers.push(w);
      return { w, started: () => waitForLogLine(w, logFile, 'workers started', 120_000) };
    };
    const first = startWorker();
    const res = await api.request('/his/v1/events', { json: Array.from({ length: 30 }, () => buildReferralEvent()) });
    expect(res.status).toBe(202);
    const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);

    await first.started();
    await waitFor('the worker to be mid-delivery', () => receiver.hits.length >= 3, 60_000);
    first.w.kill('SIGKILL');
    await exited(first.w);
    const deliveredBefore = receiver.stored.size;
    expect(deliveredBefore).toBeLessThan(30);

    receiver.mode = { kind: 'ok' };
    await startWorker().started();
    const keys = await waitFor(
      'every event delivered',
      async () => {
        const rows = await api.rt.ctx.db.query<{ state: string; idempotency_key: string }>(
          `SELECT i.state, d.idempotency_key FROM inbox i LEFT JOIN delivery d ON d.inbox_id = i.id WHERE i.id = ANY($1::uuid[])`,
          [ids],
        );
        return rows.length === 30 && rows.every((r) => r.state === 'delivered')
          ? rows.map((r) => r.idempotency_key)
          : undefined;
      },
      90_000,
      250,
    );
    expect(new Set(keys).size).toBe(30);
    for (const key of keys) {
      expect(receiver.stored.has(key)).toBe(true);
    }
    // Each key is stored once; a repeat on the wire (a POST that was in flight at the kill) carries the same key.
    const hitsPerKey = new Map<string, number>();
    receiver.hits.forEach((h) => hitsPerKey.set(h.idempotencyKey, (hitsPerKey.get(h.idempotencyKey) ?? 0) + 1));
    expect([...hitsPerKey.keys()].every((k) => keys.includes(k))).toBe(true);
  }, 420_000);
});
