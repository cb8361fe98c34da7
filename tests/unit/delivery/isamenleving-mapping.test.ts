import {
  toISamenlevingMessage,
  type Aanmelding,
  type Contactmoment,
} from '../../../mappings/municipality/isamenleving/to-message';
import { buildAgreement, buildReferralEvent } from '../../helpers/builders';
import { buildContactEvent } from '../../helpers/builders';
import { mapped, minimised } from './support/resources';

const wide = buildAgreement({
  dataClasses: {
    Patient: { fields: ['identifier', 'birthDate', 'address'] },
    RelatedPerson: { fields: ['identifier', 'extension', 'relationship'] },
    ServiceRequest: {
      fields: ['identifier', 'category', 'extension', 'authoredOn', 'requester', 'performerType', 'note'],
    },
    Encounter: { fields: ['identifier', 'class', 'type', 'period', 'length', 'participant', 'episodeOfCare'] },
    EpisodeOfCare: { fields: ['identifier', 'status', 'type', 'period'] },
  },
});

describe('iSamenleving-style mapping', () => {
  it('maps a referral to an aanmelding with every field the agreement allows', () => {
    const event = buildReferralEvent();
    const message = toISamenlevingMessage(minimised(mapped(event), wide), 'referral.created', 'k1')!;
    expect(message.path).toBe('aanmeldingen');
    const body = message.body as Aanmelding;
    expect(body.verwijzing).toEqual(
      expect.objectContaining({
        bronReferentie: (event.referral as { id: string }).id,
        productcategorie: { code: '45', omschrijving: expect.any(String) },
        verwijzerType: expect.objectContaining({ code: '02' }),
        doel: expect.objectContaining({ code: 'social-team' }),
        toelichting: 'Zorgen over gedrag thuis en op school',
      }),
    );
    expect(body.gezagsdragers?.[0]?.gezag).toBe(true);
  });

  it('leaves out what minimisation removed instead of sending empty fields', () => {
    const narrow = buildAgreement({ dataClasses: { ServiceRequest: { fields: ['status'] } } });
    const message = toISamenlevingMessage(minimised(mapped(), narrow), 'referral.created', 'k2')!;
    expect(message.body).toEqual({
      berichtId: 'k2',
      berichtType: 'aanmelding',
      gebeurtenis: 'aangemeld',
      verwijzing: { referentie: expect.any(String) },
    });
  });

  it('marks a cancellation as ingetrokken', () => {
    const event = mapped(buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: 'r-1' } }));
    const body = toISamenlevingMessage(minimised(event, wide), 'referral.cancelled', 'k3')!.body as Aanmelding;
    expect(body.gebeurtenis).toBe('ingetrokken');
  });

  it('maps a contact to a contactmoment with its trajectory', () => {
    const body = toISamenlevingMessage(minimised(mapped(buildContactEvent()), wide), 'contact.recorded', 'k4')!
      .body as Contactmoment;
    expect(body.contactmoment).toEqual(
      expect.objectContaining({
        duurMinuten: 30,
        soort: expect.any(String),
        interventies: [expect.objectContaining({ code: 'screening' })],
      }),
    );
    expect(body.contactmoment.trajectReferentie).toBe(body.traject?.referentie);
  });

  it('sends a corrected contact as a new message about the same contactmoment, trajectory and child', () => {
    const first = buildContactEvent({ durationMinutes: 30 });
    const corrected = {
      ...first,
      eventId: `${String(first.eventId)}-corrected`,
      contact: { ...(first.contact as object), durationMinutes: 45 },
    };
    const messageOf = (event: Record<string, unknown>, key: string) =>
      toISamenlevingMessage(minimised(mapped(event), wide), 'contact.recorded', key)!.body as Contactmoment;
    const [a, b] = [messageOf(first, 'k6'), messageOf(corrected, 'k7')];
    expect(b.berichtId).not.toBe(a.berichtId);
    expect(b.contactmoment.duurMinuten).toBe(45);
    expect(b.contactmoment.referentie).toBe(a.contactmoment.referentie);
    expect(b.traject?.referentie).toBe(a.traject?.referentie);
    expect(b.client?.referentie).toBe(a.client?.referentie);
  });

  it.each(['consent.recorded', 'consent.withdrawn'] as const)('has no message for %s', (type) => {
    expect(toISamenlevingMessage(minimised(mapped(buildContactEvent()), wide), type, 'k5')).toBeUndefined();
  });
});
