import type { OperationOutcome } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildMonitoringSection } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// MONITORING_REPORT_CONCURRENCY was counted in each process, so N API processes computed N× as many reports at once
// as it says. Two processes on one Redis (one QUEUE_PREFIX) now share its slots.
describe('monitoring reports computed at once, across API processes', () => {
  let a: TestApp;
  let b: TestApp;
  const registry = buildRegistry({
    agreements: [buildAgreement({ monitoring: buildMonitoringSection() })],
    destinations: [],
  });

  beforeAll(async () => {
    // One slot and no waiting, so that a second report anywhere is refused at once.
    const env = { MONITORING_REPORT_CONCURRENCY: '1', ROLE: 'api' };
    a = await startTestApp({ env, registry });
    b = await startTestApp({ env, registry, testEnv: a.testEnv });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    if (a) {
      await cleanupTestEnv(a.testEnv);
    }
  });

  const ask = (app: TestApp) => app.request('/municipality/v1/monitoring?period=2026', { key: 'municipality' });

  it('lets one process compute while the other one’s asks wait for the shared slot, or are refused beyond that', async () => {
    let release: () => void = () => undefined;
    const unlocked = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = a.rt.ctx.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE report_trajectory IN ACCESS EXCLUSIVE MODE');
      locked();
      await unlocked;
    });
    await isLocked;
    const first = ask(a);
    await waitFor('the first report computing in process a', () =>
      a.rt.ctx.monitoringReports?.running === 1 ? true : undefined,
    );
    // Process b has a slot of its own no more: its first ask waits (two may wait per slot), the third is refused.
    const waiting = [ask(b), ask(b)];
    await waitFor('two reports waiting in process b', () =>
      b.rt.ctx.monitoringReports?.waiting === 2 ? true : undefined,
    );
    expect(b.rt.ctx.monitoringReports?.running).toBe(0);
    const refused = await ask(b);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    const outcome = (await refused.json()) as OperationOutcome;
    expect(outcome.issue[0]?.details?.text).toContain('MONITORING_REPORT_CONCURRENCY');
    release();
    await holder;
    const served = await Promise.all([first, ...waiting]);
    expect(served.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await ask(b)).status).toBe(200);
    expect((await ask(a)).status).toBe(200);
  });
});
