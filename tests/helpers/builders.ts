import type { Agreement } from '../../src/policy/agreement';
import type { Destination } from '../../src/delivery/destination';

export const PRACTICE_AGB = '01234567';
export const OTHER_PRACTICE_AGB = '07654321';
export const MUNICIPALITY = 'GM0226';

/** Valid BSNs (11-proef) for test children and guardians. */
export const BSNS = ['111222333', '123456782', '999999990', '111111110', '222222220'] as const;

let seq = 0;

/** A valid generic-json `referral.created` event; every call gets a fresh event id. */
export function buildReferralEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  const id = `${Date.now().toString(36)}-${seq}`;
  return {
    eventId: `evt-${id}`,
    eventType: 'referral.created',
    occurredAt: '2026-11-20T10:15:00+01:00',
    practice: { agb: PRACTICE_AGB, ura: '87654321', name: 'Huisartsenpraktijk De Linde' },
    professional: { agb: '01999999', role: 'poh-jeugd' },
    child: {
      id: `child-${id}`,
      bsn: '111222333',
      birthDate: '2012-03-04',
      municipality: MUNICIPALITY,
      name: { given: ['Sam'], family: 'Jansen' },
    },
    guardians: [{ id: 'g1', bsn: '123456782', relationship: 'mother', hasAuthority: true, name: { family: 'Jansen' } }],
    referral: {
      id: `ref-${id}`,
      target: 'social-team',
      productCategory: '45',
      referrerType: '02',
      authoredOn: '2026-11-20T10:00:00+01:00',
      reasonText: 'Zorgen over gedrag thuis en op school',
    },
    ...overrides,
  };
}

/** An active agreement between the test practice and municipality; public task, so no consent is needed. */
export function buildAgreement(overrides: Partial<Agreement> = {}): Agreement {
  return {
    id: 'test-agreement',
    version: 1,
    status: 'active',
    practice: { agb: PRACTICE_AGB },
    municipality: { code: MUNICIPALITY, name: 'Overbetuwe' },
    validFrom: '2020-01-01',
    purposes: ['referral', 'contact-registration', 'monitoring'],
    legalBasis: 'public-task',
    objectionBlocks: true,
    guardianRule: 'all',
    dataClasses: {
      Patient: { fields: ['identifier', 'birthDate'] },
      RelatedPerson: { fields: ['patient', 'identifier'] },
      ServiceRequest: { fields: ['identifier', 'status', 'intent', 'code', 'subject', 'authoredOn', 'requester'] },
      Encounter: { fields: ['status', 'class', 'type', 'subject', 'period', 'episodeOfCare'] },
      EpisodeOfCare: { fields: ['status', 'patient', 'period'] },
    },
    ...overrides,
  };
}

export function buildDestination(baseUrl: string, overrides: Partial<Destination> = {}): Destination {
  return {
    id: 'gm0226',
    municipality: MUNICIPALITY,
    adapter: 'fhir-rest',
    baseUrl,
    auth: { type: 'none' },
    ...overrides,
  };
}
