import { buildAgreement, buildConsentEvent, buildDestination, buildReferralEvent } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// The "why denied" box of a practice's event was today's decision under the heading of the denial: once a consent
// arrived after the denial (and nothing decided again), a still-denied referral read "Toegestaan op grond van
// toestemming — Ontbreekt bij: het kind …". Now it says the decision as recorded (GET /his/v1/events/{id}'s
// stateReason), and apart from it what would be decided now (POST /policy/v1/$explain), with what to do about it.
describe('the practice\'s "why denied": the decision as recorded, and apart from it the one of now', () => {
  // No automatic redecision after a consent (REDECIDE_WINDOW_DAYS=0): the event stays denied, as one denied for a
  // withdrawn consent or denied longer ago than the window does.
  const h = useDeliveryApp({
    agreement: buildAgreement({ legalBasis: 'consent' }),
    destination: (r) => buildDestination(r.url('/fhir')),
    env: { REDECIDE_WINDOW_DAYS: '0' },
  });
  let practice: ConsoleClient;
  const bothConsent = { givenBy: [{ kind: 'child' as const }, { kind: 'guardian' as const, guardianId: 'g1' }] };

  beforeAll(async () => {
    practice = await openConsole(h.app, 'practice');
  });

  const whyOf = async (id: string) => {
    const res = await practice.get(`/console/practice/events/${id}`);
    expect(res.status).toBe(200);
    return /<section class="why">([\s\S]*?)<\/section>/.exec(await res.text())?.[1] ?? '';
  };
  const words = (fragment: string) => fragment.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

  it('says the recorded denial, and that with the consent of now it would be sent, never "missing from" under it', async () => {
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');
    await h.submit(buildConsentEvent(referral, bothConsent));
    // Recorded, and still denied: nothing decided it again.
    const explain = await h.app.request('/policy/v1/$explain', { json: { eventId: id } });
    expect(((await explain.json()) as { decision: { effect: string } }).decision.effect).toBe('permit');
    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as { state: string; stateReason: string };
    expect(api.state).toBe('denied');
    expect(api.stateReason).toMatch(/^consent-missing/);

    const why = words(await whyOf(id));
    expect(why).toContain('Vastgelegd besluit');
    expect(why).toContain('De toestemming van het kind ontbreekt');
    expect(why).toContain('Als het nu opnieuw werd beoordeeld: toegestaan');
    expect(why).toContain('stuur het opnieuw vanuit het HIS, of vraag de beheerder het opnieuw te beoordelen');
    expect(why).not.toContain('Ontbreekt bij');
    expect(why).not.toMatch(/^\s*Toegestaan op grond van toestemming/);
  });

  it('says whose consent is missing when it would still be denied now', async () => {
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');
    const why = words(await whyOf(id));
    expect(why).toContain('Vastgelegd besluit');
    expect(why).toContain('Als het nu opnieuw werd beoordeeld: nog steeds geweigerd');
    expect(why).toContain(`Ontbreekt bij: het kind (${(referral.child as { id: string }).id})`);
    expect(why).not.toContain('stuur het opnieuw');
  });

  // A denied referral never reaches the municipality: "no status from the municipality yet" read as waiting for it.
  it('says a denied referral was not sent, where the status at the municipality would be', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'denied');
    const page = words(await (await practice.get(`/console/practice/events/${id}`)).text());
    expect(page).toContain('Deze verwijzing is niet naar de gemeente verstuurd');
    expect(page).not.toContain('Nog geen status van de gemeente ontvangen');
    const list = await (await practice.get('/console/practice')).text();
    const row = new RegExp(
      `<tr class="state-denied">(?:(?!</tr>)[\\s\\S])*?/console/practice/events/${id}"[\\s\\S]*?</tr>`,
    ).exec(list)?.[0];
    expect(row).toContain('<td>niet verstuurd</td>');
  });

  // "Why denied" names the operator for a denial a late consent would now lift: until 6 December only the API could
  // decide it again (POST /admin/v1/events/{id}/redecide).
  it('lets an operator decide a denied event again from its page, and not another practice’s operator', async () => {
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');
    const operator = await openConsole(h.app, 'operator');
    const before = await (await operator.get(`/console/operator/events?id=${id}`)).text();
    expect(before).toContain(`action="/console/operator/events/${id}/redecide"`);
    const other = await openConsole(h.app, 'otherOperator');
    expect((await other.post(`/console/operator/events/${id}/redecide`, {})).status).toBe(404);

    await h.submit(buildConsentEvent(referral, bothConsent));
    const after = await operator.submit(`/console/operator/events/${id}/redecide`, {});
    expect(after.status).toBe(200);
    expect(words(await after.text())).toContain('Opnieuw beoordeeld: toegestaan');
    // Said once: not in the page's address, so a reload or a bookmark does not say it again hours later.
    expect(new URL(after.url).search).toBe(`?id=${id}`);
    await h.reachesState(id, 'delivered');
    const page = await (await operator.get(`/console/operator/events?id=${id}`)).text();
    expect(page).not.toContain('/redecide"');
    expect(page).not.toContain('Opnieuw beoordeeld');
    // The look-up field says it takes the practice's own event id too.
    expect(page).toContain('Inbox-id of event-id van de praktijk');
  });

  // A "decide again" that denied again left the event's Verloop as it was: the operator saw no trace of it.
  it('shows a decision again that denied again in the event’s history, the state staying denied', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'denied');
    const operator = await openConsole(h.app, 'operator');
    const after = await operator.submit(`/console/operator/events/${id}/redecide`, {});
    expect(after.status).toBe(200);
    const page = await after.text();
    const history = words(/<h2>Verloop<\/h2>([\s\S]*?)<\/ol>/.exec(page)?.[1] ?? '');
    expect(history.match(/geweigerd/g)).toHaveLength(2);
    expect(history).toMatch(/geweigerd — De toestemming van het kind ontbreekt[^—]*\(opnieuw besloten\)/);
    expect((await h.state(id)).state).toBe('denied');
  });
});
