import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { exited, freePort } from '../helpers/product-process';
import { spawnRedisServer, waitForRedis } from '../helpers/redis-server';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

/**
 * A Redis that takes commands and never answers them (our own redis-server, stopped with SIGSTOP; on a Redis Cluster,
 * a slot whose primary just died) must not hold up an operator's or auditor's request: within about a second the
 * answer is a 503 that says Redis, whichever Redis call the request needed (the console session, queue counts, a
 * destination's queue state).
 */
describe('requests when Redis stops answering', () => {
  let dir: string;
  let server: ChildProcess;
  let app: TestApp;
  let operator: ConsoleClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-hung-redis-'));
    const port = await freePort();
    server = spawnRedisServer(port, dir);
    await waitForRedis(port);
    app = await startTestApp({
      receiverUrl: 'http://127.0.0.1:9/',
      env: { ROLE: 'api', REDIS_URL: `redis://127.0.0.1:${port}` },
    });
    operator = await openConsole(app, 'operator');
    expect((await operator.get('/console/operator')).status).toBe(200);
    server.kill('SIGSTOP');
  }, 60_000);

  afterAll(async () => {
    server.kill('SIGCONT');
    await app.close();
    server.kill('SIGKILL');
    await exited(server);
    await cleanupTestEnv(app.testEnv);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('answers the console with a 503 page that asks to come back, instead of waiting', async () => {
    const page = await operator.get('/console/operator');
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');
    expect(await page.text()).toContain('Tijdelijk niet beschikbaar');
  }, 20_000);

  it('answers a destination status with a 503 OperationOutcome', async () => {
    const res = await app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const outcome = (await res.json()) as { resourceType: string; issue: { code: string }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.code).toBe('transient');
  }, 20_000);

  it('reports the API ready but degraded: it accepts events without Redis, the database being up', async () => {
    const res = await app.request('/health/ready', { key: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'degraded', database: true, redis: false });
  }, 20_000);

  it('serves /metrics within about a second without the queue depths, saying Redis did not answer', async () => {
    const started = performance.now();
    const res = await app.request('/metrics', { key: null });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(text).toMatch(/^jeugdbrug_metrics_source_up\{source="redis"\} 0$/m);
    expect(text).toMatch(/^jeugdbrug_metrics_source_up\{source="postgres"\} 1$/m);
    expect(text).not.toMatch(/^jeugdbrug_queue_jobs\{/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  }, 20_000);
});
