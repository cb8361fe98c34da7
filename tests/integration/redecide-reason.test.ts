import { buildAgreement, buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * report-xhis X4: a referral of a child with two guardians with authority, denied for want of both consents, kept
 * naming both after one of them consented, so a practice assistant would chase a father who had consented. A consent
 * that decides an event again and still denies it now records the new reason when it changed, and only then, without
 * moving the event's clock (the window of REDECIDE_WINDOW_DAYS and the retention are counted from `updated_at`).
 */
describe('a denied event decided again after a partial consent', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  type Timeline = {
    state: string;
    stateReason: string;
    reasonCodes: string[];
    history: { state: string; reason: string | null }[];
  };
  const timeline = async (id: string) => (await h.state(id)) as unknown as Timeline;
  const updatedAt = async (id: string) =>
    (await h.app.rt.ctx.db.query<{ t: string }>('SELECT updated_at::text AS t FROM inbox WHERE id = $1', [id]))[0]!.t;

  it('names only the guardian still missing, records it once, and keeps the clock', async () => {
    const base = buildReferralEvent();
    const referral = {
      ...base,
      child: { ...(base.child as object), birthDate: '2016-03-04' },
      guardians: [
        { id: 'g-5', relationship: 'father', hasAuthority: true },
        { id: 'g-6', relationship: 'mother', hasAuthority: true },
      ],
    };
    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');
    expect((await timeline(id)).stateReason).toMatch(/guardian g-5 .*guardian g-6/);
    const clock = await updatedAt(id);

    const byFather = (consentId: string) =>
      buildConsentEvent(referral, { id: consentId, givenBy: [{ kind: 'guardian', guardianId: 'g-5' }] });
    await h.reachesState(await h.submit(byFather('c-father-1')), 'completed');
    const after = await timeline(id);
    expect(after.state).toBe('denied');
    expect(after.stateReason).toMatch(/^decided again: consent-missing-guardian: no consent from guardian g-6 /);
    expect(after.stateReason).not.toContain('g-5');
    // The codes beside the words, for a HIS to act on (README, "Why an event was denied").
    expect(after.reasonCodes).toEqual(['consent-missing-guardian']);
    expect(after.history.map((e) => e.state)).toEqual(['received', 'mapped', 'denied', 'denied']);
    expect(after.history.at(-1)?.reason).toBe(after.stateReason);
    expect(await updatedAt(id)).toBe(clock);

    // Another consent of the same guardian changes nothing in the reason: nothing more is recorded.
    await h.reachesState(await h.submit(byFather('c-father-2')), 'completed');
    expect((await timeline(id)).history).toHaveLength(4);

    const byMother = buildConsentEvent(referral, { givenBy: [{ kind: 'guardian', guardianId: 'g-6' }] });
    await h.reachesState(await h.submit(byMother), 'completed');
    await h.reachesState(id, 'delivered');
  });
});
