import type { Aanmelding, Contactmoment } from '../../mappings/municipality/isamenleving/to-message';
import { codesOf, TRAJECTORY_OUTCOME_SYSTEM } from '../../src/kernel/fhir/terminology';
import { buildAgreement, buildContactEvent as buildContact, buildReferralEvent } from '../helpers/builders';
import {
  contractDestination,
  describeAdapterContract,
  useDeliveryApp,
} from '../unit/delivery/support/adapter-contract';

/** A contact with two interventions and 45 minutes, values the assertions below look for. */
const buildContactEvent = () => buildContact({ durationMinutes: 45, interventions: ['screening', 'psycho-education'] });

describe('iSamenleving-style delivery adapter', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/isamenleving'), { adapter: 'isamenleving' }),
    // This municipality's agreement also lets the iJw codes go (category, referrer type, target).
    agreement: buildAgreement({
      dataClasses: {
        Patient: { fields: ['identifier', 'birthDate', 'address'] },
        RelatedPerson: { fields: ['patient', 'identifier', 'extension', 'relationship'] },
        ServiceRequest: {
          fields: [
            'identifier',
            'status',
            'intent',
            'code',
            'category',
            'extension',
            'subject',
            'authoredOn',
            'requester',
            'performerType',
          ],
        },
        Encounter: {
          fields: [
            'identifier',
            'status',
            'class',
            'type',
            'subject',
            'period',
            'length',
            'participant',
            'episodeOfCare',
          ],
        },
        EpisodeOfCare: { fields: ['identifier', 'status', 'type', 'patient', 'period'] },
      },
    }),
  });

  describeAdapterContract(h, '/isamenleving/aanmeldingen');

  it('registers a referral as an aanmelding in the documented layout, without what the agreement withholds', async () => {
    const event = buildReferralEvent();
    const id = await h.submit(event);
    await h.reachesState(id, 'delivered');
    const key = (await h.delivery(id)).idempotency_key;
    const hit = h.receiver.hitsFor(key)[0]!;
    expect(hit.headers['content-type']).toContain('application/json');
    const body = hit.body as Aanmelding;
    const child = event.child as { bsn: string; birthDate: string };
    const referral = event.referral as { id: string; authoredOn: string };
    expect(body).toEqual({
      berichtId: key,
      berichtType: 'aanmelding',
      gebeurtenis: 'aangemeld',
      client: {
        referentie: expect.stringMatching(/^[0-9a-f-]{36}$/),
        bsn: child.bsn,
        geboortedatum: child.birthDate,
        gemeente: 'GM0226',
      },
      gezagsdragers: [
        {
          referentie: expect.stringMatching(/^[0-9a-f-]{36}$/),
          bsn: '123456782',
          relatie: expect.objectContaining({ code: 'mother' }),
          gezag: true,
        },
      ],
      verwijzing: {
        referentie: expect.stringMatching(/^[0-9a-f-]{36}$/),
        bronReferentie: referral.id,
        datum: referral.authoredOn,
        productcategorie: expect.objectContaining({ code: '45' }),
        verwijzerType: expect.objectContaining({ code: '02' }),
        verwijzerAgb: '01999999',
        doel: expect.objectContaining({ code: 'social-team' }),
      },
    });
    // The agreement does not allow `note`: the reason text stays home.
    expect(hit.raw).not.toContain('Zorgen over gedrag');
  });

  it('registers a contact as a contactmoment at /contactmomenten', async () => {
    const event = buildContactEvent();
    const id = await h.submit(event);
    await h.reachesState(id, 'delivered');
    const key = (await h.delivery(id)).idempotency_key;
    const hit = h.receiver.hitsFor(key)[0]!;
    expect(hit.path).toBe('/isamenleving/contactmomenten');
    const body = hit.body as Contactmoment;
    expect(body.berichtType).toBe('contactmoment');
    expect(body.berichtId).toBe(key);
    expect(body.contactmoment).toEqual(
      expect.objectContaining({
        bronReferentie: (event.contact as { id: string }).id,
        datum: '2026-11-20T10:00:00+01:00',
        duurMinuten: 45,
        contactwijze: expect.objectContaining({ code: '1' }),
        interventies: [
          expect.objectContaining({ code: 'screening' }),
          expect.objectContaining({ code: 'psycho-education' }),
        ],
        professional: expect.objectContaining({ agb: '01999999', rol: expect.objectContaining({ code: 'poh-jeugd' }) }),
        trajectReferentie: body.traject?.referentie,
      }),
    );
    expect(body.traject).toEqual(
      expect.objectContaining({
        bronReferentie: (event.trajectory as { id: string }).id,
        status: 'active',
        startdatum: '2025-09-01',
      }),
    );
    // ICPC codes are medical data; the agreement does not name reasonCode.
    expect(hit.raw).not.toContain('P22');
  });

  it('makes an event it has no message for a dead letter an operator can see, sending nothing', async () => {
    const contact = buildContactEvent();
    const closed = {
      ...contact,
      eventId: `${String(contact.eventId)}-closed`,
      eventType: 'trajectory.closed',
      trajectory: {
        id: 'traj-closed',
        startDate: '2025-09-01',
        icpc: 'P22',
        closedOn: '2026-11-01',
        outcome: closedOutcome(),
      },
    };
    delete (closed as Record<string, unknown>).contact;
    delete (closed as Record<string, unknown>).professional;
    const hitsBefore = h.receiver.deliveries.length;
    const id = await h.submit(closed);
    await h.reachesState(id, 'dead');
    expect((await h.state(id)).stateReason).toContain('no message for trajectory.closed');
    expect(h.receiver.deliveries.length).toBe(hitsBefore);
  });
});

/** Any code of the trajectory-outcome table. */
function closedOutcome(): string {
  return codesOf(TRAJECTORY_OUTCOME_SYSTEM)[0]!;
}
