import { reconcileOnce } from '../../src/event/reconciler';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface EventView {
  state: string;
  stateReason: string | null;
  history: { state: string }[];
  deliveries: { id: string; state: string; lastStatus: number | null }[];
}

describe('pipeline: HIS event in, municipality notification out', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  beforeEach(() => {
    receiver.mode = { kind: 'ok' };
  });

  async function submit(
    events: unknown,
  ): Promise<{ status: number; body: { receipts: { id: string; status: string }[] } }> {
    const res = await app.request('/his/v1/events', { json: events });
    return { status: res.status, body: (await res.json()) as { receipts: { id: string; status: string }[] } };
  }

  async function view(id: string): Promise<EventView> {
    return (await (await app.request(`/his/v1/events/${id}`)).json()) as EventView;
  }

  const reachesState = (id: string, state: string, timeoutMs?: number) =>
    waitFor(
      `event ${id} to reach ${state}`,
      async () => ((await view(id)).state === state ? view(id) : undefined),
      timeoutMs,
    );

  it('delivers an accepted referral to the municipality with an idempotency key', async () => {
    const { status, body } = await submit(buildReferralEvent());
    expect(status).toBe(202);
    expect(body.receipts).toEqual([expect.objectContaining({ status: 'accepted', id: expect.any(String) })]);
    const id = body.receipts[0]!.id;
    const done = await reachesState(id, 'delivered');
    expect(done.history.map((h) => h.state)).toEqual(['received', 'mapped', 'decided', 'delivered']);
    const hit = receiver.hits.find((h) => JSON.stringify(h.body).includes(id) || h.idempotencyKey);
    expect(hit).toBeDefined();
    const bundle = [...receiver.stored.values()].at(-1)!.body as {
      type: string;
      entry: { resource: { resourceType: string } }[];
    };
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry.map((e) => e.resource.resourceType)).toContain('ServiceRequest');
  });

  it('treats the same event id from the same practice as one event and delivers it once', async () => {
    const event = buildReferralEvent();
    const first = await submit(event);
    const second = await submit(event);
    expect(second.status).toBe(202);
    expect(second.body.receipts[0]).toEqual(
      expect.objectContaining({ status: 'duplicate', id: first.body.receipts[0]!.id }),
    );
    await reachesState(first.body.receipts[0]!.id, 'delivered');
    const d = (await view(first.body.receipts[0]!.id)).deliveries;
    expect(d).toHaveLength(1);
    const key = [...receiver.hits].filter((h) => h.idempotencyKey && receiver.stored.get(h.idempotencyKey));
    const keysForEvent = new Set(key.map((h) => h.idempotencyKey));
    expect(receiver.hits.filter((h) => [...keysForEvent].includes(h.idempotencyKey)).length).toBe(keysForEvent.size);
  });

  it('refuses the same event id with other content (409), in any key order the same content is a duplicate', async () => {
    const event = buildReferralEvent();
    const first = await submit(event);
    expect(first.body.receipts[0]!.status).toBe('accepted');
    // The same content with its keys in another order is a re-send.
    const reordered = Object.fromEntries(Object.entries(event).reverse());
    expect((await submit(reordered)).body.receipts[0]).toEqual(
      expect.objectContaining({ status: 'duplicate', id: first.body.receipts[0]!.id }),
    );
    // Other content under the same id is a different message: refused, naming the field, and nothing replaced.
    const changed = { ...event, occurredAt: '2026-01-02T03:04:05Z' };
    const refused = await app.request('/his/v1/events', { json: changed });
    expect(refused.status).toBe(409);
    const outcome = (await refused.json()) as {
      issue: { code: string; expression: string[]; details: { text: string } }[];
    };
    expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['eventId'] }));
    expect(outcome.issue[0]!.details.text).toContain(first.body.receipts[0]!.id);
    // In a batch the conflicting event is rejected on its own; the others are taken.
    const batch = await app.request('/his/v1/events', { json: [buildReferralEvent(), changed] });
    expect(batch.status).toBe(202);
    const receipts = (
      (await batch.json()) as { receipts: { status: string; outcome?: { issue: { expression: string[] }[] } }[] }
    ).receipts;
    expect(receipts.map((r) => r.status)).toEqual(['accepted', 'rejected']);
    expect(receipts[1]!.outcome!.issue[0]!.expression).toEqual(['[1].eventId']);
    await reachesState(first.body.receipts[0]!.id, 'delivered');
    expect((await view(first.body.receipts[0]!.id)).deliveries).toHaveLength(1);
  });

  it('keeps retrying while the receiver is down and delivers once it is back', async () => {
    await receiver.stop();
    const { body } = await submit(buildReferralEvent());
    const id = body.receipts[0]!.id;
    await waitFor(
      'a failed attempt',
      async () =>
        (await view(id)).deliveries[0]?.state === 'pending' &&
        (await app.rt.ctx.db.query(`SELECT 1 FROM delivery WHERE inbox_id = $1 AND attempts > 0`, [id])).length > 0,
    );
    expect((await view(id)).state).toBe('decided');
    await receiver.start();
    await reachesState(id, 'delivered');
  });

  it('turns a 4xx answer into a dead letter that an operator can list and replay', async () => {
    receiver.mode = {
      kind: 'status',
      status: 422,
      body: '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}',
    };
    const { body } = await submit(buildReferralEvent());
    const id = body.receipts[0]!.id;
    const dead = await reachesState(id, 'dead');
    expect(dead.stateReason).toContain('HTTP 422');
    const list = (await (await app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
      deadLetters: { id: string; inboxId: string; lastStatus: number; answer: unknown }[];
    };
    const letter = list.deadLetters.find((d) => d.inboxId === id);
    // The receiver's answer as operators see it: its issues' codes, not its text (receiver-answer.ts).
    expect(letter).toEqual(
      expect.objectContaining({
        lastStatus: 422,
        answer: {
          contentType: 'application/fhir+json',
          size: expect.any(Number),
          issues: [{ severity: 'error', code: 'invalid' }],
        },
      }),
    );

    receiver.mode = { kind: 'ok' };
    const replay = await app.request(`/admin/v1/dead-letters/${letter!.id}/replay`, {
      key: 'operator',
      method: 'POST',
    });
    expect(replay.status).toBe(202);
    const delivered = await reachesState(id, 'delivered');
    expect(delivered.history.map((h) => h.state).slice(-3)).toEqual(['dead', 'decided', 'delivered']);
    const again = await app.request(`/admin/v1/dead-letters/${letter!.id}/replay`, { key: 'operator', method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('does not let a practice replay dead letters', async () => {
    const res = await app.request('/admin/v1/dead-letters', { key: 'practice' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('answers a batch with one receipt per event, rejecting only the invalid one', async () => {
    const bad = buildReferralEvent({ child: { ...(buildReferralEvent().child as object), bsn: '111222334' } });
    const { status, body } = await submit([buildReferralEvent(), bad, buildReferralEvent()]);
    expect(status).toBe(202);
    expect(body.receipts.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    const rejected = body.receipts[1] as unknown as { outcome: { issue: { expression: string[] }[] } };
    expect(rejected.outcome.issue[0]!.expression[0]).toBe('[1].child.bsn');
  });

  it('exposes readiness and Prometheus metrics', async () => {
    const ready = await app.request('/health/ready', { key: null });
    expect(ready.status).toBe(200);
    const metrics = await (await app.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(/jeugdbrug_jobs_processed_total\{stage="deliver",result="delivered"\} [1-9]/);
    expect(metrics).toContain('jeugdbrug_queue_jobs');
    expect(metrics).toContain('jeugdbrug_stage_duration_seconds_bucket');
  });

  it('recovers every in-flight event after Redis lost its queues', async () => {
    receiver.mode = { kind: 'slow', delayMs: 200 };
    const { body } = await submit(Array.from({ length: 20 }, () => buildReferralEvent()));
    const ids = body.receipts.map((r) => r.id);
    // Wipe this test's queue keys: what FLUSHALL does to us, without touching other test files' queues.
    const { Redis } = await import('ioredis');
    const client = new Redis(app.rt.redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${app.testEnv.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) {
        await client.del(...keys);
      }
    } while (cursor !== '0');
    client.disconnect();
    receiver.mode = { kind: 'ok' };
    await waitFor(
      'reconciler to requeue',
      async () => {
        await reconcileOnce(app.rt.ctx, 0);
        const states = await Promise.all(ids.map(async (id) => (await view(id)).state));
        return states.every((s) => s === 'delivered');
      },
      30_000,
      500,
    );
  });

  it("folds the changes behind /metrics' event counts into one row per state in each reconciler round", async () => {
    const db = app.rt.ctx.db;
    const counted = () => db.query('SELECT state, count(*)::float8 AS n FROM inbox GROUP BY state ORDER BY state');
    const rows = () => db.query('SELECT state, n::float8 AS n FROM inbox_state_count ORDER BY state');
    await reconcileOnce(app.rt.ctx, 0);
    const { body } = await submit([buildReferralEvent(), buildReferralEvent()]);
    await waitFor('delivered', async () =>
      (await Promise.all(body.receipts.map(async (r) => (await view(r.id)).state))).every((s) => s === 'delivered'),
    );
    expect((await rows()).length).toBeGreaterThan((await counted()).length);

    await reconcileOnce(app.rt.ctx, 0);

    expect(await rows()).toEqual(await counted());
  });
});
