import { randomBytes, randomUUID } from 'node:crypto';
import { insertEvent, insertEvents, type NewEventWithIdentifier } from '../../src/event/event-store';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import {
  holdAfterInTransaction as holdTransactionAfter,
  holdBefore as holdStatementBefore,
  type Gate,
} from '../helpers/held-statements';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The two referral checks at receipt (a referral id reused for another child; a correction of a referral the
 * municipality ended) hold when what they check arrives while the referral is being received: the interleavings are
 * forced by holding one side at a chosen statement, not hoped for.
 */
describe('referral checks at receipt, under concurrency', () => {
  const ctx = useAppWithReceiver();

  const restores: (() => void)[] = [];
  afterEach(() => {
    for (const restore of restores.splice(0)) {
      restore();
    }
  });

  function holdBefore(sql: string): Gate {
    const gate = holdStatementBefore(ctx.app.rt.ctx.db, sql);
    restores.push(() => gate.restore());
    return gate;
  }

  function holdAfterInTransaction(sql: string): Gate {
    const gate = holdTransactionAfter(ctx.app.rt.ctx.db, sql);
    restores.push(() => gate.restore());
    return gate;
  }

  const post = (json: unknown, key: 'practice' | 'municipality' = 'practice', path = '/his/v1/events') =>
    ctx.app.request(path, { json, key });
  const postStatus = (id: string, body: unknown) =>
    post(body, 'municipality', `/municipality/v1/referrals/${id}/status`);

  async function storedEvents(referralId: string): Promise<{ source_event_id: string; patient_id: string }[]> {
    return ctx.app.rt.ctx.db.query(
      `SELECT i.source_event_id, r.patient_id FROM referral_identifier r JOIN inbox i ON i.id = r.inbox_id
       WHERE r.tenant = $1 AND r.value = $2 ORDER BY i.received_at`,
      [PRACTICE_AGB, referralId],
    );
  }

  async function deliveredReferral(): Promise<{ id: string; event: Record<string, unknown>; referralId: string }> {
    const event = buildReferralEvent();
    const res = await post(event);
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor(`event ${id} delivered`, async () => {
      const [row] = await ctx.app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered';
    });
    return { id, event, referralId: (event.referral as { id: string }).id };
  }

  /** The same referral (its id and child) under a new event id: the practice's correction of it. */
  function correctionOf(event: Record<string, unknown>): Record<string, unknown> {
    const next = buildReferralEvent();
    return {
      ...next,
      child: event.child,
      referral: { ...(event.referral as object), reasonText: 'Aangevuld verslag' },
    };
  }

  async function expectRefusedAtReferralId(res: Response, ...parts: string[]): Promise<void> {
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as {
      issue: { code: string; expression: string[]; details: { text: string } }[];
    };
    expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['referral.id'] }));
    for (const part of parts) {
      expect(outcome.issue[0]!.details.text).toContain(part);
    }
  }

  it('refuses the second of two children under one new referral id when both pass the check before either is stored', async () => {
    const first = buildReferralEvent();
    const referralId = (first.referral as { id: string }).id;
    const second: Record<string, unknown> = { ...buildReferralEvent(), referral: first.referral };
    // The first request has checked the referral id (unused) and is about to store it...
    const held = holdBefore('INSERT INTO inbox');
    const firstAnswer = post(first);
    await held.reached;
    // ...when the second, for another child, is checked (still unused) and stored.
    const secondRes = await post(second);
    expect(secondRes.status).toBe(202);
    held.release();
    await expectRefusedAtReferralId(await firstAnswer, referralId, 'another child');
    expect((await storedEvents(referralId)).map((r) => r.source_event_id)).toEqual([second.eventId]);
  });

  it('refuses a correction checked before the municipality closed the referral and stored after it', async () => {
    const { id, event, referralId } = await deliveredReferral();
    const correction = correctionOf(event);
    const held = holdBefore('INSERT INTO inbox');
    const correctionAnswer = post(correction);
    await held.reached;
    expect((await postStatus(id, { status: 'closed', date: '2026-11-24' })).status).toBe(202);
    held.release();
    await expectRefusedAtReferralId(await correctionAnswer, referralId, 'closed', '2026-11-24', 'of its own');
    expect((await storedEvents(referralId)).map((r) => r.source_event_id)).toEqual([event.eventId]);
  });

  it('refuses a correction stored while the municipality’s closing of the referral is being committed', async () => {
    const { id, event, referralId } = await deliveredReferral();
    // The status is recorded, but its transaction not yet committed...
    const held = holdAfterInTransaction('INSERT INTO feedback');
    const statusAnswer = postStatus(id, { status: 'closed', date: '2026-11-25' });
    await held.reached;
    // ...when the correction is checked (the referral still open to it) and stored: its statement waits for the
    // status's transaction (or, without anything to wait on, is answered at once).
    let answered = false;
    const correctionAnswer = post(correctionOf(event)).finally(() => (answered = true));
    await waitFor('the correction to wait on the status, or be answered', async () => {
      if (answered) {
        return true;
      }
      const waiting = await ctx.app.rt.ctx.db.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND query LIKE '%INSERT INTO referral_owner%'`,
      );
      return waiting.length > 0;
    });
    held.release();
    expect((await statusAnswer).status).toBe(202);
    await expectRefusedAtReferralId(await correctionAnswer, referralId, 'closed', '2026-11-25');
    expect((await storedEvents(referralId)).map((r) => r.source_event_id)).toEqual([event.eventId]);
  });

  describe('in the insert statement itself', () => {
    /** A new referral under `value`, for child `patientId`, as the receipt passes it to the event store. */
    function referral(value: string, patientId: string, endedCountSeen = 0): NewEventWithIdentifier {
      return {
        id: randomUUID(),
        tenant: PRACTICE_AGB,
        sourceEventId: `race-${randomUUID()}`,
        dialect: 'generic-json',
        eventType: 'referral.created',
        municipality: 'GM0226',
        payload: randomBytes(64),
        payloadKeyId: 'k',
        canonical: randomBytes(64),
        canonicalKeyId: 'k',
        traceId: randomBytes(16).toString('hex'),
        contentDigest: randomUUID(),
        recordsObjection: false,
        referralIdentifier: {
          system: `urn:agb:${PRACTICE_AGB}:referral`,
          value,
          serviceRequestId: randomUUID(),
          patientId,
        },
        endedCountSeen,
      };
    }

    it('lets the first event of a referral id claim it when requests for two children share one statement', async () => {
      const value = `one-statement-${randomUUID()}`;
      const [a, b, again] = [referral(value, randomUUID()), referral(value, randomUUID()), referral(value, '')];
      const sameChild = {
        ...again,
        referralIdentifier: { ...again.referralIdentifier!, patientId: a.referralIdentifier!.patientId },
      };
      const { inserted, refused } = await insertEvents(ctx.app.rt.ctx.db, [a, b, sameChild]);
      expect(inserted).toEqual(new Set([a.id, sameChild.id]));
      expect(refused).toEqual(new Map([[b.id, { kind: 'used-for-other-child' }]]));
      expect((await storedEvents(value)).map((r) => r.source_event_id)).toEqual([
        a.sourceEventId,
        sameChild.sourceEventId,
      ]);
      // On its own, the same: the id names the first child's referral.
      const c = referral(value, randomUUID());
      expect(await insertEvent(ctx.app.rt.ctx.db, c)).toEqual(
        expect.objectContaining({ duplicate: false, refused: { kind: 'used-for-other-child' } }),
      );
      // A resend of an event stored before is a duplicate, whatever its check saw.
      expect(await insertEvent(ctx.app.rt.ctx.db, { ...a, id: randomUUID(), endedCountSeen: 7 })).toEqual(
        expect.objectContaining({ id: a.id, duplicate: true }),
      );
    });

    it('refuses a correction whose check saw another count of endings than the referral id has when it is stored', async () => {
      const { id, event, referralId } = await deliveredReferral();
      expect(
        (await postStatus(id, { status: 'rejected', reasonCode: 'other-municipality', date: '2026-11-26' })).status,
      ).toBe(202);
      const [owner] = await ctx.app.rt.ctx.db.query<{ patient_id: string; ended_count: number }>(
        'SELECT patient_id, ended_count FROM referral_owner WHERE tenant = $1 AND value = $2',
        [PRACTICE_AGB, referralId],
      );
      expect(owner?.ended_count).toBe(1);
      // As checked before the rejection (count 0): refused, with the status that ended it; as checked after it: the
      // check itself refuses it, and the insert leaves it to the check.
      const correction = referral(referralId, owner!.patient_id, 0);
      const { inserted, refused } = await insertEvents(ctx.app.rt.ctx.db, [correction]);
      expect(inserted.size).toBe(0);
      expect(refused).toEqual(new Map([[correction.id, { kind: 'ended', status: 'rejected', date: '2026-11-26' }]]));
      expect((await storedEvents(referralId)).map((r) => r.source_event_id)).toEqual([event.eventId]);
    });
  });
});
