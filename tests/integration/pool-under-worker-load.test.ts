import fs from 'node:fs';
import pg from 'pg';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** The `msg` of every line the product logged to `file`. */
function logMessages(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
}

/**
 * One `ROLE=all` process (the default `npm start`) whose map workers hold every database connection they may take:
 * each map job's last statement waits on a row lock this test holds, as it would on a slow PostgreSQL under a bulk
 * load. The API shares the process and must go on answering, and nothing may be logged as a PostgreSQL outage: the
 * server answers all along.
 */
describe('the API of a ROLE=all process while its workers hold the database connections', () => {
  const POOL_SIZE = 4;
  // Consent is the legal basis and no event carries one: every map job ends in its own statement (denied), which is
  // what waits on the lock, one connection each.
  const registry = buildRegistry({
    agreements: [buildAgreement({ legalBasis: 'consent' })],
    destinations: [buildDestination('http://127.0.0.1:9/')],
  });
  const testEnv = createTestEnv();
  const backlog = Array.from({ length: 60 }, () => buildReferralEvent());
  let app: TestApp | undefined;
  let locker: pg.Client | undefined;
  // Asks from outside the locking transaction, which would see pg_stat_activity as it was when it first read it.
  let observer: pg.Client | undefined;
  let lockerPid: number | undefined;

  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await observer?.end().catch(() => undefined);
    await app?.close();
    await cleanupTestEnv(testEnv);
  }, 60_000);

  const lockHolders = async (): Promise<number> => {
    const [row] = (
      await observer!.query<{ n: number }>(
        // Waiting on this test's lock, or queued behind one that does (a row's later waiters wait on its first).
        `WITH RECURSIVE waiting (pid) AS (
           SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))
           UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY (pg_blocking_pids(a.pid))
         )
         SELECT count(*)::int AS n FROM waiting`,
        [lockerPid],
      )
    ).rows;
    return row?.n ?? 0;
  };

  it('answers API requests and logs no outage while the map workers wait on PostgreSQL', async () => {
    // The backlog is received by an API-only process first, so that its rows exist to be locked before any worker
    // takes a job.
    const receiving = await startTestApp({ testEnv, registry, env: { ROLE: 'api' } });
    try {
      expect((await receiving.request('/his/v1/events', { json: backlog })).status).toBe(202);
    } finally {
      await receiving.close();
    }
    locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    await locker.query(`SET search_path TO ${testEnv.schema}`);
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM inbox FOR UPDATE');
    lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    observer = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await observer.connect();

    app = await startTestApp({
      testEnv,
      registry,
      env: { ROLE: 'all', DATABASE_POOL_SIZE: String(POOL_SIZE), MAP_CONCURRENCY: '32' },
    });
    const started = app;
    // The workers have taken the connections they may: every one of them waits on the lock.
    // POOL_SIZE - 1: what a ROLE=all process's workers may hold of a pool of 4; before, they held all 4.
    await waitFor(
      'the map workers to wait on the locked rows',
      async () => (await lockHolders()) >= POOL_SIZE - 1,
      45_000,
    );

    const ready = await started.request('/health/ready', { key: null });
    const received = await started.request('/his/v1/events', { json: [buildReferralEvent()] });
    const auditSearch = await started.request('/fhir/AuditEvent?_count=1', { key: 'auditor' });
    const answers = {
      ready: { status: ready.status, body: await ready.json() },
      received: received.status,
      auditSearch: auditSearch.status,
    };
    await locker.query('ROLLBACK');
    const outageLines = logMessages(testEnv.logFile).filter((msg) => msg === 'dependency outage started');
    expect({ answers, outageLines }).toEqual({
      answers: {
        ready: { status: 200, body: { status: 'ok', database: true, redis: true } },
        received: 202,
        auditSearch: 200,
      },
      outageLines: [],
    });

    // The workers go on once the lock is gone: the whole backlog is decided (denied: no consent).
    await waitFor(
      'the backlog to be decided',
      async () => {
        const [row] = (
          await observer!.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${testEnv.schema}.inbox WHERE state = 'denied'`,
          )
        ).rows;
        return (row?.n ?? 0) >= backlog.length;
      },
      30_000,
    );
  }, 90_000);
});

/**
 * Every connection of a process's pool held (here by a transaction the test keeps open through the product's own
 * pool) while the server answers: requests wait for a connection, but that is a busy pool, not an outage, and the log
 * says which. Readiness asks the server on a connection of its own and stays ready (tests/integration/pool-busy).
 */
describe('the outage log when the pool has no connection free but PostgreSQL answers', () => {
  let app: TestApp | undefined;

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  }, 60_000);

  it('logs the database as busy, never as an outage, and stays ready', async () => {
    app = await startTestApp({ env: { ROLE: 'api', DATABASE_POOL_SIZE: '1' } });
    const started = app;
    let release = (): void => undefined;
    const held = started.rt.ctx.db.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    try {
      const ready = await started.request('/health/ready', { key: null });
      expect({ status: ready.status, body: await ready.json() }).toEqual({
        status: 200,
        body: { status: 'ok', database: true, redis: true, databasePool: 'busy' },
      });
      // The refusal is noticed after the answer: wait for the log's verdict, whichever it is.
      await waitFor('the outage log to say what the refusal was', () =>
        logMessages(started.testEnv.logFile).some((m) => m === 'dependency busy' || m === 'dependency outage started'),
      );
    } finally {
      release();
      await held;
    }
    expect((await started.request('/health/ready', { key: null })).status).toBe(200);
    expect(
      logMessages(started.testEnv.logFile).filter((m) => m === 'dependency busy' || m.startsWith('dependency outage')),
    ).toEqual(['dependency busy']);
  }, 60_000);
});
