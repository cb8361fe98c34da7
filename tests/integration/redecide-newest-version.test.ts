import { buildAgreement, buildConsentEvent, buildContactEvent, buildReferralEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * report-xhis2 finding 7: while a child's consent was missing, every correction of a referral (and of a contact) was
 * denied; the consent that came then decided each of them again and sent them all, in no particular order, so the
 * municipality got versions it never needed (one disclosure each). Only the newest denied version of each referral
 * and contact is decided again now; the ones it superseded stay denied, with a reason that says so.
 */
describe('a consent decides again only the newest denied version of a referral or contact', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  type Timeline = { state: string; stateReason: string | null; reasonCodes: string[] };
  const timeline = async (id: string) => (await h.state(id)) as unknown as Timeline;
  const deliveriesOf = async (ids: readonly string[]) =>
    h.app.rt.ctx.db.query<{ inbox_id: string }>('SELECT inbox_id FROM delivery WHERE inbox_id = ANY($1::uuid[])', [
      ids,
    ]);

  it('sends the newest version of each, once, and leaves the superseded ones denied as superseded', async () => {
    const referral = buildReferralEvent();
    const versionsOf = <T extends Record<string, unknown>>(first: T, key: string, n: number): T[] =>
      Array.from({ length: n }, (_, i) =>
        i === 0
          ? first
          : {
              ...first,
              eventId: `${String(first.eventId)}-v${i + 1}`,
              [key]: { ...(first[key] as object), ...(key === 'referral' ? { reasonText: `versie ${i + 1}` } : {}) },
            },
      );
    const referrals = versionsOf(referral, 'referral', 4);
    const contact: Record<string, unknown> = { ...buildContactEvent(), child: referral.child };
    const contacts = versionsOf(contact, 'contact', 3).map((c, i) => ({
      ...c,
      contact: { ...(c.contact as object), durationMinutes: 30 + i },
    }));
    const referralIds: string[] = [];
    for (const r of referrals) {
      referralIds.push(await h.submit(r));
    }
    const contactIds: string[] = [];
    for (const c of contacts) {
      contactIds.push(await h.submit(c));
    }
    for (const id of [...referralIds, ...contactIds]) {
      await h.reachesState(id, 'denied');
    }

    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      purposes: ['referral', 'contact-registration'],
      dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest', 'Encounter', 'EpisodeOfCare'],
    });
    await h.reachesState(await h.submit(consent), 'completed');
    const newest = [referralIds.at(-1)!, contactIds.at(-1)!];
    for (const id of newest) {
      await h.reachesState(id, 'delivered');
    }
    const superseded = [...referralIds.slice(0, -1), ...contactIds.slice(0, -1)];
    for (const id of superseded) {
      const t = await timeline(id);
      expect({ id, state: t.state }).toEqual({ id, state: 'denied' });
      expect(t.stateReason).toMatch(
        /^decided again: superseded: a newer version of this (referral|contact) was received/,
      );
    }
    // Nothing of the superseded versions was, or will be, sent.
    expect(await deliveriesOf(superseded)).toEqual([]);
    expect((await deliveriesOf(newest)).map((d) => d.inbox_id).sort()).toEqual([...newest].sort());
    // The practice reads why in its console, naming the version that superseded it.
    const practice = await openConsole(h.app, 'practice');
    const page = (await (await practice.get(`/console/practice/events/${referralIds[0]!}`)).text()).replace(
      /\s+/g,
      ' ',
    );
    expect(page).toContain(
      `niet opnieuw beoordeeld: de praktijk stuurde later een nieuwere versie (event ${String(referrals[3]!.eventId)})`,
    );
  });
});
