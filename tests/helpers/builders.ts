import type { AuditEvent } from '@medplum/fhirtypes';
import { disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import type { Agreement, MonitoringSection } from '../../src/policy/agreement';
import type { Destination } from '../../src/contracts/destination';

export const PRACTICE_AGB = '01234567';
export const OTHER_PRACTICE_AGB = '07654321';
export const MUNICIPALITY = 'GM0226';
/** The test practices' names, as their agreements may configure them (the auditor's pages name their chains so). */
export const PRACTICE_NAME = 'Huisartsenpraktijk De Linde';
export const OTHER_PRACTICE_NAME = 'Gezondheidscentrum De Brug';

/** Valid BSNs (11-proef) for test children and guardians. */
export const BSNS = ['111222333', '123456782', '999999990', '111111110', '222222220'] as const;

let seq = 0;

/** A random BSN that passes the 11-proef: each test child is a different child. */
export function randomBsn(): string {
  for (;;) {
    const d = Array.from({ length: 8 }, () => Math.floor(Math.random() * 10));
    const sum = d.reduce((acc, digit, i) => acc + (9 - i) * digit, 0);
    const last = sum % 11;
    if (last < 10 && d[0] !== 0) {
      return `${d.join('')}${last}`;
    }
  }
}

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
      bsn: randomBsn(),
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

/** The test agreement, and one of the other practice, each naming its practice: `PRACTICE_NAME`, `OTHER_PRACTICE_NAME`. */
export function buildNamedAgreements(): Agreement[] {
  return [
    buildAgreement({ practice: { agb: PRACTICE_AGB, name: PRACTICE_NAME } }),
    buildAgreement({
      id: 'other-practice-agreement',
      practice: { agb: OTHER_PRACTICE_AGB, name: OTHER_PRACTICE_NAME },
    }),
  ];
}

/** An agreement's `monitoring` section: aggregates without consent, q 9,500, a professional at 72,000 a year, k 5. */
export function buildMonitoringSection(overrides: Partial<MonitoringSection> = {}): MonitoringSection {
  return {
    aggregateWithoutConsent: true,
    q: 9500,
    professionalCost: { amount: 72_000, per: 'year' },
    k: 5,
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

/** A generic-json `consent.recorded` event for the child of `event`, given by the child and/or guardians. */
export function buildConsentEvent(
  referral: Record<string, unknown>,
  consent: {
    id?: string;
    decision?: 'permit' | 'deny';
    givenBy: ({ kind: 'child' } | { kind: 'guardian'; guardianId: string })[];
  } & Record<string, unknown>,
): Record<string, unknown> {
  seq++;
  return {
    eventId: `evt-consent-${Date.now().toString(36)}-${seq}`,
    eventType: 'consent.recorded',
    occurredAt: '2026-11-19T09:00:00+01:00',
    practice: referral.practice,
    child: referral.child,
    guardians: referral.guardians,
    consent: {
      id: `consent-${seq}`,
      recordedAt: '2026-11-19T09:00:00+01:00',
      decision: 'permit',
      recipient: { municipality: MUNICIPALITY, name: 'Overbetuwe' },
      purposes: ['referral'],
      dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest'],
      period: { start: '2026-01-01' },
      ...consent,
    },
  };
}

/** The `consent.withdrawn` event for a consent recorded with `buildConsentEvent`. */
export function buildWithdrawalEvent(consentEvent: Record<string, unknown>, by: unknown[]): Record<string, unknown> {
  seq++;
  const consent = consentEvent.consent as { id: string };
  return {
    ...consentEvent,
    eventId: `evt-withdraw-${Date.now().toString(36)}-${seq}`,
    eventType: 'consent.withdrawn',
    consent: { id: consent.id, withdrawnAt: new Date().toISOString(), withdrawnBy: by },
  };
}

/**
 * The guardian `guardianId` refusing, under the same consent id, what the consent event `consentEvent` recorded:
 * a `consent.recorded` with decision deny, a new version of that consent.
 */
export function buildRefusalEvent(consentEvent: Record<string, unknown>, guardianId = 'g1'): Record<string, unknown> {
  return {
    ...consentEvent,
    eventId: `${String(consentEvent.eventId)}-refused`,
    consent: {
      ...(consentEvent.consent as object),
      decision: 'deny',
      recordedAt: '2026-12-02T09:00:00+01:00',
      givenBy: [{ kind: 'guardian', guardianId }],
    },
  };
}

/** A generic-json `contact.recorded` event of a fresh child; `contact` overrides fields of the contact itself. */
export function buildContactEvent(contact: Record<string, unknown> = {}): Record<string, unknown> {
  const base = buildReferralEvent();
  delete base.referral;
  const n = String(base.eventId).slice(4);
  return {
    ...base,
    eventId: `evt-contact-${n}`,
    eventType: 'contact.recorded',
    trajectory: { id: `traj-${n}`, startDate: '2025-09-01', icpc: 'P22' },
    contact: {
      id: `contact-${n}`,
      start: '2026-11-20T10:00:00+01:00',
      durationMinutes: 30,
      mode: '1',
      interventions: ['screening'],
      ...contact,
    },
  };
}

/** A disclosure AuditEvent of the worker, the `i`th of a series (its inbox id and ServiceRequest differ). */
export function buildDisclosureAuditEvent(i: number): AuditEvent {
  return disclosure({
    actor: SYSTEM_WORKER,
    outcome: '0',
    patientBsn: '111222333',
    inboxId: `inbox-${i}`,
    municipality: MUNICIPALITY,
    destination: 'gm0226',
    purpose: 'referral',
    resources: [`ServiceRequest/sr-${i}`],
  });
}
