import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { limitConnections, openDb } from '../../src/kernel/db';
import { Metrics } from '../../src/kernel/metrics';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-services';
import { createTestEnv, deleteQueueKeys, startTestApp, type TestApp, type TestEnv } from '../helpers/test-runtime';
import { holdConnections, metricSample as sample } from '../helpers/held-connections';
import { waitFor } from '../helpers/wait-for';

/**
 * Every connection of a process's pool held (as by a bulk load's jobs or slow requests) while PostgreSQL itself is
 * up: readiness must not take the process out of the load balancer for it, and the metrics must show who waits.
 * The PostgreSQL is this test's own, so that it can be stopped for the outage that readiness must still report.
 */

describe('a process whose database connections are all in use', () => {
  let postgres: OwnPostgres;
  let observer: pg.Client;
  let testEnv: TestEnv;
  let app: TestApp;

  beforeAll(async () => {
    postgres = await startOwnPostgres();
    observer = new pg.Client({ connectionString: postgres.url });
    // Stopping the server for the last test ends this connection too; its tests are over by then.
    observer.on('error', () => undefined);
    await observer.connect();
    testEnv = createTestEnv();
    app = await startTestApp({
      testEnv,
      env: { DATABASE_URL: postgres.url, ROLE: 'api', DATABASE_POOL_SIZE: '2' },
    });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await observer?.end().catch(() => undefined);
    postgres?.destroy();
    if (testEnv) {
      fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
      await deleteQueueKeys(testEnv.prefix);
    }
  }, 60_000);

  it('stays ready, saying its pool is busy, while PostgreSQL answers on a connection of its own', async () => {
    const release = await holdConnections(app.rt.ctx.db, 2, observer);
    try {
      const res = await app.request('/health/ready', { key: null });
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 200,
        body: { status: 'ok', database: true, redis: true, databasePool: 'busy' },
      });
    } finally {
      await release();
    }
    const after = await app.request('/health/ready', { key: null });
    expect(await after.json()).toEqual({ status: 'ok', database: true, redis: true });
  });

  it('reports callers waiting for a connection and how long they waited', async () => {
    const release = await holdConnections(app.rt.ctx.db, 2, observer);
    let waiter: Promise<unknown> | undefined;
    try {
      waiter = app.rt.ctx.db.query('SELECT 1');
      // The registry itself: a scrape of /metrics would queue its own reads of the figures kept in PostgreSQL.
      const during = await app.rt.ctx.metrics.registry.metrics();
      expect(sample(during, 'jeugdbrug_db_connections_waiting{pool="main"}')).toBe(1);
    } finally {
      await release();
    }
    await waiter;
    const after = await (await app.request('/metrics', { key: null })).text();
    expect(sample(after, 'jeugdbrug_db_connections_waiting{pool="main"}')).toBe(0);
    const count = sample(after, 'jeugdbrug_db_connection_wait_seconds_count{pool="main"}') ?? 0;
    expect(count).toBeGreaterThan(0);
    // The held wait lasted at least the scrape made meanwhile: not every wait was under a millisecond.
    expect(sample(after, 'jeugdbrug_db_connection_wait_seconds_bucket{le="0.001",pool="main"}')).toBeLessThan(count);
    expect(sample(after, 'jeugdbrug_db_connection_wait_timeouts_total{pool="main"}')).toBe(0);
  });

  it('reports the workers of a ROLE=all process waiting for their share of the pool apart', async () => {
    const db = await openDb({
      databaseUrl: postgres.url,
      schema: 'pool_busy_share',
      poolSize: 4,
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-pool-busy-')),
    });
    const metrics = new Metrics({ queueDepths: () => Promise.resolve([]), connectionWaits: db.connectionWaits });
    try {
      const share = limitConnections(db, 1);
      const release = await holdConnections(share, 1, observer);
      let waiter: Promise<unknown> | undefined;
      try {
        waiter = share.query('SELECT 1');
        const during = await metrics.scrape();
        expect(sample(during, 'jeugdbrug_db_connections_waiting{pool="workers"}')).toBe(1);
        // The pool itself has connections free: nobody waits there.
        expect(sample(during, 'jeugdbrug_db_connections_waiting{pool="main"}')).toBe(0);
      } finally {
        await release();
      }
      await waiter;
      const after = await metrics.scrape();
      expect(sample(after, 'jeugdbrug_db_connections_waiting{pool="workers"}')).toBe(0);
      expect(sample(after, 'jeugdbrug_db_connection_wait_seconds_count{pool="workers"}')).toBeGreaterThanOrEqual(2);
    } finally {
      await db.close();
    }
  });

  it('is not ready when PostgreSQL is down', async () => {
    postgres.stop();
    try {
      const res = await app.request('/health/ready', { key: null });
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 503,
        body: { status: 'unavailable', database: false, redis: true },
      });
    } finally {
      postgres.start();
    }
    await waitFor('ready again', async () => (await app.request('/health/ready', { key: null })).ok);
  });
});
