import { buildAgreement, buildConsentEvent, buildReferralEvent, buildWithdrawalEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// task objflag 1: the event page said what was sent (purpose, agreement, data classes) but not which Consent the
// decision rested on, nor, for a denial, which objection refused it. A parent asking "on what basis did this go to
// the municipality?" could not be answered from the console or from GET /his/v1/events/{id}, though the decision's
// AuditEvents name the consents.
interface BasisConsent {
  id: string;
  ownId: string | null;
  kind: 'consent' | 'objection';
  status: string;
  dateTime: string | null;
  period: { start?: string; end?: string } | null;
  givenBy: string[];
  recordedBy: { principal: string; at: string } | null;
  withdrawn: { by: string[]; at: string | null } | null;
}
interface Api {
  disclosed: { destination: string; consents: string[] | null }[];
  decision: { effect: string; stage: string; consents: string[] } | null;
  consents: BasisConsent[];
}

const words = (fragment: string) => fragment.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
const section = (page: string, name: string) =>
  words(new RegExp(`<section class="${name}">([\\s\\S]*?)</section>`).exec(page)?.[1] ?? '');

describe('the practice sees which consent a referral went on (agreement on consent)', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  it('names the consent, its date, period and who recorded it, in the console and in the API', async () => {
    const referral = buildReferralEvent();
    const childId = (referral.child as { id: string }).id;
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      period: { start: '2026-01-01', end: '2027-12-31' },
    });
    const ownId = (consent.consent as { id: string }).id;
    await h.reachesState(await h.submit(consent), 'completed');
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');

    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as Api;
    expect(api.disclosed).toHaveLength(1);
    const [used] = api.disclosed[0]!.consents ?? [];
    expect(used).toEqual(expect.any(String));
    expect(api.decision).toEqual(expect.objectContaining({ effect: 'permit', consents: [used] }));
    expect(api.consents).toEqual([
      expect.objectContaining({
        id: used,
        ownId,
        kind: 'consent',
        status: 'active',
        dateTime: expect.stringMatching(/^2026-11-19T/),
        period: { start: '2026-01-01', end: '2027-12-31' },
        givenBy: [expect.stringMatching(/^Patient\//), expect.stringMatching(/^RelatedPerson\//)],
        recordedBy: { principal: expect.stringMatching(/\S/), at: expect.any(String) },
      }),
    ]);

    const practice = await openConsole(h.app, 'practice');
    const sent = section(await (await practice.get(`/console/practice/events/${id}`)).text(), 'sent');
    expect(sent).toContain(`Op toestemming ${ownId}`);
    expect(sent).toContain(`van het kind (${childId}); Moeder met gezag (g1)`);
    expect(sent).toContain('gegeven op 19 nov 2026');
    expect(sent).toContain('geldig van 1 jan 2026 tot en met 31 dec 2027');
    expect(sent).toContain(`vastgelegd door ${api.consents[0]!.recordedBy!.principal}`);
    const en = section(
      await (await practice.get(`/console/practice/events/${id}`, { cookie: 'jb_lang=en' })).text(),
      'sent',
    );
    expect(en).toContain(`On consent ${ownId}`);

    // Withdrawn since: the referral still went on it, and the page says it is withdrawn now.
    // Its withdrawal notice tells the municipality, which makes the withdrawal a delivered event.
    await h.reachesState(await h.submit(buildWithdrawalEvent(consent, [{ kind: 'child' }])), 'delivered');
    const after = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as Api;
    expect(after.disclosed[0]!.consents).toEqual([used]);
    // The child withdrew; the guardian's consent stands.
    expect(after.consents).toEqual([
      expect.objectContaining({
        id: used,
        ownId,
        status: 'active',
        withdrawn: { by: [expect.stringMatching(/^Patient\//)], at: expect.any(String) },
      }),
    ]);
    const since = section(await (await practice.get(`/console/practice/events/${id}`)).text(), 'sent');
    expect(since).toContain(`Op toestemming ${ownId}`);
    expect(since).toContain(`(inmiddels ingetrokken door het kind (${childId}) op `);
  });
});

describe('the practice sees which objection refused a referral (public task, objections honoured)', () => {
  const h = useDeliveryApp({ destination: (r) => contractDestination(r.url('/fhir'), {}) });

  it('names the objection the recorded denial rests on, in the console and in the API', async () => {
    const referral = buildReferralEvent();
    const childId = (referral.child as { id: string }).id;
    const objection = buildConsentEvent(referral, { decision: 'deny', givenBy: [{ kind: 'child' }] });
    const ownId = (objection.consent as { id: string }).id;
    await h.reachesState(await h.submit(objection), 'completed');
    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');

    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as Api;
    expect(api.disclosed).toEqual([]);
    expect(api.decision).toEqual(expect.objectContaining({ effect: 'deny', stage: 'map' }));
    expect(api.decision!.consents).toHaveLength(1);
    expect(api.consents).toEqual([
      expect.objectContaining({ id: api.decision!.consents[0], ownId, kind: 'objection', status: 'active' }),
    ]);

    const practice = await openConsole(h.app, 'practice');
    const why = section(await (await practice.get(`/console/practice/events/${id}`)).text(), 'why');
    expect(why).toContain(`Op bezwaar ${ownId}`);
    expect(why).toContain(`van het kind (${childId})`);
    expect(why).toContain('gegeven op 19 nov 2026');
  });
});
