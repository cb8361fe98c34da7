import type { Bundle } from '@medplum/fhirtypes';
import { buildAgreement, buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';
import { deliverJobId } from '../../src/event/queues';
import { RESENT_BY_PRACTICE } from '../../src/event/states';
import { waitFor } from '../helpers/wait-for';

/**
 * A cancellation discloses nothing new: the municipality holds the referral it withdraws, and withdrawing it is what
 * the family would want. So a HIS's minimal `referral.cancelled` (no guardians, only the referral's id) of a referral
 * delivered to the municipality reaches it under the agreement without a new consent decision, cut down to what
 * identifies the referral and its cancellation (report-xhis X2: it was accepted with 202, then denied for want of a
 * guardian, and the municipality kept the referral active).
 */
describe('the cancellation of a referral under an agreement resting on consent', () => {
  const h = useDeliveryApp({
    // A cancellation held open at the receiver must stay one send in flight for as long as the test holds it. The
    // destination's own timeout bounds a send: the contract's 700 ms cut it short on a loaded machine, and its retry,
    // not held, delivered it, so the referral sent again went out too, as it then should. A job lock lapsing in an
    // event-loop stall of a second or two (JOB_LOCK_MS 2000 in tests) let the stall check hand the held send to
    // another worker slot, which sent it again. Neither is what these tests are about.
    destination: (r) => contractDestination(r.url('/fhir'), { timeoutMs: 60_000 }),
    agreement: buildAgreement({ legalBasis: 'consent' }),
    env: { JOB_LOCK_MS: '30000' },
  });
  const REASON_TEXT = 'Zorgen over gedrag thuis en op school';

  /** The HIS's smallest cancellation of `referral`: its id, no guardians. */
  const minimalCancellation = (referral: Record<string, unknown>, referralId: string) => ({
    ...buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } }),
    child: referral.child,
    guardians: [],
  });

  const decisionsOf = (inboxId: string) =>
    h.app.rt.ctx.db.query<{ outcome_desc: string | null; outcome: string }>(
      `SELECT resource::json->>'outcomeDesc' AS outcome_desc, outcome FROM audit_event
        WHERE subtype = 'AuthZ-Consent' AND resource::text LIKE '%' || $1 || '%' ORDER BY seq`,
      [inboxId],
    );

  it('delivers a minimal cancellation of a delivered referral, with identifiers and status only', async () => {
    const referral = buildReferralEvent();
    const consentId = await h.submit(
      buildConsentEvent(referral, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] }),
    );
    await h.reachesState(consentId, 'completed');
    const referralEventId = await h.submit(referral);
    await h.reachesState(referralEventId, 'delivered');

    const cancelId = await h.submit(minimalCancellation(referral, (referral.referral as { id: string }).id));
    await h.reachesState(cancelId, 'delivered');
    const history = (await h.state(cancelId)).history as { state: string; reason?: string | null }[];
    expect(history.find((e) => e.state === 'decided')?.reason).toMatch(/^permitted-as-cancellation: /);

    const [hit, ...more] = h.receiver.hitsFor((await h.delivery(cancelId)).idempotency_key);
    expect(more).toEqual([]);
    // fhir-rest: the receiver's copy of the referral gets its status only (a conditional FHIRPath Patch): an update
    // with identifiers and status alone would erase the rest of what it holds. The child as a conditional create.
    const entries = (hit!.body as Bundle).entry!;
    expect(entries.map((e) => `${e.request!.method} ${e.resource!.resourceType}`).sort()).toEqual([
      'PATCH Parameters',
      'POST Patient',
    ]);
    const patch = entries.find((e) => e.request!.method === 'PATCH')!;
    expect(patch.request!.url).toMatch(/^ServiceRequest\?identifier=/);
    expect(JSON.stringify(patch.resource)).toContain('"valueCode":"revoked"');
    const child = entries.find((e) => e.resource!.resourceType === 'Patient')!.resource!;
    expect(Object.keys(child).sort()).toEqual(['identifier', 'resourceType']);
    expect(hit!.raw).not.toContain('category');
    expect(hit!.raw).not.toContain(REASON_TEXT);
    expect(hit!.raw).not.toContain('Jansen');
    // Decided twice (map and deliver), each audited with its reason.
    const decisions = await decisionsOf(cancelId);
    expect(decisions.length).toBeGreaterThanOrEqual(2);
  });

  it('says in words that a referral never sent to the municipality has nothing to cancel', async () => {
    // No consent: the referral itself is denied, so the municipality never had it.
    const referral = buildReferralEvent();
    const referralEventId = await h.submit(referral);
    await h.reachesState(referralEventId, 'denied');
    const cancelId = await h.submit(minimalCancellation(referral, (referral.referral as { id: string }).id));
    await h.reachesState(cancelId, 'denied');
    const reason = (await h.state(cancelId)).stateReason ?? '';
    expect(reason).toMatch(/^referral-not-disclosed: /);
    expect(reason).toContain(`referral ${(referral.referral as { id: string }).id} was never sent to GM0226`);
    expect(reason).not.toContain('guardian');
    expect(
      h.receiver.hitsFor((await h.delivery(cancelId).catch(() => ({ idempotency_key: '-' }))).idempotency_key),
    ).toEqual([]);
  });

  /** A municipality's `accepted` on the referral with this id, as its case worker sends it. */
  const accept = (referralId: string) =>
    h.app.request(`/municipality/v1/referrals/${encodeURIComponent(referralId)}/status`, {
      json: { status: 'accepted', date: '2026-11-21' },
      key: 'municipality',
    });

  /** Submits `events` as one request (an array) and returns their jeugdbrug ids, in order. */
  const submitTogether = async (events: Record<string, unknown>[]) => {
    const res = await h.app.request('/his/v1/events', { json: events, key: 'practice' });
    const body = (await res.json()) as { receipts: { id: string; status: string }[] };
    expect(res.status).toBe(202);
    expect(body.receipts.map((r) => r.status)).toEqual(events.map(() => 'accepted'));
    return body.receipts.map((r) => r.id);
  };

  /** A referral with the consent it needs recorded, ready to be sent. */
  const consentedReferral = async () => {
    const referral = buildReferralEvent();
    const consentId = await h.submit(
      buildConsentEvent(referral, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] }),
    );
    await h.reachesState(consentId, 'completed');
    return { referral, referralId: (referral.referral as { id: string }).id };
  };

  /** A referral delivered to the municipality, and the same referral as the practice sends it again. */
  const deliveredReferral = async () => {
    const { referral, referralId } = await consentedReferral();
    const firstId = await h.submit(referral);
    await h.reachesState(firstId, 'delivered');
    return { referral, referralId, again: { ...referral, eventId: `${referral.eventId as string}-again` } };
  };

  it('refuses a status on a referral the practice cancelled in a later request', async () => {
    const { referral, referralId } = await consentedReferral();
    const referralEventId = await h.submit(referral);
    await h.reachesState(referralEventId, 'delivered');
    const cancelId = await h.submit(minimalCancellation(referral, referralId));
    await h.reachesState(cancelId, 'delivered');

    const res = await accept(referralId);
    expect(res.status).toBe(409);
    expect(JSON.stringify(await res.json())).toContain('The practice cancelled this referral');
  });

  it('takes a referral and its cancellation in one request in the order sent: the referral is never sent', async () => {
    // report-xpolicy H1: both rows had the same received time, so the cancellation did not count as later; the
    // referral went out, and the municipality's `accepted` made it active again at the practice.
    const { referral, referralId } = await consentedReferral();
    const [referralEventId, cancelId] = await submitTogether([referral, minimalCancellation(referral, referralId)]);
    await h.reachesState(referralEventId!, 'completed');
    expect((await h.state(referralEventId!)).stateReason).toMatch(/cancel/i);
    await h.reachesState(cancelId!, 'completed');
    expect(h.receiver.hitsFor((await h.delivery(referralEventId!)).idempotency_key)).toEqual([]);
    expect(h.receiver.hitsFor((await h.delivery(cancelId!)).idempotency_key)).toEqual([]);

    // The municipality never had it: no status can be recorded on it, so none reaches the practice.
    const res = await accept(referralId);
    expect(res.status).toBe(404);
    const [feedback] = await h.app.rt.ctx.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM feedback WHERE inbox_id = $1',
      [referralEventId],
    );
    expect(feedback?.n).toBe(0);
  });

  it('sends a referral sent again after its cancellation in the same request, and takes its status', async () => {
    const { referral, referralId } = await consentedReferral();
    const again = { ...referral, eventId: `${referral.eventId as string}-again` };
    const [firstId, cancelId, againId] = await submitTogether([
      referral,
      minimalCancellation(referral, referralId),
      again,
    ]);
    await h.reachesState(firstId!, 'completed');
    await h.reachesState(againId!, 'delivered');
    await h.reachesState(cancelId!, 'completed');
    expect(h.receiver.hitsFor((await h.delivery(cancelId!)).idempotency_key)).toEqual([]);

    expect((await accept(referralId)).status).toBe(202);
  });

  it('sends a referral that follows its cancellation in one request, and not the cancellation: it cancels nothing', async () => {
    // report-xregress4 1: the cancellation, first in the request, went out a few ms after the referral it preceded,
    // and the municipality closed a referral jeugdbrug kept open.
    const { referral, referralId } = await consentedReferral();
    const [cancelId, referralEventId] = await submitTogether([minimalCancellation(referral, referralId), referral]);
    await h.reachesState(referralEventId!, 'delivered');
    // Decided on what came before it in the request: nothing of the referral had been sent,
    // so there is nothing to cancel; the referral sent after it did not make it a cancellation of a disclosed one.
    await h.reachesState(cancelId!, 'denied');
    expect((await h.state(cancelId!)).stateReason).toMatch(/^referral-not-disclosed: /);
    expect((await decisionsOf(cancelId!)).map((d) => d.outcome_desc)).not.toContainEqual(
      expect.stringMatching(/permitted-as-cancellation/),
    );
    await expect(h.delivery(cancelId!)).rejects.toThrow(/no delivery/);
    expect(h.receiver.hitsFor((await h.delivery(referralEventId!)).idempotency_key)).toHaveLength(1);
    expect((await accept(referralId)).status).toBe(202);
  });

  it('sends a delivered referral that the practice cancelled and sent again in one request, and not the cancellation', async () => {
    // The cancellation and the referral sent again went out at the same moment, in no fixed order, and the
    // municipality could end with the referral cancelled although the practice sent it last.
    const { referral, referralId, again } = await deliveredReferral();
    const [cancelId, againId] = await submitTogether([minimalCancellation(referral, referralId), again]);
    await h.reachesState(againId!, 'delivered');
    await h.reachesState(cancelId!, 'completed');
    expect((await h.state(cancelId!)).stateReason).toBe(RESENT_BY_PRACTICE);
    expect(h.receiver.hitsFor((await h.delivery(cancelId!)).idempotency_key)).toEqual([]);
    expect((await h.delivery(cancelId!)).state).toBe('cancelled');
    expect(h.receiver.hitsFor((await h.delivery(againId!)).idempotency_key)).toHaveLength(1);
    expect((await accept(referralId)).status).toBe(202);
  });

  it('sends a referral sent again while its cancellation is being sent only after the municipality answered that', async () => {
    const { referral, referralId, again } = await deliveredReferral();
    let answer = () => {};
    h.receiver.script = [{ kind: 'held', until: new Promise<void>((resolve) => (answer = resolve)) }];
    const cancelId = await h.submit(minimalCancellation(referral, referralId));
    const cancelKey = (await waitFor('the cancellation decided', () => h.delivery(cancelId))).idempotency_key;
    await waitFor('the cancellation at the municipality', () => h.receiver.hitsFor(cancelKey).length > 0);

    const againId = await h.submit(again);
    const resend = await waitFor('the resend decided', () => h.delivery(againId));
    const job = () =>
      h.app.rt.ctx.queues.getDeliverQueue(h.destination.id).getJob(deliverJobId(resend.id, resend.round));
    try {
      // Its deliver job ran and put itself off, or (the defect) sent it beside the cancellation.
      await waitFor(
        'the resend to wait or go out',
        async () =>
          h.receiver.hitsFor(resend.idempotency_key).length > 0 || (await (await job())?.getState()) === 'delayed',
      );
      expect(h.receiver.hitsFor(resend.idempotency_key).length).toBe(0);
    } finally {
      answer();
    }
    await h.reachesState(cancelId, 'delivered');
    await h.reachesState(againId, 'delivered');
    const order = h.receiver.deliveries
      .map((hit) => hit.idempotencyKey)
      .filter((k) => [cancelKey, resend.idempotency_key].includes(k));
    expect(order).toEqual([cancelKey, resend.idempotency_key]);
    expect((await accept(referralId)).status).toBe(202);
  });

  it('says that a cancellation of a referral jeugdbrug never received is judged as a disclosure of its own', async () => {
    const referral = buildReferralEvent();
    const cancelId = await h.submit(minimalCancellation(referral, `ref-elsewhere-${Date.now()}`));
    await h.reachesState(cancelId, 'denied');
    const reason = (await h.state(cancelId)).stateReason ?? '';
    expect(reason).toMatch(/^referral-unknown, consent-missing-child, no-guardian-with-authority: /);
    expect(reason).toContain('never received referral ref-elsewhere-');
  });
});
