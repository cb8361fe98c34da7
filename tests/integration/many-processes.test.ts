import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { openDb, type Db } from '../../src/kernel/db';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { exited, freePort, spawnProduct, waitForReady, writeConfigDir } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv, TEST_DATABASE_URL } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const EVENTS = 80;
const BATCH = 5;
const DELIVER_CONCURRENCY = 4;

/**
 * Two `ROLE=api` and three `ROLE=worker` processes, each `npm start` on its own, sharing one PostgreSQL schema and
 * one Redis queue prefix, as a scaled-out deployment runs. One worker is killed outright mid-run and started again.
 */
describe('2 API processes and 3 worker processes on one PostgreSQL and one Redis', () => {
  let receiver: DeliveryReceiver;
  let db: Db;
  const apis: { url: string; child: ChildProcess; logFile: string }[] = [];
  const workers: ChildProcess[] = [];
  const testEnv = createTestEnv({
    // Long enough that a live worker's lock never lapses on a busy machine (a lapsed lock would let a second
    // worker take a job that is still running); the killed worker's jobs come back after it.
    JOB_LOCK_MS: '8000',
    DELIVER_CONCURRENCY: String(DELIVER_CONCURRENCY),
    LOG_LEVEL: 'warn',
  });

  const startWorker = (): ChildProcess => {
    const w = spawnProduct(
      { ...testEnv.env, ROLE: 'worker' },
      path.join(testEnv.dataDir, `worker-${workers.length}.log`),
    );
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    receiver = await new DeliveryReceiver().start();
    const configDir = path.join(testEnv.dataDir, 'config');
    writeConfigDir(configDir, {
      agreements: [buildAgreement()],
      destinations: [buildDestination(receiver.url('/fhir'))],
    });
    testEnv.env.CONFIG_DIR = configDir;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const logFile = path.join(testEnv.dataDir, `api-${i}.log`);
      const child = spawnProduct({ ...testEnv.env, ROLE: 'api', PORT: String(port) }, logFile);
      apis.push({ url: `http://127.0.0.1:${port}`, child, logFile });
    }
    for (const api of apis) {
      await waitForReady(api.url, api.child, api.logFile, 120_000);
    }
    for (let i = 0; i < 3; i++) {
      startWorker();
    }
    db = await openDb({
      databaseUrl: TEST_DATABASE_URL,
      schema: testEnv.schema,
      poolSize: 2,
      dataDir: testEnv.dataDir,
    });
  }, 180_000);

  afterAll(async () => {
    const all = [...apis.map((a) => a.child), ...workers];
    all.forEach((c) => c.kill('SIGTERM'));
    await Promise.race([Promise.all(all.map(exited)), new Promise((r) => setTimeout(r, 20_000))]);
    all.forEach((c) => c.kill('SIGKILL'));
    await db?.close();
    await receiver.stop();
    await cleanupTestEnv(testEnv);
  }, 60_000);

  it('delivers every event once per idempotency key through a worker crash, with valid audit chains', async () => {
    // Slow answers keep deliveries in flight on every worker.
    receiver.mode = { kind: 'slow', delayMs: 150 };
    const ids: string[] = [];
    const post = async (i: number) => {
      const api = apis[i % 2]!;
      const res = await fetch(`${api.url}/his/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testEnv.keys.practice}`, 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: BATCH }, () => buildReferralEvent())),
      });
      expect(res.status).toBe(202);
      ids.push(...((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id));
    };
    const batches = EVENTS / BATCH;
    for (let i = 0; i < batches / 2; i++) {
      await post(i);
    }

    await waitFor('deliveries to be under way', () => receiver.deliveries.length >= 5, 120_000, 100);
    const victim = workers[0]!;
    victim.kill('SIGKILL');
    await exited(victim);
    const killedAt = Date.now();
    for (let i = batches / 2; i < batches; i++) {
      await post(i);
    }
    startWorker();
    receiver.mode = { kind: 'ok' };

    const rows = await waitFor(
      `all ${EVENTS} events delivered`,
      async () => {
        const r = await db.query<{ state: string; idempotency_key: string }>(
          `SELECT i.state, d.idempotency_key FROM inbox i JOIN delivery d ON d.inbox_id = i.id WHERE i.id = ANY($1::uuid[])`,
          [ids],
        );
        return r.length === EVENTS && r.every((x) => x.state === 'delivered') ? r : undefined;
      },
      180_000,
      500,
    );
    expect(ids).toHaveLength(EVENTS);
    const keys = rows.map((r) => r.idempotency_key);
    expect(new Set(keys).size).toBe(EVENTS);
    const hits = new Map<string, number[]>();
    for (const h of receiver.deliveries) {
      hits.set(h.idempotencyKey, [...(hits.get(h.idempotencyKey) ?? []), h.at]);
    }
    // Every event reached the municipality under its one key, and nothing else did.
    expect([...hits.keys()].sort()).toEqual([...keys].sort());
    // A key arrives twice only when the killed worker had sent it and died before recording the answer: its first
    // arrival is before the kill, and there can be no more such keys than the worker had deliveries in flight.
    const repeated = [...hits.entries()].filter(([, at]) => at.length > 1);
    expect(repeated.filter(([, at]) => Math.min(...at) > killedAt)).toEqual([]);
    expect(repeated.length).toBeLessThanOrEqual(DELIVER_CONCURRENCY);

    // Both APIs and four worker processes appended to the practice's one chain; it verifies from either API.
    for (const api of apis) {
      const res = await fetch(`${api.url}/audit/v1/verify?tenant=${PRACTICE_AGB}`, {
        headers: { authorization: `Bearer ${testEnv.keys.auditor}` },
      });
      expect(res.status).toBe(200);
      const verdict = (await res.json()) as { ok: boolean; rows: number; headSeq: number };
      expect(verdict).toEqual(expect.objectContaining({ ok: true }));
      expect(verdict.rows).toBe(verdict.headSeq);
      // At least a receipt, a decision and a disclosure per event.
      expect(verdict.rows).toBeGreaterThanOrEqual(3 * EVENTS);
    }
  }, 300_000);
});
