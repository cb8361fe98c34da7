import type { Job } from 'bullmq';
import Redis from 'ioredis';
import { processDeliverJob } from '../../src/event/deliver';
import { processMapJob } from '../../src/event/map';
import { deliverQueueName, type DeliverJobData } from '../../src/event/queues';
import { buildRegistry } from '../../src/event/registry';
import { SUPERSEDED_BY_CORRECTION } from '../../src/event/states';
import { buildAgreement, buildContactEvent, buildDestination } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A contact's delivery waits for its send slot (the destination's rate limit, send-window.ts) after the deliver stage
// looked for a correction of it at the destination (contact-versions.ts) and found none. Its correction is delivered
// meanwhile. Sent after, the older version would undo the correction at a receiver that keeps what arrives last.
// The interleaving is forced, not timed: the stages are called directly (ROLE=api: no worker takes the jobs), and the
// test keeps the slot taken in Redis until the older contact's job is asleep waiting for it.

const DESTINATION = 'gm0226';
/** The destination's rate-limit window: one send in it. */
const WINDOW_MS = 3_000;

describe('a correction of a contact delivered while the older version waits for its send slot', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({
      env: { ROLE: 'api' },
      registry: buildRegistry({
        agreements: [buildAgreement()],
        destinations: [
          buildDestination(receiver.url, { id: DESTINATION, rateLimit: { max: 1, durationMs: WINDOW_MS } }),
        ],
      }),
    });
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    redis.disconnect();
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const deliveryOf = async (inboxId: string) =>
    (
      await app.rt.ctx.db.query<{ id: string; idempotency_key: string }>(
        'SELECT id, idempotency_key FROM delivery WHERE inbox_id = $1',
        [inboxId],
      )
    )[0]!;
  const deliver = async (inboxId: string) => {
    const job = { data: { deliveryId: (await deliveryOf(inboxId)).id, traceId: 'correction-race-test' } };
    return processDeliverJob(app.rt.ctx, job as Job<DeliverJobData>);
  };

  it('does not send the older version after its correction reached the destination', async () => {
    const first = buildContactEvent({ durationMinutes: 30 });
    const contact = first.contact as { id: string };
    const corrected = {
      ...first,
      eventId: `${String(first.eventId)}-corrected`,
      contact: { ...contact, durationMinutes: 45 },
    };
    const res = await app.request('/his/v1/events', { json: [first, corrected] });
    expect(res.status).toBe(202);
    const [firstId, correctedId] = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    for (const id of [firstId!, correctedId!]) {
      expect(await processMapJob(app.rt.ctx, { inboxId: id, traceId: 'correction-race-test' })).toBe('decided');
    }

    // The slot taken until a moment after the window: the older contact's job, once it asks, sleeps that long.
    const key = `${app.rt.ctx.queues.prefixFor(deliverQueueName(DESTINATION))}:send-window:${DESTINATION}`;
    await redis.eval(
      `local t = redis.call('TIME')
       redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + 1500, 'held-by-test')`,
      1,
      key,
    );
    // Each answer of the send-window script to the product's Redis client: [0, ms] when it has to wait.
    const client = (await app.rt.ctx.queues.redisClient()) as unknown as { eval: (...args: unknown[]) => unknown };
    const evaluate = client.eval;
    const answers: unknown[] = [];
    client.eval = async (...args: unknown[]) => {
      const answer: unknown = await evaluate.apply(client, args);
      answers.push(answer);
      return answer;
    };
    try {
      const older = deliver(firstId!);
      older.catch(() => undefined);
      await waitFor('the older contact asleep for its slot', () =>
        Promise.resolve(answers.some((a) => Array.isArray(a) && a[0] === 0) ? true : undefined),
      );
      // The correction goes out meanwhile.
      await redis.del(key);
      expect(await deliver(correctedId!)).toBe('delivered');

      const { idempotency_key: olderKey } = await deliveryOf(firstId!);
      // Before, it went out after the correction (a fhir-rest receiver put the older duration back).
      expect(await older).toBe('superseded');
      expect(receiver.hits.filter((h) => h.idempotencyKey === olderKey)).toEqual([]);
      const [row] = await app.rt.ctx.db.query<{ state: string; state_reason: string }>(
        'SELECT state, state_reason FROM inbox WHERE id = $1',
        [firstId],
      );
      expect(row).toEqual({ state: 'completed', state_reason: SUPERSEDED_BY_CORRECTION });
    } finally {
      client.eval = evaluate;
    }
  }, 30_000);
});
