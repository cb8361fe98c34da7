import { buildAgreement, buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// report-xhis2 finding 4: a referral's page said "besloten — Toegestaan op grond van toestemming" and nothing more:
// not whose consent, under which agreement, nor what left after minimisation, though the API's history named the
// people and the agreement and child_disclosure keeps the data classes. A parent's privacy question needed an auditor.
describe('the practice sees on what a referral was sent, and what was sent', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  const words = (fragment: string) => fragment.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

  it('names the people, the agreement and the data classes, in the console and in GET /his/v1/events/{id}', async () => {
    const referral = buildReferralEvent();
    const childId = (referral.child as { id: string }).id;
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    await h.reachesState(await h.submit(consent), 'completed');
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');

    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as {
      disclosed?: { destination: string; agreement: { id: string }; purpose: string; dataClasses: string[] }[];
    };
    expect(api.disclosed).toEqual([
      expect.objectContaining({
        destination: 'gm0226',
        agreement: expect.objectContaining({ id: 'test-agreement' }),
        purpose: 'referral',
        dataClasses: expect.arrayContaining(['Patient', 'ServiceRequest']),
      }),
    ]);

    const practice = await openConsole(h.app, 'practice');
    const page = await (await practice.get(`/console/practice/events/${id}`)).text();
    const sent = words(/<section class="sent">([\s\S]*?)<\/section>/.exec(page)?.[1] ?? '');
    expect(sent).toContain('Toegestaan onder overeenkomst test-agreement');
    expect(sent).toContain(`met toestemming van het kind ${childId} en ouder/verzorger g1 (moeder, met gezag)`);
    expect(sent).toContain('Doel: verwijzing');
    // The municipality by its name, not only a code (rev-late1 7).
    expect(sent).toMatch(/Naar Overbetuwe \(GM0226\) op/i);
    // The data classes in words, not their FHIR type names (rev-late1 7).
    expect(sent).toMatch(/Gegevens: [^.]*gegevens van het kind[^.]*verwijzingen/);
    expect(sent).not.toMatch(/Patient|ServiceRequest|RelatedPerson/);
    // No BSN, no name: the practice's own ids only.
    expect(page).not.toContain((referral.child as { bsn: string }).bsn);
    expect(page).not.toContain('Jansen');
  });
});
