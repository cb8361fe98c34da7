import { randomUUID } from 'node:crypto';
import type { Agreement } from '../../../../src/policy/agreement';
import type { DeliveryEventType } from '../../../../src/contracts/delivery-event-type';
import { FORMATS } from '../../../../mappings/municipality/index';
import { EVENT_TYPE_CASES } from './event-type-resources';
import { buildRegistry } from '../../../../src/event/registry';
import type { Destination } from '../../../../src/contracts/destination';
import { SUPERSEDED_BY_CORRECTION } from '../../../../src/event/states';
import { buildAgreement, buildDestination, buildReferralEvent } from '../../../helpers/builders';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../../../helpers/test-runtime';
import { waitFor } from '../../../helpers/wait-for';
import { DeliveryReceiver, type Hit, type ReceiverMode } from '../../../helpers/delivery-receiver';

/**
 * The behaviour every delivery adapter must show, run against each adapter's own integration test file:
 * happy path, duplicates suppressed across retries and replays, retry then success (with Retry-After), a 409 to a
 * retry and a 404 retried, a 4xx dead letter and its replay, a slow receiver (timeout), connections dropped with and mid-response, and every delivery
 * event type the format can receive carried (or refused for good, by name).
 */

export interface DeliveryRow {
  id: string;
  state: string;
  attempts: number;
  /** Raised by each replay or redelivery: the deliver job's id carries it (`deliverJobId`). */
  round: number;
  idempotency_key: string;
  last_status: number | null;
  last_error: string | null;
  /** When a failed attempt first may have reached the receiver (migration 074). */
  possibly_received_at: Date | null;
}

export interface Harness {
  app: TestApp;
  receiver: DeliveryReceiver;
  /** The destination under test, as configured. */
  destination: Destination;
  /** Submits one event (as `key`, the practice by default) and returns its jeugdbrug id. */
  submit(event: Record<string, unknown>, key?: KeyName): Promise<string>;
  state(id: string): Promise<{ state: string; stateReason: string | null; history: { state: string }[] }>;
  reachesState(id: string, state: string, timeoutMs?: number): Promise<void>;
  delivery(id: string): Promise<DeliveryRow>;
  replay(deliveryId: string): Promise<Response>;
}

export interface HarnessOptions {
  /** The destination under test (its baseUrl is filled in); extra destinations may follow. */
  destination: (receiver: DeliveryReceiver) => Destination;
  extraDestinations?: (receiver: DeliveryReceiver) => Destination[];
  /** Replaces the default agreement (buildAgreement()). */
  agreement?: Agreement;
  extraAgreements?: Agreement[];
  env?: Record<string, string>;
  /** Set on the receiver before the app starts (webhook secret, token requirement). */
  prepareReceiver?: (receiver: DeliveryReceiver) => void;
}

/** Starts a receiver and the product (ROLE=all) for one test file; tears both down after. */
export function useDeliveryApp(opts: HarnessOptions): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    h.receiver = await new DeliveryReceiver().start();
    opts.prepareReceiver?.(h.receiver);
    h.destination = opts.destination(h.receiver);
    h.app = await startTestApp({
      env: opts.env ?? {},
      registry: buildRegistry({
        agreements: [opts.agreement ?? buildAgreement(), ...(opts.extraAgreements ?? [])],
        destinations: [h.destination, ...(opts.extraDestinations?.(h.receiver) ?? [])],
      }),
    });
  });
  afterAll(async () => {
    await h.app?.close();
    await h.receiver?.stop();
    if (h.app) {
      await cleanupTestEnv(h.app.testEnv);
    }
  });
  beforeEach(() => {
    h.receiver.mode = { kind: 'ok' };
    h.receiver.script = [];
    h.receiver.probeStatus = 200;
  });
  h.submit = async (event, key = 'practice') => {
    const res = await h.app.request('/his/v1/events', { json: event, key });
    const body = (await res.json()) as { receipts?: { id: string; status: string }[] };
    const receipt = body.receipts?.[0];
    if (res.status !== 202 || !receipt || receipt.status === 'rejected') {
      throw new Error(`submission failed: ${res.status} ${JSON.stringify(body)}`);
    }
    return receipt.id;
  };
  h.state = async (id) =>
    (await (await h.app.request(`/his/v1/events/${id}`, { key: 'operator' })).json()) as Awaited<
      ReturnType<Harness['state']>
    >;
  h.reachesState = async (id, state, timeoutMs = 20_000) => {
    await waitFor(`event ${id} to reach ${state}`, async () => (await h.state(id)).state === state, timeoutMs);
  };
  h.delivery = async (id) => {
    const [row] = await h.app.rt.ctx.db.query<DeliveryRow>('SELECT * FROM delivery WHERE inbox_id = $1', [id]);
    if (!row) {
      throw new Error(`no delivery for ${id}`);
    }
    return row;
  };
  h.replay = (deliveryId) =>
    h.app.request(`/admin/v1/dead-letters/${deliveryId}/replay`, { key: 'operator', method: 'POST' });
  return h;
}

/** The contract; `referralPath` is where a referral arrives at the receiver. */
export function describeAdapterContract(h: Harness, referralPath: string, buildEvent = buildReferralEvent): void {
  const onlyHitOf = (key: string): Hit => {
    const hits = h.receiver.hitsFor(key);
    expect(hits).toHaveLength(1);
    return hits[0]!;
  };

  it('delivers a referral once, with its idempotency key, at the adapter’s path', async () => {
    const id = await h.submit(buildEvent());
    await h.reachesState(id, 'delivered');
    const d = await h.delivery(id);
    const hit = onlyHitOf(d.idempotency_key);
    expect(hit.path).toBe(referralPath);
    expect(h.receiver.stored.has(d.idempotency_key)).toBe(true);
    expect(d.attempts).toBe(1);
  });

  it('sends an event submitted twice once', async () => {
    const event = buildEvent();
    const id = await h.submit(event);
    expect(await h.submit(event)).toBe(id);
    await h.reachesState(id, 'delivered');
    onlyHitOf((await h.delivery(id)).idempotency_key);
  });

  it('replays with the same idempotency key, so a receiver that already stored the message stores it once', async () => {
    // The receiver stores the message but answers 409: we think it failed, it has it.
    h.receiver.script = [{ kind: 'store-then-status', status: 409 }];
    const id = await h.submit(buildEvent());
    await h.reachesState(id, 'dead');
    const d = await h.delivery(id);
    expect((await h.replay(d.id)).status).toBe(202);
    await h.reachesState(id, 'delivered');
    const hits = h.receiver.hitsFor(d.idempotency_key);
    expect(hits).toHaveLength(2);
    expect(hits[1]!.raw.length).toBeGreaterThan(0);
    expect([...h.receiver.stored.keys()].filter((k) => k === d.idempotency_key)).toHaveLength(1);
  });

  it('retries 503 with backoff, honouring Retry-After, and then delivers', async () => {
    h.receiver.script = [
      { kind: 'status', status: 503, retryAfter: '1' },
      { kind: 'status', status: 503 },
    ];
    const id = await h.submit(buildEvent());
    await h.reachesState(id, 'delivered');
    const d = await h.delivery(id);
    const hits = h.receiver.hitsFor(d.idempotency_key);
    expect(hits).toHaveLength(3);
    // The test backoff is 100-500 ms; only the receiver's Retry-After explains a gap of a second.
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(950);
    expect(h.receiver.stored.has(d.idempotency_key)).toBe(true);
  });

  it('turns a 4xx into a dead letter with the receiver’s answer, which an operator replays', async () => {
    h.receiver.script = [
      {
        kind: 'status',
        status: 422,
        body: '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}',
      },
    ];
    const id = await h.submit(buildEvent());
    await h.reachesState(id, 'dead');
    const d = await h.delivery(id);
    expect(d.attempts).toBe(1);
    expect((await h.state(id)).stateReason).toContain('HTTP 422');
    const list = (await (await h.app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
      deadLetters: { id: string; lastStatus: number; answer: unknown }[];
    };
    // The receiver's answer as operators see it: its issues' codes, not its text (receiver-answer.ts).
    expect(list.deadLetters.find((l) => l.id === d.id)).toEqual(
      expect.objectContaining({
        lastStatus: 422,
        answer: {
          contentType: 'application/json',
          size: expect.any(Number),
          issues: [{ severity: 'error', code: 'invalid' }],
        },
      }),
    );
    expect((await h.replay(d.id)).status).toBe(202);
    await h.reachesState(id, 'delivered');
    expect(h.receiver.hitsFor(d.idempotency_key)).toHaveLength(2);
  });

  it.each<[string, ReceiverMode[]]>([
    // As draft-ietf-httpapi-idempotency-key-header has a receiver answer a request whose key is still in flight.
    [
      'a 409 answered to a retry (the receiver still processing the attempt that timed out)',
      [
        { kind: 'slow', delayMs: 1500 },
        { kind: 'status', status: 409 },
      ],
    ],
    // The route missing (a gateway without the channel, an app being redeployed), not the message: as a 5xx.
    [
      'a 404 and a 410 (the route missing, not the message), like a 5xx',
      [
        { kind: 'status', status: 404 },
        { kind: 'status', status: 410 },
      ],
    ],
  ])('retries %s, and delivers', async (_what, script) => {
    h.receiver.script = [...script];
    const id = await h.submit(buildEvent());
    await h.reachesState(id, 'delivered');
    const d = await h.delivery(id);
    expect(h.receiver.hitsFor(d.idempotency_key)).toHaveLength(3);
    // The retried answers counted as attempts, as any retried answer does.
    expect(d.attempts).toBe(3);
  });

  it('gives up on a slow receiver after the timeout and delivers on a later attempt', async () => {
    h.receiver.mode = { kind: 'slow', delayMs: 3000 };
    const id = await h.submit(buildEvent());
    await waitFor('a timed-out attempt', async () => {
      const d = await h.delivery(id);
      return d.attempts > 0 && d.last_error === 'timeout';
    });
    expect((await h.state(id)).state).toBe('decided');
    h.receiver.mode = { kind: 'ok' };
    await h.reachesState(id, 'delivered');
    const d = await h.delivery(id);
    // The slow receiver may have stored the first copy after we gave up: still one stored message.
    expect(h.receiver.hitsFor(d.idempotency_key).length).toBeGreaterThanOrEqual(2);
    expect(h.receiver.stored.has(d.idempotency_key)).toBe(true);
  });

  it('retries when the receiver drops the connection mid-response', async () => {
    h.receiver.mode = { kind: 'drop-mid-response' };
    const id = await h.submit(buildEvent());
    await waitFor('an attempt cut off mid-response', async () => {
      const d = await h.delivery(id);
      return d.attempts > 0 && d.last_error?.startsWith('connection lost while reading the response');
    });
    h.receiver.mode = { kind: 'ok' };
    await h.reachesState(id, 'delivered');
    expect(h.receiver.hitsFor((await h.delivery(id)).idempotency_key).length).toBeGreaterThanOrEqual(2);
  });

  describe('every delivery event type', () => describeEventTypes(h));

  it('retries when the receiver drops the connection without answering', async () => {
    h.receiver.mode = { kind: 'drop' };
    const id = await h.submit(buildEvent());
    await waitFor('an attempt without an answer', async () => {
      const d = await h.delivery(id);
      return d.attempts > 0 && d.last_error?.startsWith('network error');
    });
    h.receiver.mode = { kind: 'ok' };
    await h.reachesState(id, 'delivered');
  });
}

/**
 * Every delivery event type the format can receive (EVENT_TYPE_CASES: a municipality's, and a practice's too when the
 * format `servesPractices`), handed to its adapter as the pipeline hands it: the message must carry the event (the
 * receiver gets a body naming the event's main resource), or the adapter refuses the type at once with a
 * PermanentDeliveryError naming it, sending nothing. A format that sends a monitoring report without its
 * MeasureReport (an envelope with a type and an id) fails here instead of "delivering" nothing.
 */
function describeEventTypes(h: Harness): void {
  const types = (Object.keys(EVENT_TYPE_CASES) as DeliveryEventType[]).filter((t) => EVENT_TYPE_CASES[t]);

  it.each(types)(
    'carries %s, or refuses it for good naming the type (when the format can receive it)',
    async (type) => {
      const c = EVENT_TYPE_CASES[type]!;
      const format = FORMATS.find((f) => f.adapter.name === h.destination.adapter)!;
      if (c.to === 'practice' && !format.servesPractices) {
        return;
      }
      const idempotencyKey = randomUUID();
      let outcome: { sent: true } | { refused: Error };
      try {
        await format.adapter.deliver(h.destination, c.resources(), {
          idempotencyKey,
          traceId: randomUUID().replaceAll('-', ''),
          eventType: type,
          defaultTimeoutMs: 2000,
        });
        outcome = { sent: true };
      } catch (err) {
        outcome = { refused: err as Error };
      }
      const hits = h.receiver.hitsFor(idempotencyKey);
      if ('refused' in outcome) {
        expect(outcome.refused.name).toBe('PermanentDeliveryError');
        expect(outcome.refused.message).toContain(type);
        expect(hits).toHaveLength(0);
        return;
      }
      expect(hits).toHaveLength(1);
      expect(hits[0]!.raw).toContain(c.mainId());
    },
  );
}

/**
 * A contact (`first`, its duration 30 minutes) whose delivery the receiver refuses (a dead letter), then its
 * correction (the practice's same contact id in a later event: 45 minutes), delivered. The ids of both events.
 */
export async function deadContactThenCorrection(
  h: Harness,
  first: Record<string, unknown>,
): Promise<{ firstId: string; correctedId: string }> {
  h.receiver.script = [{ kind: 'status', status: 422 }];
  const firstId = await h.submit(first);
  await h.reachesState(firstId, 'dead');
  const contact = first.contact as { id: string };
  const correctedId = await h.submit({
    ...first,
    eventId: `${String(first.eventId)}-corrected`,
    contact: { ...contact, durationMinutes: 45 },
  });
  await h.reachesState(correctedId, 'delivered');
  return { firstId, correctedId };
}

/**
 * The operator replays the dead letter of a contact whose correction the receiver holds: not sent, the event
 * `completed` saying why, and the receiver hit only by the refused attempt.
 */
export async function replayOfCorrectedContact(h: Harness, firstId: string): Promise<void> {
  const d = await h.delivery(firstId);
  expect((await h.replay(d.id)).status).toBe(202);
  await h.reachesState(firstId, 'completed');
  expect((await h.state(firstId)).stateReason).toBe(SUPERSEDED_BY_CORRECTION);
  expect((await h.delivery(firstId)).state).toBe('cancelled');
  expect(h.receiver.hitsFor(d.idempotency_key)).toHaveLength(1);
}

/** A destination for the contract: slow enough to time out in the test, never paused by the contract's failures. */
export function contractDestination(baseUrl: string, overrides: Partial<Destination>): Destination {
  return buildDestination(baseUrl, {
    timeoutMs: 700,
    retry: { maxAttempts: 12 },
    pauseAfterFailures: 0,
    ...overrides,
  });
}
