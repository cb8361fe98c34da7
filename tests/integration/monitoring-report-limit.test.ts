import type { OperationOutcome } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildMonitoringSection } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// report-xsec 2: forty yearly reports asked at once held PostgreSQL from the HIS intake (0.15 s became 4.4 s). A
// process computes MONITORING_REPORT_CONCURRENCY at once, lets twice as many wait, and refuses the rest with a 503.
describe('monitoring reports computed at once', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({
      env: { MONITORING_REPORT_CONCURRENCY: '1' },
      registry: buildRegistry({
        agreements: [buildAgreement({ monitoring: buildMonitoringSection() })],
        destinations: [],
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const ask = () => app.request('/municipality/v1/monitoring?period=2026', { key: 'municipality' });

  it('computes one at a time, lets two wait, refuses the next with 503 and Retry-After, then serves those waiting', async () => {
    const limit = app.rt.ctx.monitoringReports;
    if (!limit) {
      throw new Error('an API process has the monitoring report slots');
    }
    let release: () => void = () => undefined;
    const unlocked = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // The report's table held, so the first computation waits on it, in its slot, until the test lets it go.
    const holder = app.rt.ctx.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE report_trajectory IN ACCESS EXCLUSIVE MODE');
      locked();
      await unlocked;
    });
    await isLocked;
    const first = ask();
    await waitFor('the first report computing', () => (limit.running === 1 ? true : undefined));
    const waiting = [ask(), ask()];
    await waitFor('two reports waiting', () => (limit.waiting === 2 ? true : undefined));
    const refused = await ask();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    const outcome = (await refused.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.details?.text).toContain('MONITORING_REPORT_CONCURRENCY');
    release();
    await holder;
    const served = await Promise.all([first, ...waiting]);
    expect(served.map((r) => r.status)).toEqual([200, 200, 200]);
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
    // Free again: the next is served.
    expect((await ask()).status).toBe(200);
  });
});
