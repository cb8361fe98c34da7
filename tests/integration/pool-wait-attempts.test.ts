import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { buildReferralEvent } from '../helpers/builders';
import { holdConnections, metricSample } from '../helpers/held-connections';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-services';
import { TestReceiver } from '../helpers/receiver';
import { createTestEnv, deleteQueueKeys, startTestApp, type TestApp, type TestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * A worker whose database connections are all held (a bulk load) when a delivery's retry runs: the job waits 5 s for
 * a connection and gets none. That is the worker's own shortage, not the destination's: it must not spend one of the
 * delivery's attempts (here its last), and the delivery must go out once connections are free.
 */
describe('a delivery that cannot get a database connection in time', () => {
  let postgres: OwnPostgres;
  let observer: pg.Client;
  let receiver: TestReceiver;
  let testEnv: TestEnv;
  let api: TestApp;
  let worker: TestApp;

  beforeAll(async () => {
    postgres = await startOwnPostgres();
    observer = new pg.Client({ connectionString: postgres.url });
    await observer.connect();
    receiver = await new TestReceiver().start();
    testEnv = createTestEnv();
    const env = { DATABASE_URL: postgres.url, DELIVERY_MAX_ATTEMPTS: '2' };
    api = await startTestApp({ testEnv, receiverUrl: receiver.url, env: { ...env, ROLE: 'api' } });
    worker = await startTestApp({
      testEnv: { ...testEnv, logFile: path.join(testEnv.dataDir, 'worker.log') },
      receiverUrl: receiver.url,
      env: { ...env, ROLE: 'worker', DATABASE_POOL_SIZE: '2' },
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await receiver?.stop();
    await observer?.end().catch(() => undefined);
    postgres?.destroy();
    if (testEnv) {
      fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
      await deleteQueueKeys(testEnv.prefix);
    }
  }, 60_000);

  it('spends no attempt on the wait and delivers once connections are free', async () => {
    // The first attempt fails at the receiver, which asks for a retry in 4 s: the delivery's last attempt is next.
    receiver.mode = { kind: 'status', status: 503, retryAfter: '4' };
    const posted = await api.request('/his/v1/events', { json: [buildReferralEvent()] });
    expect(posted.status).toBe(202);
    await waitFor('the first attempt', () => receiver.hits.length === 1);
    receiver.mode = { kind: 'ok' };
    const release = await holdConnections(worker.rt.ctx.db, 2, observer);
    const deliverQueue = worker.rt.ctx.queues.getDeliverQueue('gm0226');
    try {
      // The retry waited its 5 s for a connection, got none, and is no longer running.
      await waitFor(
        'the retry to give up waiting for a connection',
        async () => {
          const timeouts = metricSample(
            await worker.rt.ctx.metrics.registry.metrics(),
            'jeugdbrug_db_connection_wait_timeouts_total{pool="main"}',
          );
          return (timeouts ?? 0) >= 1 && (await deliverQueue.getActiveCount()) === 0;
        },
        40_000,
      );
      expect(receiver.hits).toHaveLength(1);
    } finally {
      await release();
    }
    await waitFor(
      'the delivery to go out and be recorded',
      async () => {
        const { rows } = await observer.query<{ state: string }>(`SELECT state FROM ${testEnv.schema}.delivery`);
        if (rows.length !== 1 || rows[0]?.state !== 'delivered' || receiver.stored.size !== 1) {
          throw new Error(`deliveries ${JSON.stringify(rows)}, ${receiver.hits.length} requests at the receiver`);
        }
        return true;
      },
      30_000,
    );
    expect(receiver.hits).toHaveLength(2);
  }, 120_000);
});
