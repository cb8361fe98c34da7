import {
  buildAgreement,
  buildConsentEvent,
  buildReferralEvent,
  buildRefusalEvent,
  buildWithdrawalEvent,
} from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// task objflag 1: the event page said what was sent (purpose, agreement, data classes) but not which Consent the
// decision rested on, nor, for a denial, which objection refused it. A parent asking "on what basis did this go to
// the municipality?" could not be answered from the console or from GET /his/v1/events/{id}, though the decision's
// AuditEvents name the consents.
interface Cited {
  id: string;
  version: number | null;
}
interface Provision {
  type: 'permit' | 'deny' | null;
  period: { start?: string; end?: string } | null;
  recipients: string[];
  purposes: string[];
  classes: string[];
  provisions: Provision[];
}
interface BasisConsent {
  id: string;
  version: number | null;
  ownId: string | null;
  kind: 'consent' | 'objection';
  status: string;
  dateTime: string | null;
  period: { start?: string; end?: string } | null;
  givenBy: string[];
  recordedBy: { principal: string; at: string } | null;
  withdrawn: { by: string[]; at: string | null } | null;
  provision: Provision | null;
  newer: {
    version: number;
    at: string;
    kind: 'consent' | 'objection';
    status: string;
    withdrawn: { by: string[]; at: string | null } | null;
  } | null;
}
interface Api {
  disclosed: { destination: string; consents: string[] | null; consentVersions: Cited[] | null }[];
  decision: { effect: string; stage: string; consents: string[]; consentVersions: Cited[] } | null;
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
    // Each consent as the version the decision and the disclosure cite (Consent/<id>/_history/1).
    expect(api.disclosed[0]!.consentVersions).toEqual([{ id: used, version: 1 }]);
    expect(api.decision).toEqual(
      expect.objectContaining({ effect: 'permit', consents: [used], consentVersions: [{ id: used, version: 1 }] }),
    );
    expect(api.consents).toEqual([
      expect.objectContaining({
        id: used,
        version: 1,
        ownId,
        kind: 'consent',
        status: 'active',
        dateTime: expect.stringMatching(/^2026-11-19T/),
        period: { start: '2026-01-01', end: '2027-12-31' },
        givenBy: [expect.stringMatching(/^Patient\//), expect.stringMatching(/^RelatedPerson\//)],
        recordedBy: { principal: expect.stringMatching(/\S/), at: expect.any(String) },
        withdrawn: null,
        provision: {
          type: 'permit',
          period: { start: '2026-01-01', end: '2027-12-31' },
          recipients: [expect.stringMatching(/^GM\d{4}$/)],
          purposes: ['referral'],
          classes: ['Patient', 'RelatedPerson', 'ServiceRequest'],
          provisions: [],
        },
        newer: null,
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
    expect(after.disclosed[0]!.consentVersions).toEqual([{ id: used, version: 1 }]);
    // The referral went on version 1, which reads as it did, both consenting; a newer version exists, in which the
    // child withdrew and the guardian's consent stands.
    const cited = after.consents.find((c) => c.version === 1);
    expect(cited).toEqual(
      expect.objectContaining({
        id: used,
        ownId,
        status: 'active',
        givenBy: [expect.stringMatching(/^Patient\//), expect.stringMatching(/^RelatedPerson\//)],
        recordedBy: api.consents[0]!.recordedBy,
        withdrawn: null,
        newer: {
          version: 2,
          at: expect.any(String),
          kind: 'consent',
          status: 'active',
          withdrawn: { by: [expect.stringMatching(/^Patient\//)], at: expect.any(String) },
        },
      }),
    );
    // The decision since (the disclosure decided again for the withdrawal, denied) cites version 2, listed as such.
    expect(after.decision).toEqual(
      expect.objectContaining({ effect: 'deny', stage: 'redecide', consentVersions: [{ id: used, version: 2 }] }),
    );
    expect(after.consents.find((c) => c.version === 2)).toEqual(
      expect.objectContaining({
        id: used,
        givenBy: cited!.givenBy,
        withdrawn: { by: [expect.stringMatching(/^Patient\//)], at: expect.any(String) },
        newer: null,
      }),
    );
    expect(after.consents).toHaveLength(2);
    const since = section(await (await practice.get(`/console/practice/events/${id}`)).text(), 'sent');
    expect(since).toContain(`Op toestemming ${ownId} (versie 1) van het kind (${childId}); Moeder met gezag (g1)`);
    expect(since).toContain(`(inmiddels ingetrokken door het kind (${childId}) op `);
  });
});

describe('the practice sees the consent a referral went on after it was refused under the same id', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  it('shows the version cited, the permit, and says a newer version, an objection, replaced it', async () => {
    const referral = buildReferralEvent();
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    const ownId = (consent.consent as { id: string }).id;
    await h.reachesState(await h.submit(consent), 'completed');
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');
    const before = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as Api;

    const refusal = buildRefusalEvent(consent);
    await h.reachesState(await h.submit(refusal), 'delivered');

    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as Api;
    const [cited] = api.disclosed[0]!.consentVersions!;
    expect(cited).toEqual({ id: before.consents[0]!.id, version: 1 });
    const v1 = api.consents.find((c) => c.id === cited!.id && c.version === 1)!;
    // As it read when the referral went: a permit, given by both, recorded by whom it was then.
    expect(v1).toEqual({
      ...before.consents[0]!,
      newer: {
        version: 2,
        at: expect.any(String),
        kind: 'objection',
        status: 'active',
        withdrawn: null,
      },
    });
    expect(v1.provision?.type).toBe('permit');
    expect(v1.givenBy).toHaveLength(2);

    const practice = await openConsole(h.app, 'practice');
    const sent = section(await (await practice.get(`/console/practice/events/${id}`)).text(), 'sent');
    expect(sent).toContain(`Op toestemming ${ownId} (versie 1)`);
    expect(sent).toContain('gegeven op 19 nov 2026');
    expect(sent).toMatch(/inmiddels vervangen door een bezwaar \(versie 2, vastgelegd op [^)]+\)/);
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
