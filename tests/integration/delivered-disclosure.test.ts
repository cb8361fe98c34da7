import fs from 'node:fs';
import {
  buildAgreement,
  buildConsentEvent,
  buildReferralEvent,
  buildWithdrawalEvent,
  MUNICIPALITY,
} from '../helpers/builders';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * What the deliver stage writes once a municipality has accepted a child's event (withdrawal-notice.ts
 * recordDisclosed, stage-groups.ts): the disclosure, then one statement that checks the child's consents and, when
 * they are unchanged, finishes the delivery. The statements are watched on the product's own Db while real deliver
 * jobs run; sends are held at the receiver so that the recording starts only once every send is on its way.
 */

/** The child and its guardian g1 consent (a 14-year-old: both must) to referral data for the municipality. */
function consentOf(referral: Record<string, unknown>): Record<string, unknown> {
  return buildConsentEvent(referral, {
    givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    recipient: { municipality: MUNICIPALITY, name: 'Gemeente' },
  });
}

type Statement = { sql: string; params: readonly unknown[]; rows?: unknown[] };

const records = (s: Statement) => /INSERT INTO child_disclosure/.test(s.sql);
const checksConsents = (s: Statement) => /JOIN consent c\b/.test(s.sql);
const finishesDelivery = (s: Statement) => /UPDATE delivery SET state/.test(s.sql);

describe('the deliver stage after a municipality accepted children’s events', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
    env: { DELIVERY_TIMEOUT_MS: '60000' },
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
    const lines = fs
      .readFileSync(h.app.testEnv.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'event state' && l.state === 'delivered' && ids.includes(l.eventId as string));
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
        const [held] = await watch.real<Record<string, unknown>>(
          'DELETE FROM child_disclosure WHERE delivery_id = $1 RETURNING *',
          [deliveryId],
        );
        withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
        await h.reachesState(withdrawalId, 'completed');
        await waitFor(
          'the withdrawal’s map job to end',
          async () => !(await h.app.rt.ctx.queues.map.getJob(withdrawalId)),
        );
        await watch.real(
          `INSERT INTO child_disclosure (${Object.keys(held!).join(', ')})
           SELECT * FROM jsonb_populate_record(NULL::child_disclosure, $1)`,
          [JSON.stringify(held)],
        );
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
});
