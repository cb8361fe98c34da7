import { buildReferralEvent } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

describe('queue size limit (MAX_QUEUE_DEPTH)', () => {
  let app: TestApp;

  beforeAll(async () => {
    // ROLE=api: no workers, so every accepted event's map job stays in the queue.
    app = await startTestApp({ env: { ROLE: 'api', MAX_QUEUE_DEPTH: '5', QUEUE_FULL_RETRY_AFTER_S: '17' } });
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const post = (body: unknown) => app.request('/his/v1/events', { json: body });

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
  });

  it('accepts events again once the backlog is worked off', async () => {
    await app.rt.ctx.queues.map.drain();
    const res = await waitFor('the API to accept again', async () => {
      const r = await post(buildReferralEvent());
      return r.status === 202 ? r : undefined;
    });
    expect(res.status).toBe(202);
  });
});
