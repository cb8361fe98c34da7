import fs from 'node:fs';
import { buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

describe('queue size limit (MAX_QUEUE_DEPTH)', () => {
  let app: TestApp;

  beforeAll(async () => {
    // ROLE=api: no workers, so every accepted event's map job stays in the queue.
    app = await startTestApp({
      receiverUrl: 'http://127.0.0.1:9/',
      env: { ROLE: 'api', MAX_QUEUE_DEPTH: '5', QUEUE_FULL_RETRY_AFTER_S: '17' },
    });
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const post = (body: unknown) => app.request('/his/v1/events', { json: body });
  const scrapeGauge = async (name: string): Promise<number> => {
    const metrics = await (await app.request('/metrics', { key: null })).text();
    const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1];
    return value === undefined ? Number.NaN : Number(value);
  };

  it('answers 429 with Retry-After and an OperationOutcome once the queues hold the limit, and stores nothing', async () => {
    const first = await post(Array.from({ length: 6 }, () => buildReferralEvent()));
    expect(first.status).toBe(202);
    expect(await app.rt.ctx.queues.map.getJobCountByTypes('waiting')).toBe(6);

    // The depth is sampled in the background at most once a second: a re-sent duplicate (which adds no job) is
    // accepted until the sample sees the full queue.
    const again = buildReferralEvent();
    const refused = await waitFor('the API to refuse at the limit', async () => {
      const res = await post(again);
      return res.status === 429 ? res : undefined;
    });
    expect(refused.headers.get('retry-after')).toBe('17');
    const outcome = (await refused.json()) as {
      resourceType: string;
      issue: { code: string; details: { text: string } }[];
    };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.code).toBe('throttled');
    expect(outcome.issue[0]?.details.text).toMatch(/[67] unfinished jobs.*MAX_QUEUE_DEPTH.*after 17 s/);

    // A new event at the limit is refused whole: not stored, so the HIS's retry is the only copy.
    const fresh = buildReferralEvent();
    expect((await post(fresh)).status).toBe(429);
    const rows = await app.rt.ctx.db.query('SELECT 1 FROM inbox WHERE source_event_id = $1', [fresh.eventId]);
    expect(rows).toHaveLength(0);
    const metrics = await (await app.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(/jeugdbrug_events_received_total\{status="queue-full"\} [1-9]/);
    // Requests, not events: the two refused above at least, under the route's kind and the guard's reason.
    expect(metrics).toMatch(
      /^jeugdbrug_intake_refused_total\{route="his-events",reason="queue-full"\} ([2-9]|\d\d+)$/m,
    );
  });

  it('accepts events again once the backlog is worked off', async () => {
    await app.rt.ctx.queues.map.drain();
    const res = await waitFor('the API to accept again', async () => {
      const r = await post(buildReferralEvent());
      return r.status === 202 ? r : undefined;
    });
    expect(res.status).toBe(202);
  });

  it('logs the start and the end of the refusals once each, at warn and info, without personal data', async () => {
    const lines = await waitFor('the end line in the log', () => {
      const found = fs
        .readFileSync(app.testEnv.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"intake refused') || l.includes('"intake accepted again'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return found.length >= 2 ? found : undefined;
    });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'intake refused: the map queue is at MAX_QUEUE_DEPTH'],
      ['info', 'intake accepted again'],
    ]);
    expect(lines[0]).toMatchObject({ depth: expect.any(Number), limit: 5 });
    expect(lines[1]).toMatchObject({ refusedRequests: expect.any(Number), refusedForMs: expect.any(Number) });
  });

  it("does not refuse intake for one destination's backlog: its deliveries wait in PostgreSQL, not the HIS", async () => {
    // A municipality paused (or down) for hours: its deliver queue holds far more jobs than the limit.
    const destination = [...app.rt.ctx.queues.deliver.keys()][0] ?? '';
    const deliver = app.rt.ctx.queues.getDeliverQueue(destination);
    await deliver.pause();
    await deliver.addBulk(
      Array.from({ length: 20 }, (_, i) => ({
        name: 'deliver',
        data: { deliveryId: `backlog-${i}`, traceId: 'backlog' },
      })),
    );
    // The guard samples in the background when a request comes: send consents (a withdrawal would be one too), a
    // new one while the map queue holds fewer than 3 jobs and else the last one again (a duplicate adds no job),
    // until a sample counts those 3: that sample was taken after the fill.
    const refused: number[] = [];
    let consent: Record<string, unknown> | undefined;
    await waitFor('a sample of the guard taken after the fill', async () => {
      if ((await scrapeGauge('jeugdbrug_intake_queue_jobs')) >= 3) {
        return true;
      }
      if (!consent || (await app.rt.ctx.queues.map.getJobCountByTypes('waiting')) < 3) {
        consent = buildConsentEvent(buildReferralEvent(), { decision: 'deny', givenBy: [{ kind: 'child' }] });
      }
      const res = await post(consent);
      if (res.status !== 202) {
        refused.push(res.status);
      }
      return undefined;
    });
    expect(refused).toEqual([]);
    const referral = await post(buildReferralEvent());
    expect(referral.status).toBe(202);
    expect(await scrapeGauge('jeugdbrug_intake_queue_limit')).toBe(5);
    await app.rt.ctx.queues.map.drain();
  });
});
