import type { Coding, Consent, ConsentProvision } from '@medplum/fhirtypes';
import type { DataClass, Purpose } from '../contracts/sharing';
import { MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import {
  CONSENT_WITHDRAWN_AT_EXTENSION,
  CONSENT_WITHDRAWN_BY_EXTENSION,
  PARTICIPATION_TYPE_SYSTEM,
  PRIVACY_CONSENT_CATEGORY,
  PRIVACY_CONSENT_SCOPE,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../kernel/fhir/systems';

/**
 * A FHIR Consent read once into what the rules of consent-rules.ts compare: who performed it, whether it counts at
 * all, when it was given, and its provisions with the codes of the systems the engine reads. A consent is compiled
 * once per stored version (consent-cache.ts), so a decision compares strings and numbers instead of walking FHIR.
 * Everything here is derived from the resource alone, except `held`: what the rules last found it to say.
 */
export interface CompiledConsent {
  /** The FHIR id, as a decision names it; undefined or empty when the resource has none. */
  readonly id: string | undefined;
  /**
   * Whether its status, scope and category let it speak at all (active, or inactive / entered-in-error kept to say
   * why it no longer does); a consent that never counts is kept only so the facts stay complete.
   */
  readonly counts: boolean;
  readonly status: Consent['status'];
  /** Whether Consent.patient names anyone: then only a consent naming the child by `Patient/{id}` counts. */
  readonly namesPatient: boolean;
  /** The id of `Patient/{id}` in Consent.patient; undefined when it names none or another kind of reference. */
  readonly patientId: string | undefined;
  /** The performers, by the ids a decision names people by. */
  readonly performers: PartyIds;
  /** The performers who withdrew their part of a joint consent. */
  readonly withdrawnBy: PartyIds;
  /** Consent.dateTime in epoch ms; -Infinity when absent or unreadable (counts as the oldest). */
  readonly time: number;
  /** The root provision; undefined when absent. */
  readonly provision: CompiledProvision | undefined;
  /** Whether a period of some rule is an instant: then what it says depends on the moment, and is not held. */
  readonly byInstant: boolean;
  /**
   * What the rules (consent-rules.ts, its only reader and writer) last found this consent to say about a disclosure;
   * undefined until it is first held against one. Kept on the consent rather than in a WeakMap, whose thousands of
   * entries (one per cached consent) every garbage collection would visit.
   */
  held: Held | undefined;
}

/** Why a consent of the right person does not cover the disclosure. */
export type ConsentMissCode =
  | 'consent-not-yet-valid'
  | 'consent-expired'
  | 'actor-not-covered'
  | 'consent-purpose-not-covered'
  | 'consent-class-not-covered';

/**
 * What one consent says about each requested class of a disclosure: the weight of its most specific rule where its
 * rules apply (-1 where they do not), else why its root rule does not. Kept with the compiled consent for the last
 * disclosure it was held against: the pipeline decides an event twice (map, deliver) on the same cached consents, and
 * the decisions of a day differ only in the moment, which a consent whose periods are all calendar days never reads.
 */
export interface Held {
  day: string;
  municipalityCode: string;
  purpose: Purpose;
  readonly classes: DataClass[];
  readonly weights: number[];
  readonly misses: (ConsentMissCode | undefined)[];
}

/**
 * References to people as ids: `Patient/{id}` (the child) and `RelatedPerson/{id}` (a guardian), the only kinds of
 * performer a decision asks about. Compared as ids, the references a decision builds per person need not be compared
 * as whole strings.
 */
export interface PartyIds {
  readonly patients: readonly string[];
  readonly relatedPersons: readonly string[];
}

/** A bound of a provision's period: a (partial) calendar day, or an instant in epoch ms (NaN when unreadable). */
export type PeriodBound = { readonly day: string } | { readonly ms: number };

/** One rule of a consent, with the codes it names; `undefined` for a list means the rule does not restrict it. */
export interface CompiledProvision {
  readonly type: 'permit' | 'deny' | undefined;
  readonly start: PeriodBound | undefined;
  readonly end: PeriodBound | undefined;
  /** Municipality codes named as recipient (IRCP); undefined when the rule names no actor. */
  readonly recipients: readonly string[] | undefined;
  /** Purpose codes of PURPOSE_SYSTEM; undefined when the rule names no purpose. */
  readonly purposes: readonly string[] | undefined;
  /** Data classes (resource types); undefined when the rule names no class. */
  readonly classes: readonly string[] | undefined;
  /** Whether it restricts by what the engine does not evaluate (codes, data, security labels, data period). */
  readonly partial: boolean;
  readonly provisions: readonly CompiledProvision[];
}

/** The codings that make a consent one this engine reads, and an actor its recipient. */
const RECIPIENT_ROLE = { system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP' } as const;

const PATIENT_PREFIX = 'Patient/';
const RELATED_PERSON_PREFIX = 'RelatedPerson/';

// Compiling runs once per stored version, but that is the first decision of every new consent: written as plain
// loops, it costs less than parsing the consent's JSON (closures over flatMap and filter cost as much again).
const NONE: readonly never[] = Object.freeze([]);
const NO_PARTIES: PartyIds = Object.freeze({ patients: NONE, relatedPersons: NONE });

function hasCoding(codings: readonly Coding[] | undefined, wanted: { system: string; code: string }): boolean {
  if (codings !== undefined) {
    for (const c of codings) {
      if (c.system === wanted.system && c.code === wanted.code) {
        return true;
      }
    }
  }
  return false;
}

// Consents come from the store as they were recorded, not re-validated here: elements FHIR requires (scope,
// category, actor.role, actor.reference) are still read as possibly absent, and a consent lacking them never counts.
function isPrivacyConsent(consent: Consent): boolean {
  if (!hasCoding(consent.scope?.coding, PRIVACY_CONSENT_SCOPE) || consent.category === undefined) {
    return false;
  }
  for (const category of consent.category) {
    if (hasCoding(category.coding, PRIVACY_CONSENT_CATEGORY)) {
      return true;
    }
  }
  return false;
}

/** When a consent was withdrawn, as its withdrawal recorded it (`consent-withdrawn-at`); undefined when not. */
export function withdrawalRecordedAt(consent: Consent): string | undefined {
  return consent.extension?.find((e) => e.url === CONSENT_WITHDRAWN_AT_EXTENSION)?.valueDateTime;
}

/**
 * The parties (performer references) a withdrawal named (`consent-withdrawn-by`): some or all of those who gave it,
 * or someone who gave no part of it.
 */
export function withdrawnParties(consent: Consent): string[] {
  const parties: string[] = [];
  for (const e of consent.extension ?? NONE) {
    const reference = e.valueReference?.reference;
    if (e.url === CONSENT_WITHDRAWN_BY_EXTENSION && reference !== undefined) {
      parties.push(reference);
    }
  }
  return parties;
}

function partyIdsOf(references: readonly (string | undefined)[]): PartyIds {
  if (references.length === 0) {
    return NO_PARTIES;
  }
  const patients: string[] = [];
  const relatedPersons: string[] = [];
  for (const r of references) {
    if (r?.startsWith(PATIENT_PREFIX)) {
      patients.push(r.slice(PATIENT_PREFIX.length));
    } else if (r?.startsWith(RELATED_PERSON_PREFIX)) {
      relatedPersons.push(r.slice(RELATED_PERSON_PREFIX.length));
    }
  }
  return { patients, relatedPersons };
}

function performersOf(consent: Consent): PartyIds {
  const performers = consent.performer;
  if (performers === undefined || performers.length === 0) {
    return NO_PARTIES;
  }
  const references: (string | undefined)[] = [];
  for (const p of performers) {
    references.push(p.reference);
  }
  return partyIdsOf(references);
}

/** YYYY, YYYY-MM or YYYY-MM-DD: a (partial) calendar day, compared by day rather than by instant. */
function isDateOnly(value: string): boolean {
  return /^\d{4}(-\d{2}(-\d{2})?)?$/.test(value);
}

// A period given as a date is compared by Amsterdam calendar day (a consent ending "2025-06-15" still holds all of
// that day); one given as a dateTime is compared by instant. A date that cannot be read parses to NaN, which never
// compares true: it never covers the moment.
function boundOf(value: string | undefined): PeriodBound | undefined {
  if (value === undefined) {
    return undefined;
  }
  return isDateOnly(value) ? { day: value } : { ms: Date.parse(value) };
}

/** The codes of `system` among `codings`; undefined when there are no codings at all (no restriction). */
function codesOf(codings: readonly Coding[] | undefined, system: string): readonly string[] | undefined {
  if (codings === undefined || codings.length === 0) {
    return undefined;
  }
  const codes: string[] = [];
  for (const c of codings) {
    if (c.system === system && c.code !== undefined) {
      codes.push(c.code);
    }
  }
  return codes;
}

/** Municipality codes an actor list names as recipient; undefined when it names no actor (no restriction). */
function recipientsOf(p: ConsentProvision): readonly string[] | undefined {
  if (p.actor === undefined || p.actor.length === 0) {
    return undefined;
  }
  const codes: string[] = [];
  for (const a of p.actor) {
    const identifier = a.reference?.identifier;
    if (
      identifier?.system === MUNICIPALITY_CODE_SYSTEM &&
      identifier.value !== undefined &&
      hasCoding(a.role?.coding, RECIPIENT_ROLE)
    ) {
      codes.push(identifier.value);
    }
  }
  return codes;
}

function compileProvision(p: ConsentProvision): CompiledProvision {
  let provisions: readonly CompiledProvision[] = NONE;
  if (p.provision !== undefined && p.provision.length > 0) {
    const nested: CompiledProvision[] = [];
    for (const child of p.provision) {
      nested.push(compileProvision(child));
    }
    provisions = nested;
  }
  return {
    type: p.type,
    start: boundOf(p.period?.start),
    end: boundOf(p.period?.end),
    recipients: recipientsOf(p),
    purposes: codesOf(p.purpose, PURPOSE_SYSTEM),
    classes: codesOf(p.class, RESOURCE_TYPE_SYSTEM),
    partial:
      (p.code !== undefined && p.code.length > 0) ||
      (p.data !== undefined && p.data.length > 0) ||
      (p.securityLabel !== undefined && p.securityLabel.length > 0) ||
      p.dataPeriod !== undefined,
    provisions,
  };
}

function hasInstant(p: CompiledProvision): boolean {
  if ((p.start !== undefined && 'ms' in p.start) || (p.end !== undefined && 'ms' in p.end)) {
    return true;
  }
  return p.provisions.some(hasInstant);
}

/** Reads a FHIR Consent into the structure the engine compares; pure, and independent of any disclosure. */
export function compileConsent(consent: Consent): CompiledConsent {
  const status = consent.status;
  const time = consent.dateTime === undefined ? Number.NaN : Date.parse(consent.dateTime);
  const patient = consent.patient?.reference;
  const provision = consent.provision === undefined ? undefined : compileProvision(consent.provision);
  return {
    id: consent.id,
    counts:
      (status === 'active' || status === 'inactive' || status === 'entered-in-error') && isPrivacyConsent(consent),
    status,
    namesPatient: patient !== undefined,
    patientId: patient?.startsWith(PATIENT_PREFIX) ? patient.slice(PATIENT_PREFIX.length) : undefined,
    performers: performersOf(consent),
    withdrawnBy: consent.extension === undefined ? NO_PARTIES : partyIdsOf(withdrawnParties(consent)),
    time: Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time,
    provision,
    byInstant: provision !== undefined && hasInstant(provision),
    held: undefined,
  };
}
