import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../helpers/own-services';
import { freePort, spawnProduct, waitForReady, writeConfigDir } from '../helpers/product-process';
import { TestReceiver } from '../helpers/receiver';
import { createTestEnv, type TestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The product as a process of its own (`npm start`), on a PostgreSQL and a Redis of this test's own, which the test
 * stops, restarts and kills. What must hold: the process stays up, answers 503 (never 500) while a dependency is
 * away, recovers by itself, loses nothing, and never sends a delivery again after the receiver said 2xx.
 */
function isJsonObject(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

describe('dependencies failing under load', () => {
  let postgres: OwnPostgres;
  let redis: OwnRedis;
  let receiver: TestReceiver;
  let testEnv: TestEnv;
  let product: ChildProcess;
  let base = '';
  const statuses: number[] = [];

  beforeAll(async () => {
    [postgres, redis, receiver] = await Promise.all([startOwnPostgres(), startOwnRedis(), new TestReceiver().start()]);
    const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-faults-config-'));
    writeConfigDir(configDir, { agreements: [buildAgreement()], destinations: [buildDestination(receiver.url)] });
    const port = await freePort();
    testEnv = createTestEnv();
    product = spawnProduct(
      {
        ...testEnv.env,
        DATABASE_URL: postgres.url,
        REDIS_URL: redis.url,
        CONFIG_DIR: configDir,
        PORT: String(port),
        // The reconciler is what brings work back after Redis lost it; every second here instead of every minute.
        RECONCILE_INTERVAL_MS: '1000',
        DATABASE_POOL_SIZE: '5',
        // The receiver holds some answers for 1.5 s below: far inside the send timeout and the job lock, so that a
        // second send could only come from a failed recording, not from a slow machine timing the first one out.
        DELIVERY_TIMEOUT_MS: '15000',
        JOB_LOCK_MS: '15000',
      },
      testEnv.logFile,
    );
    base = `http://127.0.0.1:${port}`;
    await waitForReady(base, product, testEnv.logFile);
  }, 120_000);

  afterAll(async () => {
    product?.kill('SIGKILL');
    await receiver?.stop();
    await redis?.destroy();
    postgres?.destroy();
    if (testEnv) {
      fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
    }
  });

  const auth = () => ({ authorization: `Bearer ${testEnv.keys.practice}` });

  /** Submits one event as a HIS would: a 503 is retried after a moment; anything else is the answer. */
  async function submit(event: unknown): Promise<string> {
    for (;;) {
      const res = await fetch(`${base}/his/v1/events`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: JSON.stringify(event),
      }).catch(() => undefined);
      if (!res) {
        throw new Error('the product did not answer at all');
      }
      statuses.push(res.status);
      if (res.status === 503) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const body = (await res.json()) as { receipts: { id: string; status: string }[] };
      expect(res.status).toBe(202);
      return body.receipts[0]!.id;
    }
  }

  interface View {
    state: string;
    deliveries: { state: string; attempts: number }[];
  }

  async function view(id: string): Promise<View | undefined> {
    const res = await fetch(`${base}/his/v1/events/${id}`, { headers: auth() });
    statuses.push(res.status);
    return res.status === 200 ? ((await res.json()) as View) : undefined;
  }

  async function allDelivered(ids: readonly string[]): Promise<View[]> {
    return waitFor(
      `all ${ids.length} events to be delivered`,
      async () => {
        const views = await Promise.all(ids.map(view));
        return views.every((v) => v?.state === 'delivered') ? (views as View[]) : undefined;
      },
      120_000,
      500,
    );
  }

  function expectSentOnceEach(ids: readonly string[], views: readonly View[]): void {
    const hitsByKey = new Map<string, number>();
    for (const hit of receiver.hits) {
      hitsByKey.set(hit.idempotencyKey, (hitsByKey.get(hit.idempotencyKey) ?? 0) + 1);
    }
    expect(receiver.stored.size).toBeGreaterThanOrEqual(ids.length);
    expect([...hitsByKey.entries()].filter(([, n]) => n > 1)).toEqual([]);
    // Attempts counted truthfully: one send, one attempt.
    expect(views.flatMap((v) => v.deliveries.map((d) => d.attempts))).toEqual(ids.map(() => 1));
  }

  it('stays up through terminated backends and a PostgreSQL restart, answers 503 meanwhile, and sends once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(await submit(buildReferralEvent()));
    }
    // An operator terminates every connection of the product, twice, while work is under way.
    for (let i = 0; i < 10; i++) {
      ids.push(await submit(buildReferralEvent()));
      if (i % 5 === 0) {
        await postgres.terminateBackends();
      }
    }
    await allDelivered(ids);

    // Now hold the receiver's answers so that they come back while PostgreSQL is down: the 2xx arrives, recording it
    // cannot, and the retry must record without sending again.
    receiver.mode = { kind: 'slow', delayMs: 1500 };
    const hitsBefore = receiver.hits.length;
    const held: string[] = [];
    for (let i = 0; i < 8; i++) {
      held.push(await submit(buildReferralEvent()));
    }
    await waitFor('sends to be in flight', () => receiver.hits.length >= hitsBefore + 4, 60_000, 20);
    postgres.stop();
    try {
      // Meanwhile the API says "come back later", with Retry-After, instead of failing.
      const probe = await fetch(`${base}/his/v1/events/${ids[0]}`, { headers: auth() });
      expect(probe.status).toBe(503);
      expect(probe.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await probe.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).toBe(503);
      // Let every held send be answered while the database is away.
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      receiver.mode = { kind: 'ok' };
      postgres.start();
    }
    for (let i = 0; i < 5; i++) {
      held.push(await submit(buildReferralEvent()));
    }
    const all = [...ids, ...held];
    const views = await allDelivered(all);

    expect(product.exitCode).toBeNull();
    expectSentOnceEach(all, views);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses).toContain(202);
    const log = fs.readFileSync(testEnv.logFile, 'utf8');
    expect(log).not.toContain("Unhandled 'error' event");
    // The held sends were answered while PostgreSQL was down: their recording was retried, not their sending.
    expect(log).toContain('UnrecordedAcceptanceError');
  }, 240_000);

  it('waits at start-up for a PostgreSQL that is not up yet, logging its back-off, instead of exiting', async () => {
    postgres.stop();
    const port = await freePort();
    const env = createTestEnv();
    const logFile = path.join(env.dataDir, 'start.log');
    const late = spawnProduct(
      { ...env.env, DATABASE_URL: postgres.url, REDIS_URL: redis.url, PORT: String(port), STARTUP_WAIT_MS: '120000' },
      logFile,
    );
    try {
      await waitFor(
        'the wait to be logged',
        () => fs.readFileSync(logFile, 'utf8').includes('dependency unavailable'),
        60_000,
        100,
      );
      expect(late.exitCode).toBeNull();
      postgres.start();
      await waitFor(
        'the late product to be ready',
        async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200,
        90_000,
        200,
      );
    } finally {
      postgres.start();
      late.kill('SIGKILL');
      fs.rmSync(env.dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('answers 202 while Redis is down and delivers every event once Redis is back', async () => {
    const hitsBefore = receiver.hits.length;
    await redis.kill();
    const ids: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        // The HIS gives up after 2 s: every event must be accepted within that.
        const res = await fetch(`${base}/his/v1/events`, {
          method: 'POST',
          headers: { ...auth(), 'content-type': 'application/json' },
          body: JSON.stringify(buildReferralEvent()),
          signal: AbortSignal.timeout(2000),
        });
        expect(res.status).toBe(202);
        ids.push(((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id);
      }
      // Admin routes that read the queues answer too (503) instead of hanging.
      const queues = await fetch(`${base}/admin/v1/queues`, {
        headers: { authorization: `Bearer ${testEnv.keys.operator}` },
        signal: AbortSignal.timeout(2000),
      });
      expect(queues.status).toBe(503);
      expect(receiver.hits.length).toBe(hitsBefore);
      // The shared client's connection errors reach every queue on it, and the outage is logged once, as one line.
      await waitFor('the Redis outage in the log', () =>
        /"dependency":"redis".*"msg":"dependency outage started"/.test(fs.readFileSync(testEnv.logFile, 'utf8')),
      );
    } finally {
      // Back, but empty: what was queued is gone, and the reconciler must find it again in PostgreSQL.
      await redis.start();
    }
    const views = await allDelivered(ids);
    expect(product.exitCode).toBeNull();
    expect(receiver.hits.length).toBe(hitsBefore + ids.length);
    expect(views.flatMap((v) => v.deliveries.map((d) => d.state))).toEqual(ids.map(() => 'delivered'));
    // Log pipelines read one JSON object per line: no library printed its errors around the logger meanwhile.
    const notJson = fs
      .readFileSync(testEnv.logFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !isJsonObject(line));
    expect(notJson.slice(0, 5)).toEqual([]);
  }, 240_000);
});
