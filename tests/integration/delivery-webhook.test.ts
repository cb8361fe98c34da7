import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { buildAgreement, buildContactEvent, buildReferralEvent } from '../helpers/builders';
import {
  contractDestination,
  deadContactThenCorrection,
  describeAdapterContract,
  replayOfCorrectedContact,
  useDeliveryApp,
} from '../unit/delivery/support/adapter-contract';

// The Standard Webhooks secret format: whsec_ and the base64 of the key bytes.
const SECRET = `whsec_${Buffer.from('0123456789abcdef-shared-with-the-receiver').toString('base64')}`;
process.env.TEST_WEBHOOK_SECRET = SECRET;
process.env.TEST_WEBHOOK_WRONG_SECRET = `whsec_${Buffer.from('not-the-secret-the-receiver-knows').toString('base64')}`;
const WRONG_MUNICIPALITY = 'GM0344';

describe('webhook delivery adapter (signed)', () => {
  const h = useDeliveryApp({
    destination: (r) =>
      contractDestination(r.url('/hook'), {
        adapter: 'webhook',
        auth: { type: 'hmac', secretEnv: 'TEST_WEBHOOK_SECRET' },
      }),
    extraDestinations: (r) => [
      contractDestination(r.url('/hook-wrong'), {
        id: 'gm0344',
        municipality: WRONG_MUNICIPALITY,
        adapter: 'webhook',
        auth: { type: 'hmac', secretEnv: 'TEST_WEBHOOK_WRONG_SECRET' },
      }),
    ],
    extraAgreements: [
      buildAgreement({ id: 'wrong-secret', municipality: { code: WRONG_MUNICIPALITY, name: 'Lingewaard' } }),
    ],
    // The receiver verifies every POST with the shared secret and answers 401 to a bad signature.
    prepareReceiver: (r) => {
      r.webhookSecret = SECRET;
    },
  });

  describeAdapterContract(h, '/hook');

  it('signs every request so that the receiver can verify it', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'delivered');
    const hit = h.receiver.hitsFor((await h.delivery(id)).idempotency_key)[0]!;
    expect(hit.signatureValid).toBe(true);
    const timestamp = hit.headers['webhook-timestamp']!;
    expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(60);
    // webhook-id is the message's idempotency key: the same on every retry, so receivers can drop duplicates by it.
    const webhookId = hit.headers['webhook-id']!;
    expect(webhookId).toBe(hit.idempotencyKey);
    // Recomputed here from the raw body, as the Standard Webhooks specification defines the v1 signature.
    const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${webhookId}.${timestamp}.${hit.raw}`).digest('base64');
    expect(hit.headers['webhook-signature']).toBe(`v1,${expected}`);
    // And verified with the specification's own library, as docs/delivery.md tells a receiver to.
    expect(new Webhook(SECRET).verify(hit.raw, hit.headers)).toEqual(hit.body);
    expect(() => new Webhook(SECRET).verify(`${hit.raw} `, hit.headers)).toThrow('No matching signature');
    expect(h.receiver.deliveries.filter((d) => d.path === '/hook').every((d) => d.signatureValid)).toBe(true);
  });

  it('dates notification-event when the event occurred: the same on every attempt, unlike Bundle.timestamp', async () => {
    h.receiver.script = [{ kind: 'status', status: 503 }];
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'delivered');
    const hits = h.receiver.hitsFor((await h.delivery(id)).idempotency_key);
    expect(hits).toHaveLength(2);
    const [event] = await h.app.rt.ctx.db.query<{ received_at: Date }>('SELECT received_at FROM inbox WHERE id = $1', [
      id,
    ]);
    const receivedAt = event!.received_at.toISOString();
    expect(hits.map(eventTimestampOf)).toEqual([receivedAt, receivedAt]);
    // The Bundle is made afresh per attempt, after the backoff between them.
    expect(Date.parse((hits[1]!.body as Bundle).timestamp!)).toBeGreaterThan(
      Date.parse((hits[0]!.body as Bundle).timestamp!),
    );
  });

  it('gives a correction a later notification-event timestamp, and never sends the older contact after it', async () => {
    const { firstId, correctedId } = await deadContactThenCorrection(h, buildContactEvent({ durationMinutes: 30 }));
    const [refused] = h.receiver.hitsFor((await h.delivery(firstId)).idempotency_key);
    const [accepted] = h.receiver.hitsFor((await h.delivery(correctedId)).idempotency_key);
    const encounterOf = (hit: typeof refused) =>
      (hit!.body as Bundle).entry!.find((e) => e.resource!.resourceType === 'Encounter')!.resource!.id;
    // The same Encounter, ordered by when jeugdbrug received each version.
    expect(encounterOf(accepted)).toBe(encounterOf(refused));
    expect(Date.parse(eventTimestampOf(accepted!)!)).toBeGreaterThan(Date.parse(eventTimestampOf(refused!)!));
    await replayOfCorrectedContact(h, firstId);
  });

  it('sends a subscription-notification Bundle whose first entry is the SubscriptionStatus', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'delivered');
    const key = (await h.delivery(id)).idempotency_key;
    const bundle = h.receiver.hitsFor(key)[0]!.body as Bundle;
    expect(bundle.type).toBe('history');
    const status = bundle.entry![0]!.resource as Parameters;
    expect(status.resourceType).toBe('Parameters');
    const param = (name: string) => status.parameter!.find((p) => p.name === name);
    expect(param('topic')?.valueCanonical).toBe('https://jeugdbrug.nl/fhir/SubscriptionTopic/referral.created');
    expect(param('type')?.valueCode).toBe('event-notification');
    const event = param('notification-event')!.part!;
    expect(event.find((p) => p.name === 'event-number')?.valueString).toBe(key);
    const focus = event.find((p) => p.name === 'focus')?.valueReference?.reference;
    const focused = bundle.entry!.find((e) => e.fullUrl === focus);
    expect(focused?.resource?.resourceType).toBe('ServiceRequest');
    expect(bundle.entry!.slice(1).every((e) => e.request && e.response)).toBe(true);
  });

  it('is refused by the receiver when signed with another secret, and becomes a dead letter', async () => {
    const id = await h.submit(
      buildReferralEvent({ child: { ...(buildReferralEvent().child as object), municipality: WRONG_MUNICIPALITY } }),
    );
    await h.reachesState(id, 'dead');
    const d = await h.delivery(id);
    expect(d.last_status).toBe(401);
    const hit = h.receiver.hitsFor(d.idempotency_key)[0]!;
    expect(hit.signatureValid).toBe(false);
    expect(h.receiver.stored.has(d.idempotency_key)).toBe(false);
  });
});

/** A notification's `notification-event.timestamp`: when jeugdbrug received the event. */
function eventTimestampOf(hit: { body: unknown }): string | undefined {
  return ((hit.body as Bundle).entry![0]!.resource as Parameters)
    .parameter!.find((p) => p.name === 'notification-event')!
    .part!.find((p) => p.name === 'timestamp')?.valueInstant;
}
