import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildReferralEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../helpers/own-services';
import { createTestEnv, startTestApp, type TestApp, type TestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The production layout (a `ROLE=api` process and a `ROLE=worker` process with METRICS_PORT) on a PostgreSQL and a
 * Redis of this test's own, which it stops and starts again: what probes, scrapes and the log see while one is away.
 */
type LogLine = Record<string, unknown>;

/** A scrape must not wait for a dead store much longer than its bound (1 s). */
const SCRAPE_BOUND_MS = 3000;

describe('operations endpoints and logs while PostgreSQL or Redis is down', () => {
  let postgres: OwnPostgres;
  let redis: OwnRedis;
  let testEnv: TestEnv;
  let api: TestApp;
  let worker: TestApp;
  let workerLogFile: string;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startOwnPostgres(), startOwnRedis()]);
    testEnv = createTestEnv();
    const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url };
    const receiverUrl = 'http://127.0.0.1:9/';
    api = await startTestApp({ testEnv, receiverUrl, env: { ...env, ROLE: 'api' } });
    // Its own log file, so the API's lines are told apart.
    workerLogFile = path.join(testEnv.dataDir, 'worker.log');
    const workerEnv = { ...testEnv, logFile: workerLogFile };
    worker = await startTestApp({
      testEnv: workerEnv,
      receiverUrl,
      env: { ...env, ROLE: 'worker', METRICS_PORT: '0' },
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await redis?.destroy();
    postgres?.destroy();
    if (testEnv) {
      fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  const logOf = (file: string): LogLine[] =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  const apiLog = (): LogLine[] => logOf(testEnv.logFile);

  /** Scrapes `base`/metrics, which must answer 200 within the bound whatever is down. */
  async function scrape(base: string): Promise<string> {
    const started = performance.now();
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect({ status: res.status, fast: performance.now() - started < SCRAPE_BOUND_MS }).toEqual({
      status: 200,
      fast: true,
    });
    return text;
  }

  const sourceUp = (text: string, source: string) =>
    new RegExp(`^jeugdbrug_metrics_source_up\\{source="${source}"\\} (\\d)$`, 'm').exec(text)?.[1];

  /** Waits until the API has logged the end of every outage it logged the start of. */
  async function outagesLoggedAsEnded(): Promise<void> {
    await waitFor('every logged outage to be logged as ended', () => {
      const lines = apiLog();
      const count = (msg: string) => lines.filter((l) => l.msg === msg).length;
      return count('dependency outage started') === count('dependency outage ended');
    });
  }

  it('serves process, HTTP and queue metrics while PostgreSQL is down, without its figures, and says so', async () => {
    expect((await fetch(`${api.url}/health/live`)).status).toBe(200);
    postgres.stop();
    try {
      for (const base of [api.url, worker.url]) {
        const text = await scrape(base);
        expect(text).toMatch(/^process_resident_memory_bytes \d/m);
        expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
        expect(text).toMatch(/^jeugdbrug_queue_jobs\{queue="map",state="waiting"\} 0$/m);
        expect(sourceUp(text, 'postgres')).toBe('0');
        expect(sourceUp(text, 'redis')).toBe('1');
        // Left out, not kept at a stale value.
        expect(text).not.toMatch(/^jeugdbrug_(events|dead_letters|destination_up|audit_chain_length)\{/m);
      }
      expect(await scrape(api.url)).toMatch(
        /^jeugdbrug_http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} 1$/m,
      );
    } finally {
      postgres.start();
    }
    const text = await waitFor('the figures from PostgreSQL to be back', async () => {
      const t = await scrape(api.url);
      return sourceUp(t, 'postgres') === '1' ? t : undefined;
    });
    expect(text).toMatch(/^jeugdbrug_destination_up\{destination="gm0226"\} 1$/m);
    await outagesLoggedAsEnded();
  }, 60_000);

  it('answers the worker’s probes with JSON while PostgreSQL is down, never an HTML error page', async () => {
    postgres.stop();
    try {
      const ready = await fetch(`${worker.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('content-type')).toMatch(/json/);
      expect(await ready.json()).toEqual({ status: 'unavailable', database: false, redis: true });
      const unknown = await fetch(`${worker.url}/his/v1/events`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      expect(((await unknown.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    } finally {
      postgres.start();
    }
    await outagesLoggedAsEnded();
  }, 60_000);

  it('keeps the API ready (degraded) and its metrics served while Redis is down; the worker is not ready', async () => {
    await redis.kill();
    try {
      const ready = await fetch(`${api.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'degraded', database: true, redis: false });
      expect((await fetch(`${api.url}/health/live`)).status).toBe(200);
      const workerReady = await fetch(`${worker.url}/health/ready`);
      expect(workerReady.status).toBe(503);
      expect(await workerReady.json()).toEqual({ status: 'unavailable', database: true, redis: false });

      const text = await scrape(api.url);
      expect(sourceUp(text, 'redis')).toBe('0');
      expect(sourceUp(text, 'postgres')).toBe('1');
      expect(text).not.toMatch(/^jeugdbrug_queue_jobs\{/m);
      expect(text).toMatch(/^jeugdbrug_destination_up\{destination="gm0226"\} 1$/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    } finally {
      await redis.start();
    }
    await waitFor('the worker to be ready again', async () => (await fetch(`${worker.url}/health/ready`)).ok);
    await outagesLoggedAsEnded();
  }, 60_000);

  it('logs each refused request once, at warn, and the PostgreSQL outage once when it starts and once when it ends', async () => {
    await outagesLoggedAsEnded();
    const operator = await openConsole(api, 'operator');
    const before = apiLog().length;
    postgres.stop();
    const requestIds = ['refused-1', 'refused-2', 'refused-3'];
    try {
      for (const id of requestIds) {
        const res = await api.request('/his/v1/events', {
          json: buildReferralEvent(),
          headers: { 'x-request-id': id },
        });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
      }
      // The console answers with its own 503 page, and logs it the same way.
      expect((await operator.get('/console/operator')).status).toBe(503);
      // Counted by the route's kind and the dependency that was away, for the alert on refused intake.
      expect(await scrape(api.url)).toMatch(
        /^jeugdbrug_intake_refused_total\{route="his-events",reason="database"\} 3$/m,
      );
    } finally {
      postgres.start();
    }
    const lines = await waitFor('the outage’s end in the log', () => {
      const all = apiLog().slice(before);
      return all.some((l) => l.msg === 'dependency outage ended') ? all : undefined;
    });
    expect(lines.filter((l) => l.msg === 'unexpected error' || l.msg === 'console error')).toEqual([]);
    expect(
      lines.filter((l) => l.route === '/console/operator/' && l.status !== 200).map((l) => [l.level, l.status]),
    ).toEqual([['warn', 503]]);
    for (const id of requestIds) {
      expect(lines.filter((l) => l.requestId === id).map((l) => [l.msg, l.level, l.status])).toEqual([
        ['request', 'warn', 503],
      ]);
    }
    const outage = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('dependency outage'));
    expect(outage.map((l) => [l.msg, l.level, l.dependency])).toEqual([
      ['dependency outage started', 'error', 'database'],
      ['dependency outage ended', 'info', 'database'],
    ]);
    expect(outage[0]).toEqual(expect.objectContaining({ reason: expect.any(String) }));
    expect(outage[1]).toEqual(expect.objectContaining({ downForMs: expect.any(Number) }));
  }, 60_000);

  it('logs a Redis outage nobody probes once when it starts and once when it ends, in each process, and nothing per retry', async () => {
    await outagesLoggedAsEnded();
    const files = [testEnv.logFile, workerLogFile];
    const before = files.map((f) => logOf(f).length);
    await redis.kill();
    // No request, probe or scrape meanwhile: only the processes' own connections (workers, queues, console
    // sessions) find Redis away, retrying several times a second.
    await new Promise((r) => setTimeout(r, 4000));
    await redis.start();
    for (const [i, file] of files.entries()) {
      const lines = await waitFor(`the Redis outage's end in ${path.basename(file)}`, () => {
        const all = logOf(file).slice(before[i]);
        return all.some((l) => l.msg === 'dependency outage ended') ? all : undefined;
      });
      expect(
        lines
          .filter((l) => l.level !== 'info' || l.msg === 'dependency outage ended')
          .map((l) => [l.msg, l.level, l.dependency]),
      ).toEqual([
        ['dependency outage started', 'error', 'redis'],
        ['dependency outage ended', 'info', 'redis'],
      ]);
      expect(lines.find((l) => l.msg === 'dependency outage started')).toEqual(
        expect.objectContaining({
          reason: expect.stringMatching(/ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed/),
        }),
      );
    }
  }, 60_000);
  it('counts the events it accepted during a Redis outage into the outage’s end line, not a warning each', async () => {
    await outagesLoggedAsEnded();
    const before = apiLog().length;
    await redis.kill();
    try {
      for (let i = 0; i < 3; i++) {
        expect((await api.request('/his/v1/events', { json: buildReferralEvent() })).status).toBe(202);
      }
    } finally {
      await redis.start();
    }
    const lines = await waitFor('the Redis outage’s end in the API’s log', () => {
      const all = apiLog().slice(before);
      return all.some((l) => l.msg === 'dependency outage ended') ? all : undefined;
    });
    expect(lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('enqueue failed'))).toEqual([]);
    expect(lines.find((l) => l.msg === 'dependency outage ended')).toEqual(
      expect.objectContaining({ dependency: 'redis', enqueuesDeferred: 3 }),
    );
  }, 60_000);

  it('logs a PostgreSQL outage only a worker meets (its jobs, its audit signing) once when it starts and ends, in the worker', async () => {
    await outagesLoggedAsEnded();
    const outageLines = (lines: LogLine[]) =>
      lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('dependency outage'));
    await waitFor('the worker to have logged the end of every outage it logged', () => {
      const lines = outageLines(logOf(workerLogFile));
      return lines.length % 2 === 0;
    });
    const before = logOf(workerLogFile).length;
    postgres.stop();
    try {
      // No request, probe or scrape: a map job and an audit signing round meet the database away.
      await worker.rt.ctx.queues.enqueueMap([{ inboxId: randomUUID(), traceId: 'f'.repeat(32) }]);
      await waitFor('the map job to fail', () =>
        logOf(workerLogFile)
          .slice(before)
          .some((l) => l.msg === 'job failed'),
      );
      await worker.rt.ctx.signedHeads.signer.signNow();
      await worker.rt.ctx.signedHeads.signer.signNow();
      await waitFor('the outage in the worker’s log', () =>
        logOf(workerLogFile)
          .slice(before)
          .some((l) => l.msg === 'dependency outage started'),
      );
    } finally {
      postgres.start();
    }
    const lines = await waitFor('the outage’s end in the worker’s log', () => {
      const all = logOf(workerLogFile).slice(before);
      return all.some((l) => l.msg === 'dependency outage ended') ? all : undefined;
    });
    expect(outageLines(lines).map((l) => [l.msg, l.level, l.dependency])).toEqual([
      ['dependency outage started', 'error', 'database'],
      ['dependency outage ended', 'info', 'database'],
    ]);
    // The signer's rounds are the outage, not a warning each.
    expect(lines.filter((l) => l.msg === 'could not sign the audit chain heads')).toEqual([]);
  }, 60_000);
});
