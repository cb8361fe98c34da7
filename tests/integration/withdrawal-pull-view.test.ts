import type { Bundle, ServiceRequest } from '@medplum/fhirtypes';
import {
  buildAgreement,
  buildConsentEvent,
  buildReferralEvent,
  buildWithdrawalEvent,
  MUNICIPALITY,
} from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import type { KeyName } from '../helpers/test-runtime';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// report-xmuni 1 and 2: what a municipality pulls from jeugdbrug (FHIR search and read, the status route, its
// console) says when the child's consent no longer covers a referral it received, also where no notice reaches it
// (isamenleving); and the served ServiceRequest names the requester the delivered one named.
const ISAMENLEVING_MUNICIPALITY = 'GM0344'; // the `otherMunicipality` key's
const TAG = { system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-tag', code: 'consent-withdrawn' };

function referralIn(municipality: string): Record<string, unknown> {
  const r = buildReferralEvent();
  return { ...r, child: { ...(r.child as object), municipality } };
}

describe('a withdrawal in the views a municipality pulls', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    extraDestinations: (r) => [
      contractDestination(r.url('/isam'), {
        id: 'gm0344',
        municipality: ISAMENLEVING_MUNICIPALITY,
        adapter: 'isamenleving',
      }),
    ],
    agreement: buildAgreement({ legalBasis: 'consent' }),
    extraAgreements: [
      buildAgreement({
        id: 'isamenleving',
        legalBasis: 'consent',
        municipality: { code: ISAMENLEVING_MUNICIPALITY, name: 'Arnhem' },
      }),
    ],
  });

  async function deliveredUnderConsent(municipality: string) {
    const referral = referralIn(municipality);
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      recipient: { municipality, name: 'Gemeente' },
    });
    await h.reachesState(await h.submit(consent), 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    return { consent, value: (referral.referral as { id: string }).id };
  }

  const searchOne = async (query: string, key: KeyName) => {
    const res = await h.app.request(`/fhir/ServiceRequest?${query}`, { key });
    expect(res.status).toBe(200);
    return (await res.json()) as Bundle<ServiceRequest>;
  };
  /** `_tag` of the consent-withdrawn tag, as `<system>|<code>`. */
  const tagged = `_tag=${encodeURIComponent(`${TAG.system}|${TAG.code}`)}`;
  const valuesTagged = async (query: string, key: KeyName) =>
    (await searchOne(query, key)).entry?.map((e) => e.resource?.identifier?.[0]?.value) ?? [];
  const statusOf = async (value: string, key: KeyName) => {
    const res = await h.app.request(`/municipality/v1/referrals/${encodeURIComponent(value)}/status`, { key });
    expect(res.status).toBe(200);
    return (await res.json()) as { withdrawalNotice: { madeAt: string; noticeState: string } | null };
  };

  it.each<[string, string, KeyName, string]>([
    ['a FHIR REST municipality (told by a notice)', MUNICIPALITY, 'municipality', 'delivered'],
    ['an isamenleving municipality (no notice carried)', ISAMENLEVING_MUNICIPALITY, 'otherMunicipality', 'dead'],
  ])('shows %s the withdrawal: tag, meta.lastUpdated, status route, console', async (_, gm, key, noticeState) => {
    const { consent, value } = await deliveredUnderConsent(gm);
    const before = (await searchOne(`identifier=${value}`, key)).entry![0]!.resource!;
    expect(before.meta?.tag).toBeUndefined();
    expect((await statusOf(value, key)).withdrawalNotice).toBeNull();
    const since = before.meta!.lastUpdated!;
    // A search without `identifier` reads the table of migration 085: it holds the referral untagged now, so what
    // it serves after the withdrawal shows that the withdrawal itself marked the referral stale (its trigger on
    // child_disclosure), not a first computation of the row.
    const listed = await searchOne(`_lastUpdated=ge${encodeURIComponent(since)}`, key);
    expect(listed.entry?.map((e) => e.resource?.identifier?.[0]?.value)).toEqual([value]);
    expect(listed.entry![0]!.resource!.meta?.tag).toBeUndefined();
    for (const query of [`_lastUpdated=ge${encodeURIComponent(since)}`, `identifier=${value}`]) {
      expect(await valuesTagged(`${query}&${tagged}`, key)).toEqual([]);
      expect(await valuesTagged(`${query}&_tag:not=${tagged.slice('_tag='.length)}`, key)).toEqual([value]);
    }

    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, noticeState === 'dead' ? 'dead' : 'delivered');

    // A catch-up by `_lastUpdated` finds it, tagged; the status it had stays (FHIR has no status for this).
    const changed = await searchOne(`_lastUpdated=gt${encodeURIComponent(since)}`, key);
    expect(changed.entry?.map((e) => e.resource?.identifier?.[0]?.value)).toEqual([value]);
    const after = changed.entry![0]!.resource!;
    expect(after.status).toBe('active');
    expect(after.meta?.tag).toEqual([expect.objectContaining(TAG)]);
    expect(after.meta!.lastUpdated! > since).toBe(true);
    const read = await h.app.request(`/fhir/ServiceRequest/${after.id}`, { key });
    expect(((await read.json()) as ServiceRequest).meta?.tag).toEqual([expect.objectContaining(TAG)]);
    // Found by its tag, from the table (`_lastUpdated`) and from its deliveries (`identifier`) alike; no longer
    // among those without it.
    for (const query of [`_lastUpdated=ge${encodeURIComponent(since)}`, `identifier=${value}`]) {
      expect(await valuesTagged(`${query}&${tagged}`, key)).toEqual([value]);
      expect(await valuesTagged(`${query}&_tag=consent-withdrawn`, key)).toEqual([value]);
      expect(await valuesTagged(`${query}&_tag:not=${TAG.system}%7C`, key)).toEqual([]);
    }

    const { withdrawalNotice } = await statusOf(value, key);
    expect(withdrawalNotice).toEqual({ madeAt: expect.any(String), noticeState });
    expect(new Date(withdrawalNotice!.madeAt).toISOString()).toBe(after.meta!.lastUpdated);

    const console = await openConsole(h.app, key);
    const page = await (await console.get(`/console/municipality/referrals?referral=${value}`)).text();
    expect(page).toContain('class="withdrawn"');
    expect(page).toContain('Toestemming vervallen');
  });

  it('serves the requester the delivery named: the referring professional’s AGB, not the practice’s', async () => {
    const referral = referralIn(MUNICIPALITY);
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      recipient: { municipality: MUNICIPALITY, name: 'Gemeente' },
    });
    await h.reachesState(await h.submit(consent), 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    const sent = h.receiver.hitsFor((await h.delivery(referralId)).idempotency_key)[0]!.body as Bundle;
    const delivered = sent.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!
      .resource as ServiceRequest;
    expect(delivered.requester?.identifier?.value).toBe('01999999');
    const served = (await searchOne(`identifier=${(referral.referral as { id: string }).id}`, 'municipality'))
      .entry![0]!.resource!;
    expect(served.requester).toEqual(delivered.requester);
  });
});
