import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { loadRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { exited, spawnProduct, waitForLogLine, writeConfigDir } from '../helpers/product-process';
import { verifyTenant } from '../../src/audit/verify';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

const MAX = 3;
const DURATION_MS = 1000;
const EVENTS = 15;
/** Per worker process: fewer than MAX, so more than this many requests at once means both processes sent. */
const CONCURRENCY_PER_PROCESS = 2;
/**
 * Slack for the time between a request leaving (where the send window counts it, on Redis's clock) and arriving at
 * the receiver (on this process's clock): requests of one window may arrive a little late, closer to the next's.
 */
const TOLERANCE_MS = 150;

describe('a destination rate limit with two worker processes', () => {
  let receiver: DeliveryReceiver;
  let api: TestApp;
  const workers: ChildProcess[] = [];
  const testEnv = createTestEnv({ DELIVER_CONCURRENCY: String(CONCURRENCY_PER_PROCESS) });

  beforeAll(async () => {
    receiver = await new DeliveryReceiver().start();
    // Slow enough that one process at its concurrency could not keep up with the limit on its own.
    receiver.mode = { kind: 'slow', delayMs: 400 };
    const configDir = path.join(testEnv.dataDir, 'config');
    writeConfigDir(configDir, {
      agreements: [buildAgreement()],
      destinations: [buildDestination(receiver.url('/fhir'), { rateLimit: { max: MAX, durationMs: DURATION_MS } })],
    });
    testEnv.env.CONFIG_DIR = configDir;
    // The API reads the same configuration as the workers (it pauses and resumes the destination).
    api = await startTestApp({
      testEnv,
      env: { ROLE: 'api', CONFIG_DIR: configDir },
      registry: loadRegistry(configDir),
    });
  });

  afterAll(async () => {
    for (const w of workers) {
      w.kill('SIGTERM');
      await exited(w);
    }
    await api.close();
    await receiver.stop();
    await cleanupTestEnv(testEnv);
  });

  it('never lets more than max requests arrive within durationMs, counted across both processes', async () => {
    const logs = [0, 1].map((i) => path.join(testEnv.dataDir, `worker-${i}.log`));
    for (const log of logs) {
      workers.push(spawnProduct({ ...testEnv.env, ROLE: 'worker' }, log));
    }
    // Both worker processes started (bounded generously: a start-up took more than 30 s on a loaded machine).
    await Promise.all(workers.map((w, i) => waitForLogLine(w, logs[i]!, 'workers started')));

    const admin = (action: 'pause' | 'resume') =>
      api.request(`/admin/v1/destinations/gm0226/${action}`, { key: 'operator', method: 'POST' });
    const allIn = (ids: string[], state: string) =>
      waitFor(
        `${ids.length} events ${state}`,
        async () => {
          const rows = await api.rt.ctx.db.query<{ state: string }>(
            'SELECT state FROM inbox WHERE id = ANY($1::uuid[])',
            [ids],
          );
          return rows.length === ids.length && rows.every((r) => r.state === state);
        },
        60_000,
        100,
      );
    const submit = async (count: number) => {
      const res = await api.request('/his/v1/events', {
        json: Array.from({ length: count }, () => buildReferralEvent()),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    };
    // Measured at the receiver, the time from leaving to arriving must not vary much, so: warm both processes up
    // (first jobs load code lazily), and hold the queue while the events are mapped, so that mapping does not
    // compete with delivering for the CPU.
    await allIn(await submit(2 * MAX), 'delivered');
    expect((await admin('pause')).status).toBe(200);
    const ids = await submit(EVENTS);
    await allIn(ids, 'decided');
    const before = receiver.deliveries.length;
    receiver.maxInFlight = 0;
    expect((await admin('resume')).status).toBe(200);
    await allIn(ids, 'delivered');

    const arrivals = receiver.deliveries
      .slice(before)
      .map((h) => h.at)
      .sort((a, b) => a - b);
    expect(arrivals).toHaveLength(EVENTS);
    let busiest = 0;
    for (const start of arrivals) {
      const inWindow = arrivals.filter((t) => t >= start && t < start + DURATION_MS - TOLERANCE_MS).length;
      busiest = Math.max(busiest, inWindow);
    }
    expect(busiest).toBeLessThanOrEqual(MAX);
    // EVENTS / MAX windows: the last can start no sooner than that many windows, less one, after the first.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual((EVENTS / MAX - 1) * DURATION_MS - TOLERANCE_MS);
    // More requests at once than one process may run: both processes were sending, under the one shared limit.
    expect(receiver.maxInFlight).toBeGreaterThan(CONCURRENCY_PER_PROCESS);

    // Both worker processes appended to the practice's audit chain at the same time: it is still one line.
    const verdict = await verifyTenant(api.rt.ctx.db, PRACTICE_AGB);
    expect(verdict).toEqual(expect.objectContaining({ ok: true }));
    const seqs = await api.rt.ctx.db.query<{ seq: string }>(
      'SELECT seq FROM audit_event WHERE tenant = $1 ORDER BY seq',
      [PRACTICE_AGB],
    );
    expect(seqs.map((r) => Number(r.seq))).toEqual(seqs.map((_, i) => i + 1));
  }, 240_000);
});
