import fs from 'node:fs';
import {
  buildAgreement,
  buildConsentEvent,
  buildReferralEvent,
  buildWithdrawalEvent,
  MUNICIPALITY,
} from '../helpers/builders';
import { statementsOf } from '../helpers/recorded-statements';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';
import { stageStatements } from '../../src/event/stage-groups';
import { listStoredConsents, tryGetSealedEvent } from '../../src/event/event-store';
import { childConsentsOnce } from '../../src/event/decide';
import { openEvent } from '../../src/event/stored-event';
import { noticeDisclosedMeanwhile } from '../../src/event/withdrawal-notice';
import { mapJobId } from '../../src/event/queues';

/**
 * The race between a delivery in flight and a consent event (withdrawal-notice.ts, "the deliver side's check"): the
 * referral's deliver stage decided under the consent, its send is held open at the receiver while the withdrawal is
 * received and its map job searches the child's disclosures (finding none yet, so it ends `completed`); then the
 * receiver accepts. The municipality holds data the consent no longer covers and must still be told, once.
 */

/** The child and its guardian g1 consent (a 14-year-old: both must) to referral data for the municipality. */
function consentOf(referral: Record<string, unknown>): Record<string, unknown> {
  return buildConsentEvent(referral, {
    givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    recipient: { municipality: MUNICIPALITY, name: 'Gemeente' },
  });
}

/**
 * What the deliver stage writes once a municipality has accepted a child's event (recordDisclosed, stage-groups.ts):
 * the disclosure, then one statement that checks the child's consents and, when they are unchanged, finishes the
 * delivery. The statements are watched on the product's own Db while real deliver jobs run; the sends are held at
 * the receiver, so the watch starts once every send is on its way.
 */
type Statement = { sql: string; params: readonly unknown[]; rows?: unknown[] };

const records = (s: Statement) => /INSERT INTO child_disclosure/.test(s.sql);
const checksConsents = (s: Statement) => /JOIN consent c\b/.test(s.sql);
const finishesDelivery = (s: Statement) => /UPDATE delivery SET state/.test(s.sql);

describe('a withdrawal while the child’s delivery is in flight', () => {
  const h = useDeliveryApp({
    // The held send must outlast the withdrawal's processing. The destination's own timeout is what bounds a send
    // (DELIVERY_TIMEOUT_MS only stands in when it has none): the contract's 700 ms cut a held send short on a loaded
    // machine, whose retry, not held, delivered the referral before the withdrawal. And a job lock that lapses
    // during an event-loop stall of a second or two (JOB_LOCK_MS 2000 in tests) let the stall check hand the held
    // send's job to another worker slot, which sent it again. Neither is what these tests are about.
    destination: (r) => contractDestination(r.url('/fhir'), { timeoutMs: 60_000 }),
    agreement: buildAgreement({ legalBasis: 'consent' }),
    env: { JOB_LOCK_MS: '30000' },
  });

  const deliveriesOf = (id: string) =>
    h.app.rt.ctx.db.query<{ id: string; destination: string; state: string; idempotency_key: string }>(
      'SELECT id, destination, state, idempotency_key FROM delivery WHERE inbox_id = $1 ORDER BY destination',
      [id],
    );

  const mapJob = (id: string) => h.app.rt.ctx.queues.map.getJob(mapJobId(id));

  /** Takes an event's disclosure out of `child_disclosure`; the answer puts it back (as if recorded only then). */
  const holdDisclosureOf = async (inboxId: string): Promise<() => Promise<void>> => {
    const db = h.app.rt.ctx.db;
    const [held] = await db.query<Record<string, unknown>>(
      'DELETE FROM child_disclosure cd USING delivery d WHERE d.id = cd.delivery_id AND d.inbox_id = $1 RETURNING cd.*',
      [inboxId],
    );
    return async () => {
      await db.query(
        `INSERT INTO child_disclosure (${Object.keys(held!).join(', ')})
         SELECT * FROM jsonb_populate_record(NULL::child_disclosure, $1)`,
        [JSON.stringify(held)],
      );
    };
  };

  /** The consent event's search for disclosures recorded since its outcome, as its map stage runs it. */
  const searchAgain = async (consentEventId: string) => {
    const ctx = h.app.rt.ctx;
    const row = (await tryGetSealedEvent(ctx.db, consentEventId))!;
    const event = openEvent(ctx.cipher, row);
    await noticeDisclosedMeanwhile(ctx, row, event, childConsentsOnce(ctx, event), new Set());
  };

  it('tells the municipality once, though the consent’s search ran before the disclosure was recorded', async () => {
    const referral = buildReferralEvent();
    const consent = consentOf(referral);
    const consentId = await h.submit(consent);
    await h.reachesState(consentId, 'completed');

    let release!: () => void;
    h.receiver.script = [{ kind: 'held', until: new Promise<void>((r) => (release = r)) }];
    const referralId = await h.submit(referral);
    // Decided under the consent at the deliver stage, and now being sent.
    await waitFor('the referral’s send to be held at the receiver', () => h.receiver.inFlight === 1);

    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    // The withdrawal's own search found no disclosure of the child: nothing was recorded as disclosed yet.
    await h.reachesState(withdrawalId, 'completed');
    // Its map job has ended (completed jobs are removed), the search after its outcome included: only the deliver
    // stage can now see the race.
    await waitFor('the withdrawal’s map job to end', async () => !(await mapJob(withdrawalId)));
    expect(await deliveriesOf(withdrawalId)).toEqual([]);

    release();
    await h.reachesState(referralId, 'delivered');
    const [notice, ...others] = await waitFor(
      'a withdrawal notice of the consent event that raced the delivery',
      async () => {
        const ds = await deliveriesOf(withdrawalId);
        return ds.some((d) => d.state === 'delivered') ? ds : undefined;
      },
      15_000,
    );
    expect(others).toEqual([]);
    expect(notice).toEqual(expect.objectContaining({ destination: 'gm0226', state: 'delivered' }));
    expect(h.receiver.hitsFor(notice!.idempotency_key)).toHaveLength(1);
    const life = (await h.state(referralId)) as unknown as {
      withdrawalNotices: { id: string; consentEvent: string; destination: string }[];
    };
    expect(life.withdrawalNotices).toEqual([
      expect.objectContaining({ id: notice!.id, consentEvent: withdrawalId, destination: 'gm0226' }),
    ]);
    const history = ((await h.state(withdrawalId)) as { history: { state: string }[] }).history.map((s) => s.state);
    expect(history).toEqual(['received', 'mapped', 'completed', 'decided', 'delivered']);

    // The consent event's map job run again (a reconciler, a duplicate job) adds nothing.
    await h.app.rt.ctx.queues.enqueueMap([{ inboxId: withdrawalId, traceId: 'race-test-again' }]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await deliveriesOf(withdrawalId)).toHaveLength(1);
    expect(h.receiver.hitsFor(notice!.idempotency_key)).toHaveLength(1);
  });

  it('sends a late disclosure its own follow-up notice when the consent event’s notice is already on its way', async () => {
    const first = buildReferralEvent();
    const consent = consentOf(first);
    await h.reachesState(await h.submit(consent), 'completed');
    await h.reachesState(await h.submit(first), 'delivered');

    // The same child's second referral: decided under the consent, and its send held at the receiver.
    let releaseReferral!: () => void;
    let releaseNotice!: () => void;
    h.receiver.script = [
      { kind: 'held', until: new Promise<void>((r) => (releaseReferral = r)) },
      { kind: 'held', until: new Promise<void>((r) => (releaseNotice = r)) },
    ];
    const inFlight = buildReferralEvent({ child: first.child, guardians: first.guardians });
    const inFlightId = await h.submit(inFlight);
    await waitFor('the second referral’s send to be held at the receiver', () => h.receiver.inFlight === 1);

    // The withdrawal's search finds the first referral only; its notice is built from that and held in its send.
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await waitFor('the withdrawal notice’s send to be held at the receiver', () => h.receiver.inFlight === 2);
    const [firstNotice] = await deliveriesOf(withdrawalId);

    // The second referral is accepted and recorded as disclosed while the notice is on its way.
    releaseReferral();
    await h.reachesState(inFlightId, 'delivered');
    await waitFor('the withdrawal to have dealt with the late disclosure', async () => {
      const [cd] = await h.app.rt.ctx.db.query<{ notice_delivery: string | null }>(
        'SELECT cd.notice_delivery FROM child_disclosure cd JOIN delivery d ON d.id = cd.delivery_id WHERE d.inbox_id = $1',
        [inFlightId],
      );
      return cd?.notice_delivery !== null && cd?.notice_delivery !== undefined;
    });
    releaseNotice();
    await h.reachesState(withdrawalId, 'delivered');

    const referralIdOf = (e: Record<string, unknown>) => (e.referral as { id: string }).id;
    const notices = await deliveriesOf(withdrawalId);
    // Whatever the municipality received about the withdrawal, one notice names the in-flight referral.
    const naming = notices.filter((n) =>
      h.receiver.hitsFor(n.idempotency_key).some((hit) => hit.raw.includes(referralIdOf(inFlight))),
    );
    expect(naming).toHaveLength(1);
    const followUp = naming[0]!;
    expect(followUp.id).not.toBe(firstNotice!.id);
    expect(followUp.idempotency_key).not.toBe(firstNotice!.idempotency_key);
    expect(followUp).toEqual(expect.objectContaining({ destination: 'gm0226', state: 'delivered' }));
    expect(h.receiver.hitsFor(followUp.idempotency_key)).toHaveLength(1);
    // The first notice, as sent, names the first referral and not the one in flight.
    const sentFirst = h.receiver.hitsFor(firstNotice!.idempotency_key);
    expect(sentFirst).toHaveLength(1);
    expect(sentFirst[0]!.raw).toContain(referralIdOf(first));
    expect(sentFirst[0]!.raw).not.toContain(referralIdOf(inFlight));

    // What the event API says told the municipality about each referral is the notice that named it.
    const noticesOf = async (id: string) =>
      ((await h.state(id)) as unknown as { withdrawalNotices: { id: string; consentEvent: string }[] })
        .withdrawalNotices;
    expect(await noticesOf(inFlightId)).toEqual([
      expect.objectContaining({ id: followUp.id, consentEvent: withdrawalId, destination: 'gm0226' }),
    ]);

    // The consent event's map job run again adds nothing, and nothing is sent twice.
    await h.app.rt.ctx.queues.enqueueMap([{ inboxId: withdrawalId, traceId: 'race-test-follow-up-again' }]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await deliveriesOf(withdrawalId)).toHaveLength(2);
    expect(h.receiver.hitsFor(followUp.idempotency_key)).toHaveLength(1);
  });

  it('has the consent event look again once its outcome is committed, for a delivery that left it to it', async () => {
    const referral = buildReferralEvent();
    const consent = consentOf(referral);
    await h.reachesState(await h.submit(consent), 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    // As if the disclosure were recorded only after the withdrawal's search, and its delivery's check had found the
    // withdrawal's map stage not yet ended (recordDisclosed leaves it to the consent event then).
    const putBack = await holdDisclosureOf(referralId);
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'completed');
    await waitFor('the withdrawal’s map job to end', async () => !(await mapJob(withdrawalId)));
    await putBack();

    await searchAgain(withdrawalId);
    await h.reachesState(withdrawalId, 'delivered');
    const [notice, ...others] = await deliveriesOf(withdrawalId);
    expect(others).toEqual([]);
    expect(notice).toEqual(expect.objectContaining({ destination: 'gm0226', state: 'delivered' }));
    expect(h.receiver.hitsFor(notice!.idempotency_key)).toHaveLength(1);

    // Both sides seeing it (the delivery's check as well): claimed once, so nothing more is made or sent.
    await searchAgain(withdrawalId);
    expect(await deliveriesOf(withdrawalId)).toHaveLength(1);
  });

  it('sends a follow-up notice for a disclosure found after the consent event’s notice was sent', async () => {
    const first = buildReferralEvent();
    const consent = consentOf(first);
    await h.reachesState(await h.submit(consent), 'completed');
    await h.reachesState(await h.submit(first), 'delivered');
    const late = buildReferralEvent({ child: first.child, guardians: first.guardians });
    const lateId = await h.submit(late);
    await h.reachesState(lateId, 'delivered');
    // As if the second referral's disclosure were recorded only once the withdrawal's notice had gone out.
    const putBack = await holdDisclosureOf(lateId);
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'delivered');
    await waitFor('the withdrawal’s map job to end', async () => !(await mapJob(withdrawalId)));
    const [sent] = await deliveriesOf(withdrawalId);
    await putBack();

    await searchAgain(withdrawalId);
    await h.reachesState(withdrawalId, 'delivered');
    const followUp = (await deliveriesOf(withdrawalId)).find((d) => d.id !== sent!.id);
    expect(followUp).toEqual(expect.objectContaining({ destination: 'gm0226', state: 'delivered' }));
    const [hit, ...again] = h.receiver.hitsFor(followUp!.idempotency_key);
    expect(again).toEqual([]);
    const lateReferral = (late.referral as { id: string }).id;
    expect(hit!.raw).toContain(lateReferral);
    expect(hit!.raw).not.toContain((first.referral as { id: string }).id);
    const notices = ((await h.state(lateId)) as unknown as { withdrawalNotices: { id: string }[] }).withdrawalNotices;
    expect(notices).toEqual([expect.objectContaining({ id: followUp!.id, consentEvent: withdrawalId })]);

    // Found again (the delivery's check as well): the same follow-up, claimed once, so nothing more is made or sent.
    await searchAgain(withdrawalId);
    expect(await deliveriesOf(withdrawalId)).toHaveLength(2);
  });

  it('checks the consents of a group of recorded disclosures in one statement, and does nothing more when unchanged', async () => {
    const referral = buildReferralEvent();
    const consent = consentOf(referral);
    await h.reachesState(await h.submit(consent), 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    const [delivery] = await deliveriesOf(referralId);
    const [row] = await h.app.rt.ctx.db.query<Record<string, unknown>>(
      'SELECT * FROM child_disclosure WHERE delivery_id = $1',
      [delivery!.id],
    );
    const child = referral.child as { bsn: string };
    const tenant = row!.tenant as string;
    const seen = (await listStoredConsents(h.app.rt.ctx.db, tenant, child.bsn)).map((c) => `${c.id}@${c.version}`);
    expect(seen).toHaveLength(1);
    const again = {
      delivery_id: delivery!.id,
      tenant,
      child_key: row!.child_key as string,
      destination: 'gm0226',
      municipality: MUNICIPALITY,
      purpose: 'referral',
      data_classes: row!.data_classes as string[],
      resources: row!.resources as string[],
      referral_system: null,
      referral_value: null,
      patientBsn: child.bsn,
      consentsSeen: seen,
    };
    // Three deliver jobs recording at the same moment (a retry that records again writes nothing twice).
    let answers: unknown[] = [];
    const statements = await statementsOf(h.app.rt.ctx.db, async (db) => {
      const record = async (d: typeof again) => (await stageStatements(db).recordDeliveredDisclosure(d)).changedBy;
      answers = await Promise.all([record(again), record(again), record(again)]);
    });
    expect(answers).toEqual([[], [], []]);
    // The group's insert, and the group's one check of the children's consents: no statement per event.
    expect(statements.map((s) => s.sql.trim().split(/\s+/)[0])).toEqual(['INSERT', 'WITH']);
  });

  /** Holds the next `count` sends at the receiver until the answer is called. */
  const holdSends = (count: number): (() => void) => {
    let release!: () => void;
    const until = new Promise<void>((r) => (release = r));
    h.receiver.script = Array.from({ length: count }, () => ({ kind: 'held' as const, until }));
    return release;
  };

  /** The product's statements from now on (those the test itself makes go through `real`), until `stop`. */
  const watchStatements = () => {
    const db = h.app.rt.ctx.db;
    const real = db.query.bind(db);
    const seen: Statement[] = [];
    let after: ((s: Statement) => Promise<void>) | undefined;
    const spy = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
      const s: Statement = { sql, params: params ?? [] };
      seen.push(s);
      const rows = await real(sql, params);
      s.rows = rows;
      await after?.(s);
      return rows;
    });
    return {
      seen,
      real,
      /** Runs `fn` once a statement has answered, before its caller sees the answer. */
      afterEach: (fn: (s: Statement) => Promise<void>) => (after = fn),
      stop: () => spy.mockRestore(),
    };
  };

  const deliveryStates = (real: ReturnType<typeof watchStatements>['real'], ids: readonly string[]) =>
    real<{ inbox_id: string; state: string; event_state: string }>(
      `SELECT d.inbox_id, d.state, e.state AS event_state FROM delivery d JOIN inbox e ON e.id = d.inbox_id
       WHERE d.inbox_id = ANY($1::uuid[])`,
      [ids],
    );

  it('records a group of delivered children’s events in two statements, the finish in the consent check’s', async () => {
    const count = 6;
    const referrals = Array.from({ length: count }, () => buildReferralEvent());
    const consents = await Promise.all(referrals.map((r) => h.submit(consentOf(r))));
    await Promise.all(consents.map((id) => h.reachesState(id, 'completed')));

    const release = holdSends(count);
    const ids = await Promise.all(referrals.map((r) => h.submit(r)));
    await waitFor('every send to be held at the receiver', () => h.receiver.inFlight === count, 30_000);

    const watch = watchStatements();
    try {
      release();
      await waitFor(
        'every referral delivered',
        async () => {
          const rows = await deliveryStates(watch.real, ids);
          return rows.length === count && rows.every((r) => r.state === 'delivered' && r.event_state === 'delivered');
        },
        30_000,
      );
    } finally {
      watch.stop();
    }

    const afterAcceptance = watch.seen.filter((s) => records(s) || checksConsents(s) || finishesDelivery(s));
    const groups = afterAcceptance.filter(records).length;
    expect(groups).toBeGreaterThanOrEqual(1);
    expect(groups).toBeLessThanOrEqual(count);
    // Each group: its disclosures, then one statement that both checks the children's consents and finishes the
    // deliveries. No finish of its own (before: three statements per group).
    expect(afterAcceptance.length / groups).toBe(2);
    expect(afterAcceptance.filter((s) => !records(s)).every((s) => checksConsents(s) && finishesDelivery(s))).toBe(
      true,
    );
    // Every disclosure was recorded, and its event entered `delivered` with the deliver stage's usual log line.
    const disclosed = await watch.real<{ n: number }>(
      'SELECT count(*)::int AS n FROM child_disclosure cd JOIN delivery d ON d.id = cd.delivery_id WHERE d.inbox_id = ANY($1::uuid[])',
      [ids],
    );
    expect(disclosed[0]!.n).toBe(count);
    // The line is written after the statement's commit, which the wait above saw: it may not be in the file yet.
    const deliveredLines = () =>
      fs
        .readFileSync(h.app.testEnv.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'event state' && l.state === 'delivered' && ids.includes(l.eventId as string));
    await waitFor('every delivered line in the log', () => deliveredLines().length >= count, 10_000);
    const lines = deliveredLines();
    expect(lines).toHaveLength(count);
    for (const l of lines) {
      expect(l).toEqual(
        expect.objectContaining({ stage: 'deliver', reason: 'gm0226: HTTP 200', traceId: expect.any(String) }),
      );
    }
  });

  it('leaves a delivery unfinished and notices it when a consent committed before the check missed its disclosure', async () => {
    const referral = buildReferralEvent();
    const consent = consentOf(referral);
    await h.reachesState(await h.submit(consent), 'completed');

    const release = holdSends(1);
    const referralId = await h.submit(referral);
    await waitFor('the referral’s send to be held at the receiver', () => h.receiver.inFlight === 1);
    const { id: deliveryId } = await h.delivery(referralId);

    const watch = watchStatements();
    let withdrawalId = '';
    try {
      // Between the disclosure's insert and the check: as if the insert were committed only now, the withdrawal
      // is received and its map stage searches the child's disclosures without finding this one.
      let paused = false;
      watch.afterEach(async (s) => {
        if (paused || !records(s) || !(s.params[0] as string[]).includes(deliveryId)) {
          return;
        }
        paused = true;
        const putBack = await holdDisclosureOf(referralId);
        withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
        await h.reachesState(withdrawalId, 'completed');
        await waitFor('the withdrawal’s map job to end', async () => !(await mapJob(withdrawalId)));
        await putBack();
      });
      release();
      await h.reachesState(referralId, 'delivered', 40_000);
    } finally {
      watch.stop();
    }

    // The check saw the withdrawal and left the delivery pending; it was finished after the notice was dealt with,
    // by a statement of its own: a crash in between leaves a retry that checks again.
    const ofDelivery = watch.seen.filter((s) =>
      s.params.some((p) => p === deliveryId || (Array.isArray(p) && p.includes(deliveryId))),
    );
    const [checked, ...checkedAgain] = ofDelivery.filter((s) => checksConsents(s) && finishesDelivery(s));
    expect(checkedAgain).toEqual([]);
    expect(checked!.rows).toContainEqual(expect.objectContaining({ finished: false, inbox_id: withdrawalId }));
    expect(checked!.rows).not.toContainEqual(expect.objectContaining({ finished: true }));
    const [finished, ...finishedAgain] = ofDelivery.filter((s) => finishesDelivery(s) && !checksConsents(s));
    expect(finishedAgain).toEqual([]);
    expect(finished!.rows).toHaveLength(1);
    // The withdrawal's notice, made by the delivery's side, tells the municipality once.
    const notice = await waitFor(
      'the withdrawal notice delivered',
      async () => {
        const ds = await h.app.rt.ctx.db.query<{ id: string; state: string; idempotency_key: string }>(
          'SELECT id, state, idempotency_key FROM delivery WHERE inbox_id = $1',
          [withdrawalId],
        );
        return ds.length === 1 && ds[0]!.state === 'delivered' ? ds[0] : undefined;
      },
      20_000,
    );
    expect(h.receiver.hitsFor(notice.idempotency_key)).toHaveLength(1);
    const life = (await h.state(referralId)) as unknown as {
      history: { state: string }[];
      withdrawalNotices: { id: string; consentEvent: string }[];
    };
    expect(life.withdrawalNotices).toEqual([expect.objectContaining({ id: notice.id, consentEvent: withdrawalId })]);
    expect(life.history.filter((s) => s.state === 'delivered')).toHaveLength(1);
  });
  it('leaves a delivery pending when its check did not run, and its retry records once, checks and finishes it', async () => {
    const referral = buildReferralEvent();
    await h.reachesState(await h.submit(consentOf(referral)), 'completed');
    const release = holdSends(1);
    const referralId = await h.submit(referral);
    await waitFor('the referral’s send to be held at the receiver', () => h.receiver.inFlight === 1);
    const { id: deliveryId, idempotency_key: key } = await h.delivery(referralId);

    const watch = watchStatements();
    let stateAtFailure: string | undefined;
    try {
      // As a crash right after the disclosure's insert: the statement that would check and finish never runs.
      watch.afterEach(async (s) => {
        if (stateAtFailure === undefined && records(s) && (s.params[0] as string[]).includes(deliveryId)) {
          stateAtFailure = (
            await watch.real<{ state: string }>('SELECT state FROM delivery WHERE id = $1', [deliveryId])
          )[0]?.state;
          throw new Error('connection lost after the disclosure was recorded');
        }
      });
      release();
      await h.reachesState(referralId, 'delivered');
    } finally {
      watch.stop();
    }

    expect(stateAtFailure).toBe('pending');
    // The retry records what was sent, never sends again; the disclosure is kept once, and checked before the finish.
    expect(h.receiver.hitsFor(key)).toHaveLength(1);
    const disclosed = await h.app.rt.ctx.db.query('SELECT 1 FROM child_disclosure WHERE delivery_id = $1', [
      deliveryId,
    ]);
    expect(disclosed).toHaveLength(1);
    const ofDelivery = watch.seen.filter(
      (s) =>
        (records(s) || finishesDelivery(s)) &&
        s.params.some((p) => p === deliveryId || (Array.isArray(p) && p.includes(deliveryId))),
    );
    expect(ofDelivery.map((s) => (records(s) ? 'record' : checksConsents(s) ? 'check and finish' : 'finish'))).toEqual([
      'record',
      'record',
      'check and finish',
    ]);
  });
});
