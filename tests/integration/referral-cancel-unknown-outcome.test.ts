import { buildReferralEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import type { ReceiverMode } from '../helpers/delivery-receiver';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * A referral whose delivery attempt had an unknown outcome (no answer in time, a 5xx from a receiver that may have
 * stored it first) and that the practice cancels while its retry waits: the municipality may hold it, so the
 * cancellation goes out and the attempt is audited as a disclosure that may have arrived (report-xmuni 1: it was
 * completed as "cancelled before it was sent", the cancellation dropped, and the municipality kept an active
 * referral of which jeugdbrug had no disclosure on record).
 */
describe('what the municipality gets and reads of a referral the practice cancelled', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    // A first retry far enough off to cancel the referral while it waits (the destination times out at 700 ms).
    env: { DELIVERY_BACKOFF_BASE_MS: '2500', DELIVERY_BACKOFF_MAX_MS: '2500' },
  });

  /** The referral's Export/disclose AuditEvents, by outcome. */
  const disclosuresOf = async (inboxId: string) =>
    (
      await h.app.rt.ctx.db.query<{ outcome: string }>(
        `SELECT outcome FROM audit_event WHERE subtype = 'disclose' AND resource::text LIKE '%' || $1 || '%'
          ORDER BY seq`,
        [inboxId],
      )
    ).map((a) => a.outcome);

  /** Submits a referral whose first attempt is answered as `first`, then its cancellation once that attempt failed. */
  const cancelAfterFirstAttempt = async (first: ReceiverMode) => {
    h.receiver.script = [first];
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await waitFor('the first attempt to fail', async () => (await h.delivery(id)).attempts === 1 || undefined);
    const cancelId = await h.submit(
      buildReferralEvent({
        eventType: 'referral.cancelled',
        referral: { id: (referral.referral as { id: string }).id },
      }),
    );
    return { id, cancelId, referral };
  };

  it.each<[string, ReceiverMode, number | null]>([
    ['no answer within the timeout', { kind: 'slow', delayMs: 1200 }, null],
    ['a 500 after the receiver stored it', { kind: 'store-then-status', status: 500 }, 500],
  ])('sends the cancellation after %s, and audits the attempt as possibly received', async (_, first, status) => {
    const { id, cancelId, referral } = await cancelAfterFirstAttempt(first);
    const referralKey = (await h.delivery(id)).idempotency_key;
    expect(h.receiver.hitsFor(referralKey)).toHaveLength(1);

    await h.reachesState(cancelId, 'delivered');
    expect(h.receiver.hitsFor((await h.delivery(cancelId)).idempotency_key)).toHaveLength(1);
    await h.reachesState(id, 'completed');
    expect((await h.state(id)).stateReason).toBe(
      'cancelled by the practice before it was sent again; an earlier attempt may have reached the municipality',
    );
    // Not sent again, and the receiver's last answer stays for whoever looks into it.
    expect(h.receiver.hitsFor(referralKey)).toHaveLength(1);
    const delivery = await h.delivery(id);
    expect([delivery.state, delivery.attempts, delivery.last_status]).toEqual(['cancelled', 1, status]);
    expect(await disclosuresOf(id)).toEqual(['4']);
    // report-xregress5 M2: the case worker's list shows the cancellation, but offers no status form for a referral
    // that may never have arrived (that form answered 404); it says why instead.
    const value = (referral.referral as { id: string }).id;
    const municipality = await openConsole(h.app, 'municipality');
    const list = await (await municipality.get('/console/municipality/referrals')).text();
    expect(list).toContain(value);
    expect(list).not.toMatch(new RegExp(`href="/console/municipality/referrals/[^"]*${value}"`));
    expect(list).toContain('De verwijzing zelf is hier niet zeker aangekomen');
  });

  it('sends the cancellation when the possibly received attempt was audited but its recording failed', async () => {
    // The attempt's outcome-4 disclosure is written, then recording the attempt (and with it `possibly_received_at`)
    // fails, as under a held lock or a statement timeout: the cancellation read the referral as never sent, and the
    // municipality kept a referral the practice cancelled.
    const db = h.app.rt.ctx.db;
    await db.query(`CREATE FUNCTION test_attempt_refused() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.attempts > OLD.attempts AND (SELECT event_type FROM inbox WHERE id = NEW.inbox_id) = 'referral.created'
        THEN RAISE EXCEPTION 'canceling statement due to lock timeout' USING ERRCODE = '55P03';
        END IF;
        RETURN NEW;
      END $$`);
    await db.query(`CREATE TRIGGER test_attempt_refused BEFORE UPDATE ON delivery
      FOR EACH ROW EXECUTE FUNCTION test_attempt_refused()`);
    try {
      h.receiver.script = [{ kind: 'store-then-status', status: 500 }];
      const referral = buildReferralEvent();
      const id = await h.submit(referral);
      await waitFor('the attempt audited as possibly received', async () =>
        (await disclosuresOf(id)).includes('4') ? true : undefined,
      );
      const referralKey = (await h.delivery(id)).idempotency_key;
      const cancelId = await h.submit(
        buildReferralEvent({
          eventType: 'referral.cancelled',
          referral: { id: (referral.referral as { id: string }).id },
        }),
      );
      await h.reachesState(id, 'completed');
      expect((await h.state(id)).stateReason).toBe(
        'cancelled by the practice before it was sent again; an earlier attempt may have reached the municipality',
      );
      await h.reachesState(cancelId, 'delivered');
      expect(h.receiver.hitsFor(referralKey)).toHaveLength(1);
      expect(h.receiver.hitsFor((await h.delivery(cancelId)).idempotency_key)).toHaveLength(1);
      expect((await h.delivery(id)).possibly_received_at).not.toBeNull();
    } finally {
      await db.query('DROP TRIGGER test_attempt_refused ON delivery');
      await db.query('DROP FUNCTION test_attempt_refused()');
    }
  });

  it('sends neither after an answer that says the receiver did not take it (429)', async () => {
    const { id, cancelId } = await cancelAfterFirstAttempt({ kind: 'status', status: 429 });
    await h.reachesState(cancelId, 'completed');
    await h.reachesState(id, 'completed');
    expect((await h.state(id)).stateReason).toBe('cancelled by the practice before it was sent');
    expect((await h.state(cancelId)).stateReason).toBe(
      'not sent: the referral it cancels never reached the municipality',
    );
    expect(h.receiver.hitsFor((await h.delivery(cancelId)).idempotency_key)).toEqual([]);
    const delivery = await h.delivery(id);
    expect([delivery.state, delivery.attempts, delivery.last_status]).toEqual(['cancelled', 1, 429]);
    expect(await disclosuresOf(id)).toEqual([]);
  });

  it('says in the status read of a delivered referral that the practice cancelled it, and names the referral in the 409', async () => {
    // report-xmuni 3: the read said `current: accepted`, and the POST's 409 named no field.
    const referral = buildReferralEvent();
    const referralId = (referral.referral as { id: string }).id;
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');
    const path = `/municipality/v1/referrals/${encodeURIComponent(referralId)}/status`;
    const before = (await (await h.app.request(path, { key: 'municipality' })).json()) as Record<string, unknown>;
    expect(before.cancelledByPractice).toBeNull();

    const cancelId = await h.submit(
      buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } }),
    );
    await h.reachesState(cancelId, 'delivered');
    const read = (await (await h.app.request(path, { key: 'municipality' })).json()) as {
      cancelledByPractice: { on: string; reachedAt: string } | null;
    };
    expect(read.cancelledByPractice?.on).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Date.parse(read.cancelledByPractice?.reachedAt ?? '')).not.toBeNaN();

    const res = await h.app.request(path, { json: { status: 'accepted', date: '2026-11-21' }, key: 'municipality' });
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(outcome.issue[0]?.expression).toEqual(['identifier']);
    expect(JSON.stringify(outcome)).toContain('The practice cancelled this referral');
  });
});

/**
 * A `fhir-rest` server answers a cancellation of a referral it never stored 404 (FHIR R4: a conditional patch without
 * a match), with an OperationOutcome. It was retried as a missing route into a dead letter.
 */
describe("a fhir-rest server's 404 to a cancellation", () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), { adapter: 'fhir-rest' }),
    env: { DELIVERY_BACKOFF_BASE_MS: '2500', DELIVERY_BACKOFF_MAX_MS: '2500' },
  });
  /** A 404 with an OperationOutcome of one issue of `code`. */
  const answer404 = (code: string, diagnostics: string) =>
    ({
      kind: 'status',
      status: 404,
      body: JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] }),
    }) as const;
  const notFound = answer404('not-found', 'no ServiceRequest matches the identifier');

  const cancellationOf = (referral: ReturnType<typeof buildReferralEvent>) =>
    h.submit(
      buildReferralEvent({
        eventType: 'referral.cancelled',
        referral: { id: (referral.referral as { id: string }).id },
      }),
    );

  it('records the cancellation of a referral that only possibly arrived as done, not retried', async () => {
    h.receiver.script = [{ kind: 'slow', delayMs: 1200 }, notFound];
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await waitFor('the first attempt to fail', async () => (await h.delivery(id)).attempts === 1 || undefined);
    const cancelId = await cancellationOf(referral);
    await h.reachesState(cancelId, 'completed');
    expect((await h.state(cancelId)).stateReason).toBe(
      `${h.destination.id}: HTTP 404; nothing to cancel: the municipality does not hold the referral, which only possibly reached it`,
    );
    const delivery = await h.delivery(cancelId);
    expect([delivery.state, delivery.attempts, delivery.last_status]).toEqual(['cancelled', 1, 404]);
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(1);
    const [audit] = await h.app.rt.ctx.db.query<{ outcome: string; resource: string }>(
      `SELECT outcome, resource FROM audit_event WHERE subtype = 'disclose' AND entities @> ARRAY[$1] ORDER BY seq`,
      [`inbox/${cancelId}`],
    );
    expect(audit?.outcome).toBe('4');
    expect(audit?.resource).toContain('nothing to cancel: the municipality does not hold the referral');
  });

  // A FHIR server (HAPI, say) also answers an unknown base path or resource type 404 with an OperationOutcome: a
  // misconfigured baseUrl ended the cancellation as "nothing to cancel", uncounted towards a pause, while the referral
  // possibly reached the municipality.
  it('retries a 404 whose OperationOutcome does not say not-found: the receiver may be misconfigured', async () => {
    h.receiver.script = [{ kind: 'slow', delayMs: 1200 }, answer404('not-supported', 'unknown resource type')];
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await waitFor('the first attempt to fail', async () => (await h.delivery(id)).attempts === 1 || undefined);
    const cancelId = await cancellationOf(referral);
    await waitFor('the cancellation attempted', async () => (await h.delivery(cancelId)).attempts === 1 || undefined);
    const delivery = await h.delivery(cancelId);
    expect([delivery.state, delivery.last_status, delivery.last_error]).toEqual(['pending', 404, 'HTTP 404']);
    await h.reachesState(cancelId, 'delivered');
  });

  it('retries a 404 to the cancellation of a referral the municipality accepted: it lost what it received', async () => {
    h.receiver.script = [{ kind: 'ok' }, notFound];
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');
    const cancelId = await cancellationOf(referral);
    await waitFor('the cancellation attempted', async () => (await h.delivery(cancelId)).attempts === 1 || undefined);
    const delivery = await h.delivery(cancelId);
    expect([delivery.state, delivery.last_status, delivery.last_error]).toEqual(['pending', 404, 'HTTP 404']);
    await h.reachesState(cancelId, 'delivered');
  });
});
