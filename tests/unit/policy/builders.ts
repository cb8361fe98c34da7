import type { Consent, ConsentProvision, ConsentProvisionActor, Period } from '@medplum/fhirtypes';
import { MUNICIPALITY_CODE_SYSTEM } from '../../../src/kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import { agreementSchema, type Agreement } from '../../../src/policy/agreement';
import type { DataClass, Purpose } from '../../../src/contracts/sharing';
import type { DecisionFacts, DecisionRequest } from '../../../src/policy/types';

/** Builders for policy tests: sensible defaults (one permitting set-up), every part overridable. */

export const PRACTICE_AGB = '01234567';
export const MUNICIPALITY = 'GM0226';
export const OTHER_MUNICIPALITY = 'GM0344';
export const CHILD_ID = 'child-1';
export const MOTHER_ID = 'mother-1';
export const FATHER_ID = 'father-1';
export const CHILD = `Patient/${CHILD_ID}`;
export const MOTHER = `RelatedPerson/${MOTHER_ID}`;
export const FATHER = `RelatedPerson/${FATHER_ID}`;

/** 15 June 2025, 12:00 in Amsterdam (CEST): the default moment of disclosure. */
export const AT = new Date('2025-06-15T10:00:00Z');
export const DAY = '2025-06-15';

/** A birth date that makes the child `age` on 15 June 2025 (born on 1 March). */
export function bornAged(age: number): string {
  return `${2025 - age}-03-01`;
}

/** A valid agreement (checked against the real schema) between the default practice and municipality. */
export function buildAgreement(overrides: Partial<Agreement> = {}): Agreement {
  return agreementSchema.parse({
    id: 'agr-overbetuwe',
    version: 1,
    status: 'active',
    practice: { agb: PRACTICE_AGB, name: 'Huisartsenpraktijk De Linde' },
    municipality: { code: MUNICIPALITY, name: 'Overbetuwe' },
    validFrom: '2025-01-01',
    validTo: '2026-12-31',
    purposes: ['referral', 'contact-registration'],
    legalBasis: 'consent',
    objectionBlocks: true,
    guardianRule: 'all',
    dataClasses: {
      Patient: { fields: ['identifier', 'birthDate'] },
      RelatedPerson: { fields: ['identifier', 'relationship'] },
      ServiceRequest: { fields: ['status', 'intent', 'code', 'authoredOn'] },
      Encounter: { fields: ['status', 'class', 'period'] },
    },
    ...overrides,
  });
}

export function buildRequest(overrides: Partial<DecisionRequest> = {}): DecisionRequest {
  return {
    practiceAgb: PRACTICE_AGB,
    municipalityCode: MUNICIPALITY,
    purpose: 'referral',
    dataClasses: ['Patient', 'ServiceRequest'],
    at: AT,
    ...overrides,
  };
}

/** An 8-year-old with two guardians who both hold authority, one agreement, no consents. */
export function buildFacts(overrides: Partial<DecisionFacts> = {}): DecisionFacts {
  return {
    agreements: [buildAgreement()],
    consents: [],
    patient: { id: CHILD_ID, birthDate: bornAged(8) },
    guardians: [
      { relatedPersonId: MOTHER_ID, hasAuthority: true },
      { relatedPersonId: FATHER_ID, hasAuthority: true },
    ],
    ...overrides,
  };
}

/** The municipality as recipient (role IRCP), identified by its CBS code. */
export function recipient(municipalityCode: string = MUNICIPALITY, role = 'IRCP'): ConsentProvisionActor {
  return {
    role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: role }] },
    reference: { identifier: { system: MUNICIPALITY_CODE_SYSTEM, value: municipalityCode } },
  };
}

export interface RuleSpec {
  readonly type?: 'permit' | 'deny';
  /** null: no period restriction. */
  readonly period?: Period | null;
  /** Municipality codes named as recipient; null: no actor restriction. */
  readonly recipients?: readonly string[] | null;
  /** Raw actors, overriding `recipients`. */
  readonly actor?: ConsentProvisionActor[];
  /** null: no purpose restriction. */
  readonly purposes?: readonly Purpose[] | null;
  /** null: no class restriction. */
  readonly classes?: readonly DataClass[] | null;
  /** Nested provisions: exceptions to this one. */
  readonly exceptions?: readonly ConsentProvision[];
  /** Extra raw provision elements (code, securityLabel, ...). */
  readonly extra?: Partial<ConsentProvision>;
}

/** A nested provision: only what is given restricts it (no defaults, unlike the root). */
export function rule(spec: RuleSpec): ConsentProvision {
  const provision: ConsentProvision = { ...(spec.type ? { type: spec.type } : {}) };
  if (spec.period) {
    provision.period = spec.period;
  }
  if (spec.actor) {
    provision.actor = spec.actor;
  } else if (spec.recipients) {
    provision.actor = spec.recipients.map((code) => recipient(code));
  }
  if (spec.purposes) {
    provision.purpose = spec.purposes.map((code) => ({ system: PURPOSE_SYSTEM, code }));
  }
  if (spec.classes) {
    provision.class = spec.classes.map((code) => ({ system: RESOURCE_TYPE_SYSTEM, code }));
  }
  if (spec.exceptions) {
    provision.provision = [...spec.exceptions];
  }
  return { ...provision, ...spec.extra };
}

export interface ConsentSpec extends RuleSpec {
  readonly id?: string;
  /** Performer reference: `Patient/child-1` (default), `RelatedPerson/mother-1`, ... */
  readonly by?: string | readonly string[];
  readonly status?: Consent['status'];
  readonly dateTime?: string;
  /** The subject; defaults to the child. */
  readonly patient?: string;
  /** Raw overrides of the Consent (scope, category, provision, ...). */
  readonly raw?: Partial<Consent>;
}

let consentCounter = 0;

/**
 * An active patient-privacy consent that permits disclosure to the default municipality for referral, from
 * 1 January 2025 to 31 December 2026, with no class restriction. Every part can be overridden.
 */
export function buildConsent(spec: ConsentSpec = {}): Consent {
  consentCounter++;
  const performers = spec.by === undefined ? [CHILD] : typeof spec.by === 'string' ? [spec.by] : spec.by;
  const provision = rule({
    type: spec.type ?? 'permit',
    period: spec.period === undefined ? { start: '2025-01-01', end: '2026-12-31' } : spec.period,
    recipients: spec.recipients === undefined ? [MUNICIPALITY] : spec.recipients,
    ...(spec.actor ? { actor: spec.actor } : {}),
    purposes: spec.purposes === undefined ? ['referral'] : spec.purposes,
    classes: spec.classes ?? null,
    ...(spec.exceptions ? { exceptions: spec.exceptions } : {}),
    ...(spec.extra ? { extra: spec.extra } : {}),
  });
  return {
    resourceType: 'Consent',
    id: spec.id ?? `consent-${consentCounter}`,
    status: spec.status ?? 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: LOINC_SYSTEM, code: CONSENT_CATEGORY_CODE }] }],
    patient: { reference: spec.patient ?? CHILD },
    dateTime: spec.dateTime ?? '2025-01-10T09:00:00+01:00',
    performer: performers.map((reference) => ({ reference })),
    provision,
    ...spec.raw,
  };
}
