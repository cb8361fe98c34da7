import { buildAgreement, buildConsentEvent, buildReferralEvent, buildWithdrawalEvent } from '../helpers/builders';
import { rememberAcceptedSend } from '../../src/event/accepted-sends';
import type { KeyName } from '../helpers/test-runtime';
import { formFields, openConsole } from '../helpers/console-client';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';
import { insertInboxRows, insertMonthOfDeliveries } from '../helpers/inbox-rows';
import { statementsOf } from '../helpers/recorded-statements';
import { listReceivedReferrals } from '../../src/reports/referral-timeline/received-referrals';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import { formatTime } from '../../src/http/console/i18n';
import { RESEND_CANCELLED_BY_PRACTICE } from '../../src/event/states';
import {
  countDeliveredInWindow,
  listDeliveredInWindow,
  readRedeliveryPage,
} from '../../src/reports/dead-letters/dead-letters';

/**
 * An operator's redelivery of delivered deliveries: the municipality answered 2xx and then lost the data (a crash
 * before its commit, a restore from backup), and asks for everything from its restore point again. The receiver is
 * a real one on 127.0.0.1 that counts what it got, by idempotency key.
 */
describe('redelivering delivered deliveries after a receiver lost them', () => {
  const h = useDeliveryApp({
    // A resend held open at the receiver (viewsWhileResentAndAfterItFailed) must stay one send for as long as the test
    // holds it. The destination's own timeout bounds a send: the contract's 700 ms cut it short on a loaded machine
    // (2 to 4 attempts and 3 to 5 copies at the receiver where one was meant; held through its 12 attempts, a dead
    // letter). A job lock lapsing in an event-loop stall of a second or two (JOB_LOCK_MS 2000 in tests) let the stall
    // check hand the held send to another worker slot, which sent it again.
    destination: (r) => contractDestination(r.url('/fhir'), { timeoutMs: 60_000 }),
    // Consent is the legal basis: a consent withdrawn since the first delivery denies a redelivery.
    agreement: buildAgreement({ legalBasis: 'consent' }),
    env: { JOB_LOCK_MS: '30000' },
  });

  const REASON = 'GM0226 restored its database from last night’s backup (ticket 4711)';

  interface Delivery {
    id: string;
    state: string;
    round: number;
    attempts: number;
    idempotency_key: string;
    delivered_at: Date | null;
    inbox_id: string;
  }

  const deliveriesOf = (inboxId: string) =>
    h.app.rt.ctx.db.query<Delivery>('SELECT * FROM delivery WHERE inbox_id = $1 ORDER BY created_at', [inboxId]);

  const deliveryById = async (id: string): Promise<Delivery> =>
    (await h.app.rt.ctx.db.query<Delivery>('SELECT * FROM delivery WHERE id = $1', [id]))[0]!;

  /** The database's clock: the window is compared with `delivered_at`, which PostgreSQL writes. */
  const dbNow = async (): Promise<string> =>
    (await h.app.rt.ctx.db.query<{ now: Date }>('SELECT clock_timestamp() AS now'))[0]!.now.toISOString();

  /** A referral of a fresh child, delivered under the child's and its guardian's consent. */
  async function deliveredUnderConsent() {
    const referral = buildReferralEvent();
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    const consentId = await h.submit(consent);
    await h.reachesState(consentId, 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    const [delivery] = await deliveriesOf(referralId);
    return { referral, consent, referralId, delivery: delivery! };
  }

  const redeliverOne = (deliveryId: string, body: unknown = { reason: REASON }, key: KeyName = 'operator') =>
    h.app.request(`/admin/v1/deliveries/${deliveryId}/redeliver`, { key, json: body });

  const redeliverWindow = (body: unknown, key: KeyName = 'operator') =>
    h.app.request('/admin/v1/deliveries/redeliver', { key, json: body });

  const deliveredAgain = (id: string, round: number) =>
    waitFor(`delivery ${id} delivered in round ${round}`, async () => {
      const d = await deliveryById(id);
      return d.state === 'delivered' && d.round === round ? d : undefined;
    });

  async function outcomeOf(res: Response): Promise<{ expression?: string[]; text: string }> {
    const body = (await res.json()) as { issue?: { expression?: string[]; details?: { text?: string } }[] };
    return { expression: body.issue?.[0]?.expression, text: body.issue?.[0]?.details?.text ?? '' };
  }

  it('sends one delivered referral again with the same idempotency key, in a new round, audited with who and why', async () => {
    const { referralId, delivery } = await deliveredUnderConsent();
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(1);
    // The receiver lost it: a restore from backup.
    h.receiver.stored.delete(delivery.idempotency_key);

    const res = await redeliverOne(delivery.id);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ redelivered: [delivery.id], denied: [] });

    const again = await deliveredAgain(delivery.id, 1);
    const hits = h.receiver.hitsFor(delivery.idempotency_key);
    expect(hits).toHaveLength(2);
    expect(hits[1]!.idempotencyKey).toBe(delivery.idempotency_key);
    expect(h.receiver.stored.has(delivery.idempotency_key)).toBe(true);
    // Attempts counted from zero in the new round: the one that delivered it.
    expect(again.attempts).toBe(1);
    expect(again.delivered_at!.getTime()).toBeGreaterThan(delivery.delivered_at!.getTime());

    const life = (await h.state(referralId)) as unknown as {
      state: string;
      history: { state: string; reason: string | null }[];
    };
    expect(life.state).toBe('delivered');
    expect(life.history.map((s) => s.state)).toEqual([
      'received',
      'mapped',
      'decided',
      'delivered',
      'decided',
      'delivered',
    ]);
    // The history says who asked; why is in the audit only (the practice reads the history).
    expect(life.history[4]!.reason).toBe('redelivered by api-key:operator');

    // Audited: the operator (who), the reason (why), the delivery (which); and the decision made again before it left.
    const audit = await h.app.rt.ctx.db.query<{ subtype: string; outcome: string; text: string }>(
      `SELECT subtype, outcome, resource::text AS text FROM audit_event WHERE $1 = ANY(entities) ORDER BY seq`,
      [`inbox/${referralId}`],
    );
    const asked = audit.filter((a) => a.subtype === 'redeliver');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.outcome).toBe('0');
    expect(asked[0]!.text).toContain('operator');
    expect(asked[0]!.text).toContain(REASON);
    expect(asked[0]!.text).toContain(delivery.id);
    expect(audit.some((a) => a.text.includes('decision at redeliver: permit'))).toBe(true);
  });

  it('sends again even when the note of the first send outlived it (its drop was lost)', async () => {
    const { delivery } = await deliveredUnderConsent();
    // "Sent once means sent once": a note found for the key makes a job record instead of send.
    await rememberAcceptedSend(h.app.rt.ctx.queues, delivery.idempotency_key, {
      status: 200,
      at: new Date().toISOString(),
      purpose: 'referral',
      resources: [],
      consentIds: [],
      audited: true,
    });
    expect((await redeliverOne(delivery.id)).status).toBe(202);
    await deliveredAgain(delivery.id, 1);
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(2);
  });

  it('does not send what a consent no longer covers, and says so for the delivery', async () => {
    const { consent, referralId, delivery } = await deliveredUnderConsent();
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'delivered');
    const before = h.receiver.hitsFor(delivery.idempotency_key).length;

    const res = await redeliverOne(delivery.id);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { redelivered: string[]; denied: { id: string; reasons: string }[] };
    expect(body.redelivered).toEqual([]);
    expect(body.denied).toEqual([{ id: delivery.id, reasons: expect.stringContaining('consent-') as string }]);

    // Nothing left, nothing changed but the record that it was asked and refused.
    await new Promise((r) => setTimeout(r, 500));
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(before);
    const d = await deliveryById(delivery.id);
    expect([d.state, d.round]).toEqual(['delivered', 0]);
    const life = (await h.state(referralId)) as unknown as {
      state: string;
      history: { state: string; reason: string | null }[];
    };
    expect(life.state).toBe('delivered');
    expect(life.history.at(-1)!.reason).toMatch(
      /^not redelivered \(asked by api-key:operator\): decided again: consent-withdrawn/,
    );
  });

  it('refuses what it cannot redeliver: no reason, not delivered, purged, unknown, outside the scope, not an operator', async () => {
    const { referralId, delivery } = await deliveredUnderConsent();

    const noReason = await redeliverOne(delivery.id, {});
    expect(noReason.status).toBe(400);
    expect((await outcomeOf(noReason)).expression).toEqual(['reason']);
    const blank = await redeliverOne(delivery.id, { reason: '   ' });
    expect(blank.status).toBe(400);
    // In words, not the schema library's ("Too small: expected string to have >=1 characters").
    expect(await outcomeOf(blank)).toEqual(
      expect.objectContaining({ expression: ['reason'], text: expect.stringContaining('why the deliveries are sent') }),
    );

    expect((await redeliverOne(delivery.id, { reason: REASON }, 'practice')).status).toBe(403);
    expect((await redeliverOne(delivery.id, { reason: REASON }, 'auditor')).status).toBe(403);
    // Another practice's operator: as an unknown id.
    expect((await redeliverOne(delivery.id, { reason: REASON }, 'otherOperator')).status).toBe(404);
    expect((await redeliverOne('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await redeliverOne('not-a-uuid')).status).toBe(404);

    // A dead letter is replayed, not redelivered.
    await h.app.rt.ctx.db.query(`UPDATE delivery SET state = 'dead' WHERE id = $1`, [delivery.id]);
    const dead = await redeliverOne(delivery.id);
    expect(dead.status).toBe(409);
    expect((await outcomeOf(dead)).text).toMatch(/is dead, not delivered/);
    await h.app.rt.ctx.db.query(`UPDATE delivery SET state = 'delivered' WHERE id = $1`, [delivery.id]);

    // Retention removed the content: nothing can be sent again, and the answer says why.
    await h.app.rt.ctx.db.query(`UPDATE inbox SET payload = NULL, canonical = NULL WHERE id = $1`, [referralId]);
    const purged = await redeliverOne(delivery.id);
    expect(purged.status).toBe(409);
    expect((await outcomeOf(purged)).text).toMatch(/purged/);
    expect(await deliveryById(delivery.id)).toEqual(expect.objectContaining({ state: 'delivered', round: 0 }));
    // The console's timeline offers no form for it, and says why.
    const timeline = await (
      await (await openConsole(h.app, 'operator')).get(`/console/operator/events?id=${referralId}`)
    ).text();
    expect(timeline).not.toContain(`/console/operator/deliveries/${delivery.id}/redeliver`);
    expect(timeline).toContain('De inhoud is na de bewaartermijn verwijderd');
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(1);
  });

  it('redelivers by destination and window: what was delivered in it, withdrawal notices too, each decided again', async () => {
    const earlier = await deliveredUnderConsent();
    const from = await dbNow();
    const kept = await deliveredUnderConsent();
    const withdrawn = await deliveredUnderConsent();
    const withdrawalId = await h.submit(buildWithdrawalEvent(withdrawn.consent, []));
    await h.reachesState(withdrawalId, 'delivered');
    const [notice] = await deliveriesOf(withdrawalId);
    const to = await dbNow();
    const later = await deliveredUnderConsent();
    const hitsOf = (d: Delivery) => h.receiver.hitsFor(d.idempotency_key).length;
    const before = [earlier.delivery, kept.delivery, withdrawn.delivery, notice!, later.delivery].map(hitsOf);
    expect(before).toEqual([1, 1, 1, 1, 1]);

    const res = await redeliverWindow({ destination: 'gm0226', from, to, reason: REASON });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      redelivered: string[];
      denied: { id: string; reasons: string }[];
      remaining: number;
    };
    // Oldest first: the referral still covered, then the notice; the withdrawn child's referral is not sent.
    expect(body.redelivered).toEqual([kept.delivery.id, notice!.id]);
    expect(body.denied).toEqual([
      { id: withdrawn.delivery.id, reasons: expect.stringContaining('consent-') as string },
    ]);
    expect(body.remaining).toBe(0);

    await deliveredAgain(kept.delivery.id, 1);
    await deliveredAgain(notice!.id, 1);
    const after = [earlier.delivery, kept.delivery, withdrawn.delivery, notice!, later.delivery].map(hitsOf);
    expect(after).toEqual([1, 2, 1, 2, 1]);
    // The same idempotency key: the notice is the same resource at the receiver.
    const noticeHits = h.receiver.hitsFor(notice!.idempotency_key);
    expect(JSON.stringify(noticeHits[1]!.body)).toBe(JSON.stringify(noticeHits[0]!.body));

    // Asked again for the same window: what was redelivered is delivered after it now, so it goes once.
    const again = (await (
      await redeliverWindow({ destination: 'gm0226', from, to, reason: REASON })
    ).json()) as typeof body;
    expect(again.redelivered).toEqual([]);
    expect(again.denied.map((d) => d.id)).toEqual([withdrawn.delivery.id]);
  });

  it('pages a window with `limit` and `after`, and counts what remains', async () => {
    const from = await dbNow();
    const a = await deliveredUnderConsent();
    const b = await deliveredUnderConsent();
    const to = await dbNow();
    const first = await redeliverWindow({ destination: 'gm0226', from, to, reason: REASON, limit: 1 });
    const firstBody = (await first.json()) as { redelivered: string[]; remaining: number; after?: unknown };
    expect(firstBody.redelivered).toEqual([a.delivery.id]);
    expect(firstBody.remaining).toBe(1);
    expect(firstBody.after).toBeDefined();
    const second = await redeliverWindow({
      destination: 'gm0226',
      from,
      to,
      reason: REASON,
      limit: 1,
      after: firstBody.after,
    });
    const secondBody = (await second.json()) as { redelivered: string[]; remaining: number; after?: unknown };
    expect(secondBody.redelivered).toEqual([b.delivery.id]);
    expect(secondBody.remaining).toBe(0);
    expect(secondBody.after).toBeUndefined();
    await deliveredAgain(b.delivery.id, 1);
  });

  it('keeps the first delivery when a redelivery fails: the resend is its own dead letter, replayable', async () => {
    const { referralId, delivery } = await deliveredUnderConsent();
    const firstAt = delivery.delivered_at!.toISOString();
    // The receiver restored its backup, then went down: the resend fails through all its attempts.
    h.receiver.stored.delete(delivery.idempotency_key);
    h.receiver.mode = { kind: 'status', status: 503 };
    expect((await redeliverOne(delivery.id)).status).toBe(202);
    const dead = await waitFor(`delivery ${delivery.id} dead`, async () => {
      const d = await deliveryById(delivery.id);
      return d.state === 'dead' ? d : undefined;
    });
    // The round that failed is the dead letter; when the receiver first accepted it is kept for audit and monitoring.
    expect(dead.round).toBe(1);
    expect(dead.delivered_at?.toISOString()).toBe(firstAt);

    // The event's history keeps the first delivery and says the dead letter is a redelivery's, of one delivered.
    const life = (await h.state(referralId)) as unknown as {
      state: string;
      history: { state: string; reason: string | null }[];
      deliveries: { id: string; state: string; round: number; deliveredAt: string | null }[];
    };
    expect(life.history.map((s) => s.state)).toEqual(['received', 'mapped', 'decided', 'delivered', 'decided', 'dead']);
    expect(life.history.at(-1)!.reason).toContain(`sent again after the receiver accepted it at ${firstAt}`);
    expect(life.deliveries).toEqual([
      expect.objectContaining({ id: delivery.id, state: 'dead', round: 1, deliveredAt: firstAt }),
    ]);

    // The dead-letter list says so too: a dead letter of a delivery the receiver once accepted.
    const listed = (await (
      await h.app.request('/admin/v1/dead-letters?destination=gm0226', { key: 'operator' })
    ).json()) as { deadLetters: { id: string; round: number; deliveredAt: string | null }[] };
    expect(listed.deadLetters.find((d) => d.id === delivery.id)).toEqual(
      expect.objectContaining({ round: 1, deliveredAt: firstAt }),
    );
    const operatorPage = await (
      await (await openConsole(h.app, 'operator')).get('/console/operator/dead-letters?destination=gm0226')
    ).text();
    expect(operatorPage).toContain('Eerder afgeleverd (');
    // The municipality received the referral, and may still read and send its status.
    const status = await h.app.request(`/municipality/v1/referrals/${referralId}/status`, { key: 'municipality' });
    expect(status.status).toBe(200);
    // The practice is not told its referral never reached the municipality: it did.
    const practicePage = await (
      await (await openConsole(h.app, 'practice')).get(`/console/practice/events/${referralId}`)
    ).text();
    expect(practicePage).not.toContain('niet naar de gemeente verstuurd');
    // Monitoring: a dead letter of the destination to replay, and nothing waiting for it any more.
    const metrics = await (await h.app.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(/^jeugdbrug_dead_letters\{destination="gm0226"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^jeugdbrug_oldest_pending_delivery_age_seconds\{destination="gm0226"\} 0$/m);

    // Replayed once the receiver is back: delivered again, under the same key.
    h.receiver.mode = { kind: 'ok' };
    const replay = await h.app.request(`/admin/v1/dead-letters/${delivery.id}/replay`, { key: 'operator', json: {} });
    expect(replay.status).toBe(202);
    const again = await deliveredAgain(delivery.id, 2);
    expect(again.delivered_at!.getTime()).toBeGreaterThan(delivery.delivered_at!.getTime());
    expect(h.receiver.stored.has(delivery.idempotency_key)).toBe(true);
  });

  it('shows the practice a referral whose resend failed as delivered, the failed resend noted, in Dutch', async () => {
    const { referralId, delivery } = await deliveredUnderConsent();
    h.receiver.mode = { kind: 'status', status: 503 };
    expect((await redeliverOne(delivery.id)).status).toBe(202);
    await waitFor(
      `delivery ${delivery.id} dead`,
      async () => (await deliveryById(delivery.id)).state === 'dead' || undefined,
    );
    h.receiver.mode = { kind: 'ok' };
    const practice = await openConsole(h.app, 'practice');
    const page = await (await practice.get(`/console/practice/events/${referralId}`)).text();
    // The municipality has it: delivered, and the resend that failed said as such, not a dead letter.
    expect(page).toMatch(/<dd>afgeleverd; opnieuw versturen mislukt<\/dd>/);
    expect(page).not.toContain('onbestelbaar');
    // Its history in Dutch, as the rest of the console: who asked, what failed, when the municipality had it.
    expect(page).toContain('opnieuw afleveren gevraagd door api-key:operator');
    expect(page).toContain('(alle pogingen gedaan); opnieuw verstuurd nadat de ontvanger het al had aangenomen op');
    for (const english of ['redelivered by', 'retries exhausted', 'sent again after', 'accepted it']) {
      expect(page).not.toContain(english);
    }
    // The list says the same, and not that the referral never reached the municipality.
    const [own] = await h.app.rt.ctx.db.query<{ eventId: string }>(
      'SELECT source_event_id AS "eventId" FROM inbox WHERE id = $1',
      [referralId],
    );
    const list = await (await practice.get(`/console/practice?eventId=${encodeURIComponent(own!.eventId)}`)).text();
    expect(list).toContain('<td>afgeleverd; opnieuw versturen mislukt</td>');
    expect(list).toContain('<td>nog geen</td>');
    // (The state filter above the list still offers "onbestelbaar": what the practice's other dead letters are.)
    expect(list).not.toContain('<td>onbestelbaar</td>');
    expect(list).not.toContain('<td>niet verstuurd</td>');
  });

  /** The practice's cancellation of `referral` (its id only, no guardians), as a HIS sends it; its jeugdbrug id. */
  const submitCancellation = (referral: Record<string, unknown>) =>
    h.submit({
      ...buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralIdOf(referral) } }),
      child: referral.child,
      guardians: [],
    });

  /** The practice's cancellation of `referral`, delivered after it; with its delivery. */
  async function deliveredCancellation(referral: Record<string, unknown>) {
    const cancelId = await submitCancellation(referral);
    await h.reachesState(cancelId, 'delivered');
    const [delivery] = await deliveriesOf(cancelId);
    return { cancelId, delivery: delivery! };
  }

  const referralIdOf = (referral: Record<string, unknown>) => (referral.referral as { id: string }).id;

  /** What the municipality sees of a referral it received: a status on it, and its row on the console's page. */
  async function municipalityView(referral: Record<string, unknown>) {
    const id = referralIdOf(referral);
    const status = await h.app.request(`/municipality/v1/referrals/${encodeURIComponent(id)}/status`, {
      json: { status: 'accepted', date: '2026-11-21' },
      key: 'municipality',
    });
    const page = await (
      await (await openConsole(h.app, 'municipality')).get(`/console/municipality/referrals?referral=${id}`)
    ).text();
    return {
      status: status.status,
      listed: page.includes(`<strong>${id}</strong>`),
      cancelled: page.includes('Ingetrokken door de praktijk op'),
    };
  }

  /**
   * `municipalityView` while delivery `deliveryId` (of `referral` or its cancellation) is sent again (held open at the
   * receiver, then let through), and after a second resend died (503 through all its attempts).
   */
  async function viewsWhileResentAndAfterItFailed(referral: Record<string, unknown>, deliveryId: string) {
    let release = () => {};
    h.receiver.mode = { kind: 'held', until: new Promise<void>((r) => (release = r)) };
    let inFlight: Awaited<ReturnType<typeof municipalityView>>;
    try {
      expect((await redeliverOne(deliveryId)).status).toBe(202);
      await waitFor('the resend held at the receiver', () => h.receiver.inFlight > 0 || undefined);
      expect((await deliveryById(deliveryId)).state).toBe('pending');
      inFlight = await municipalityView(referral);
    } finally {
      // Let through however this ends: a send held on is bounded by the destination's timeout alone, a minute.
      h.receiver.mode = { kind: 'ok' };
      release();
    }
    // One send, held throughout: not one cut short by a timeout and sent again, which is not what this is about.
    expect((await deliveredAgain(deliveryId, 1)).attempts).toBe(1);

    h.receiver.mode = { kind: 'status', status: 503 };
    expect((await redeliverOne(deliveryId)).status).toBe(202);
    await waitFor(
      `delivery ${deliveryId} dead`,
      async () => (await deliveryById(deliveryId)).state === 'dead' || undefined,
    );
    return [inFlight, await municipalityView(referral)];
  }

  it('keeps a cancellation that reached the municipality in force while it is sent again and after that failed', async () => {
    const { referral } = await deliveredUnderConsent();
    const { delivery } = await deliveredCancellation(referral);
    const ended = { status: 409, listed: true, cancelled: true };
    expect(await municipalityView(referral)).toEqual(ended);
    expect(await viewsWhileResentAndAfterItFailed(referral, delivery.id)).toEqual([ended, ended]);
    // It reached the municipality when it first did: its redelivery (done, then failed) does not move that.
    const refused = await h.app.request(
      `/municipality/v1/referrals/${encodeURIComponent(referralIdOf(referral))}/status`,
      {
        json: { status: 'accepted', date: '2026-11-21' },
        key: 'municipality',
      },
    );
    expect(JSON.stringify(await refused.json())).toContain(
      `the cancellation reached you ${delivery.delivered_at!.toISOString()}`,
    );
  });

  it('sends the practice’s cancellation of a delivered referral whose resend it stopped: the municipality had it', async () => {
    const { referral, delivery } = await deliveredUnderConsent();
    // The resend waits for a retry (the receiver answers 503) when the practice cancels the referral.
    h.receiver.mode = { kind: 'status', status: 503 };
    expect((await redeliverOne(delivery.id)).status).toBe(202);
    await waitFor('the resend refused once', async () =>
      (await deliveryById(delivery.id)).attempts > 0 ? true : undefined,
    );
    // The receiver takes deliveries again only once the cancellation is stored: before, a retry of the resend could
    // fall between the two and deliver it (under CI's load it did).
    const cancelId = await submitCancellation(referral);
    h.receiver.mode = { kind: 'ok' };
    await h.reachesState(cancelId, 'delivered', 30_000);
    const stopped = await deliveryById(delivery.id);
    expect([stopped.state, stopped.delivered_at]).toEqual(['cancelled', delivery.delivered_at]);
    // report-xregress5 M1: the referral stays delivered, its stopped resend said; it was `completed`, "cancelled by the
    // practice before it was sent", which the practice's poll and console took for never received.
    const referralLife = await h.state(stopped.inbox_id);
    expect([referralLife.state, referralLife.stateReason]).toEqual(['delivered', RESEND_CANCELLED_BY_PRACTICE]);
    const [cancellation] = await deliveriesOf(cancelId);
    expect(h.receiver.hitsFor(cancellation!.idempotency_key)).toHaveLength(1);
    expect(await municipalityView(referral)).toEqual({ status: 409, listed: true, cancelled: true });
    // The HIS sends its cancellation again: it is of a referral the municipality received, not of one never sent.
    const repeatId = await submitCancellation(referral);
    await h.reachesState(repeatId, 'delivered');
  });

  it('does not send again a cancellation the practice took back by sending the referral again, and says so', async () => {
    const { referral } = await deliveredUnderConsent();
    const { cancelId, delivery } = await deliveredCancellation(referral);
    const againId = await h.submit({ ...referral, eventId: `${referral.eventId as string}-again` });
    await h.reachesState(againId, 'delivered');
    // Sent again, the cancellation would reach the municipality after the referral that took it back.
    const res = await redeliverOne(delivery.id);
    expect(res.status).toBe(409);
    expect((await outcomeOf(res)).text).toMatch(/the practice sent this referral again after this cancellation/);
    expect(await deliveryById(delivery.id)).toEqual(expect.objectContaining({ state: 'delivered', round: 0 }));
    expect((await h.state(cancelId)).state).toBe('delivered');
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(1);
    expect((await municipalityView(referral)).status).toBe(202);
  });

  it('lists a referral for the municipality while it is sent again and after that failed', async () => {
    const { referral, delivery } = await deliveredUnderConsent();
    const received = { status: 202, listed: true, cancelled: false };
    // The same status again after the resend failed: recorded once, answered 200.
    expect(await viewsWhileResentAndAfterItFailed(referral, delivery.id)).toEqual([
      received,
      { ...received, status: 200 },
    ]);
  });

  it('lists a referral sent again by when the municipality first received it, not by its redelivery', async () => {
    const first = await deliveredUnderConsent();
    // Delivered two days ago: what the municipality's case worker knows it by.
    const [shifted] = await h.app.rt.ctx.db.query<{ delivered_at: Date }>(
      `UPDATE delivery SET delivered_at = delivered_at - interval '2 days' WHERE id = $1 RETURNING delivered_at`,
      [first.delivery.id],
    );
    const firstAt = shifted!.delivered_at;
    const later = await deliveredUnderConsent();
    h.receiver.stored.delete(first.delivery.idempotency_key);
    expect((await redeliverOne(first.delivery.id)).status).toBe(202);
    const again = await deliveredAgain(first.delivery.id, 1);
    // `delivered_at` still says when the receiver last accepted it (the redelivery window reads it).
    expect(again.delivered_at!.getTime()).toBeGreaterThan(later.delivery.delivered_at!.getTime());

    const ctx = h.app.rt.ctx;
    const ids = [first.referralId, later.referralId];
    const listed = (await listReceivedReferrals(ctx, ['gm0226'], { limit: 100 })).referrals.filter((r) =>
      ids.includes(r.id),
    );
    // Newest first receipt first: the referral sent again stays below the one delivered after it, on its own day.
    expect(listed.map((r) => [r.id, r.deliveredAt.toISOString()])).toEqual([
      [later.referralId, later.delivery.delivered_at!.toISOString()],
      [first.referralId, firstAt.toISOString()],
    ]);
    const firstDay = amsterdamDay(firstAt);
    const onItsDay = await listReceivedReferrals(ctx, ['gm0226'], {
      limit: 100,
      filter: { from: firstDay, to: firstDay },
    });
    expect(onItsDay.referrals.map((r) => r.id)).toContain(first.referralId);
    const today = await listReceivedReferrals(ctx, ['gm0226'], {
      limit: 100,
      filter: { from: amsterdamDay(again.delivered_at!) },
    });
    expect(today.referrals.map((r) => r.id)).not.toContain(first.referralId);

    // The console's list: the same order, and "Ontvangen" the first receipt.
    const page = await (await (await openConsole(h.app, 'municipality')).get('/console/municipality/referrals')).text();
    const at = (referral: Record<string, unknown>) => page.indexOf(`<strong>${referralIdOf(referral)}</strong>`);
    expect(at(first.referral)).toBeGreaterThan(at(later.referral));
    expect(at(later.referral)).toBeGreaterThan(-1);
    expect(page).toContain(`<td>${formatTime('nl', firstAt)}</td>`);
  });

  it('reads a page of a window, deliveries and their events, in two statements however long the page', async () => {
    const from = await dbNow();
    const sent = [await deliveredUnderConsent(), await deliveredUnderConsent(), await deliveredUnderConsent()];
    const to = await dbNow();
    const window = { destination: 'gm0226', from, to, limit: 100 };
    let page: Awaited<ReturnType<typeof readRedeliveryPage>> | undefined;
    const statements = await statementsOf(h.app.rt.ctx.db, async (rec) => {
      page = await readRedeliveryPage(rec, window);
    });
    expect(statements).toHaveLength(2);
    // Oldest first, each with what a redelivery needs of it and of its event.
    expect(page!.targets.map((t) => t.id)).toEqual(sent.map((s) => s.delivery.id));
    const traces = await h.app.rt.ctx.db.query<{ id: string; trace_id: string }>(
      'SELECT id, trace_id FROM inbox WHERE id = ANY($1::uuid[])',
      [sent.map((s) => s.referralId)],
    );
    const traceOf = new Map(traces.map((t) => [t.id, t.trace_id]));
    for (const t of page!.targets) {
      expect(t.trace_id).toBe(traceOf.get(t.inbox_id));
      expect([t.state, t.event_type, t.canonical !== null || t.payload !== null]).toEqual([
        'delivered',
        'referral.created',
        true,
      ]);
    }
    expect(page!.after).toEqual({ deliveredAt: expect.any(String) as string, id: sent[2]!.delivery.id });
  });

  it('offers the console operator a redelivery on the event’s timeline, with the reason the audit keeps', async () => {
    const { referralId, delivery } = await deliveredUnderConsent();
    const console = await openConsole(h.app, 'operator');
    const page = await (await console.get(`/console/operator/events?id=${referralId}`)).text();
    const action = `/console/operator/deliveries/${delivery.id}/redeliver`;
    expect(page).toContain(`action="${action}"`);
    expect(formFields(page, action)).toEqual(expect.objectContaining({ reason: '' }));

    const noReason = await console.post(action, { reason: ' ' });
    expect(noReason.status).toBe(400);
    expect(await noReason.text()).toContain('Geef een reden op.');
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(1);

    const sent = await console.post(action, { reason: REASON });
    expect(sent.status).toBe(200);
    expect(await sent.text()).toContain('Opnieuw onderweg, met dezelfde sleutel.');
    await deliveredAgain(delivery.id, 1);
    expect(h.receiver.hitsFor(delivery.idempotency_key)).toHaveLength(2);
    const [asked] = await h.app.rt.ctx.db.query<{ text: string }>(
      `SELECT resource::text AS text FROM audit_event WHERE $1 = ANY(entities) AND subtype = 'redeliver'`,
      [`inbox/${referralId}`],
    );
    expect(asked!.text).toContain(REASON);

    // Another practice's operator: no such delivery.
    const other = await openConsole(h.app, 'otherOperator');
    expect((await other.post(action, { reason: REASON })).status).toBe(404);
  });

  it('refuses a window in the wrong form, in the future, or a destination outside the operator’s scope', async () => {
    const to = await dbNow();
    const from = new Date(Date.parse(to) - 3_600_000).toISOString();
    const ask = async (body: Record<string, unknown>, key: KeyName = 'operator') => {
      const res = await redeliverWindow({ destination: 'gm0226', from, to, reason: REASON, ...body }, key);
      return { status: res.status, ...(await outcomeOf(res)) };
    };
    expect(await ask({ destination: undefined })).toEqual(
      expect.objectContaining({ status: 400, expression: ['destination'] }),
    );
    expect(await ask({ reason: undefined })).toEqual(expect.objectContaining({ status: 400, expression: ['reason'] }));
    expect(await ask({ from: 'yesterday' })).toEqual(expect.objectContaining({ status: 400, expression: ['from'] }));
    expect(await ask({ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' })).toEqual(
      expect.objectContaining({ status: 400, expression: ['to'] }),
    );
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    expect(await ask({ to: tomorrow })).toEqual(expect.objectContaining({ status: 400, expression: ['to'] }));
    expect((await ask({ destination: 'gm9999' })).status).toBe(404);
    // An operator of municipality GM0344 only: GM0226's destination is no destination to it.
    expect((await ask({}, 'otherMunicipalityOperator')).status).toBe(404);
    expect((await ask({}, 'practice')).status).toBe(403);
    // In the right form, by an operator of every municipality: a window before anything was delivered sends nothing.
    const empty = await redeliverWindow({
      destination: 'gm0226',
      from: '2020-01-01T00:00:00Z',
      to: '2020-01-02T00:00:00Z',
      reason: REASON,
    });
    expect(empty.status).toBe(202);
    expect(await empty.json()).toEqual({ redelivered: [], denied: [], remaining: 0 });
  });

  it('reads a window through the index of delivered deliveries by destination, not the whole table', async () => {
    const db = h.app.rt.ctx.db;
    // A month of deliveries to other municipalities, and a few hundred to this one, before the tests above ran.
    const others = await insertInboxRows(db, 'delivered', 20_000);
    await db.query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
       SELECT gen_random_uuid(), inbox_id, CASE WHEN n % 50 = 0 THEN 'gm0226' ELSE 'gm' || (n % 40)::text END,
         gen_random_uuid()::text, 'delivered', now() - interval '40 days' + n * interval '2 minutes'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS x(inbox_id, n)`,
      [others],
    );
    await db.exec('ANALYZE inbox; ANALYZE delivery');
    const window = {
      destination: 'gm0226',
      from: new Date(Date.now() - 30 * 86_400_000).toISOString(),
      to: new Date(Date.now() - 20 * 86_400_000).toISOString(),
      limit: 100,
    };
    const first = await listDeliveredInWindow(db, window);
    expect(first).toHaveLength(100);
    const statements = await statementsOf(db, async (rec) => {
      await listDeliveredInWindow(rec, { ...window, after: first.at(-1)!.after });
      await countDeliveredInWindow(rec, { ...window, after: first.at(-1)!.after });
    });
    const plans: string[] = [];
    for (const { sql, params } of statements) {
      const rows = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    expect(plans).toHaveLength(2);
    for (const plan of plans) {
      expect(plan).toMatch(/delivery_delivered_window/);
      expect(plan).not.toMatch(/Seq Scan on delivery/);
    }
  });

  it('reads the municipality’s received referrals, delivered now or once, through indexes, not the whole table', async () => {
    const db = h.app.rt.ctx.db;
    // A month of deliveries to forty municipalities, a few of them delivered once and being sent again or dead since.
    const others = await insertInboxRows(db, 'delivered', 20_000);
    await insertMonthOfDeliveries(db, others);
    await db.exec('ANALYZE inbox; ANALYZE delivery');
    const ctx = { ...h.app.rt.ctx, db };
    const first = await listReceivedReferrals(ctx, ['gm1'], { limit: 50 });
    expect(first.referrals).toHaveLength(50);
    const statements = await statementsOf(db, async (rec) => {
      await listReceivedReferrals({ ...ctx, db: rec }, ['gm1'], { limit: 50, page: first.next });
    });
    const [list] = statements;
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${list!.sql}`, list!.params))
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    // One index (070) for all of them, by when each was first delivered, whatever its state now.
    expect(plan).toMatch(/delivery_first_delivered/);
    expect(plan).not.toMatch(/Seq Scan on delivery/);
  });
});
