import type { Coding, Consent, ConsentProvision, ConsentProvisionActor } from '@medplum/fhirtypes';
import { MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../kernel/fhir/systems';

/**
 * A FHIR Consent read into the flat shape the engine asks questions of: codes filtered to the systems that count,
 * period bounds split into calendar days and instants. The engine then decides with comparisons only, without
 * walking codings or parsing dates per class. Consents are loaded from the store for each event, so each object
 * meets one decision: it is compiled per decision, with loops rather than closures, and nothing is cached per
 * object (a WeakMap entry for each new consent cost more than compiling it).
 */

const PATIENT_PRIVACY = 'patient-privacy';
const RECIPIENT_ROLE = 'IRCP';
const DATE_ONLY = /^\d{4}(-\d{2}(-\d{2})?)?$/;

/** One bound of a period: a (partial) calendar day compared by day, or an instant compared in epoch ms. */
export type CompiledBound =
  { readonly kind: 'day'; readonly day: string } | { readonly kind: 'instant'; readonly ms: number };

/** One provision (rule) of a consent, nested rules included. */
export interface CompiledRule {
  /** As written; a nested rule without a type keeps its parent's. */
  readonly type: 'permit' | 'deny' | undefined;
  readonly start: CompiledBound | undefined;
  readonly end: CompiledBound | undefined;
  /** Municipality codes named as recipient (IRCP); undefined when the rule names no actor at all. */
  readonly recipients: readonly string[] | undefined;
  /** Purpose codes in our purpose system; undefined when the rule names no purpose. */
  readonly purposes: readonly string[] | undefined;
  /** Resource-type codes in the class system; undefined when the rule names no class (every class). */
  readonly classes: readonly string[] | undefined;
  /** Restrictions the engine does not evaluate (codes, data, security labels, data period): only part of a class. */
  readonly partial: boolean;
  readonly children: readonly CompiledRule[];
}

export interface CompiledConsent {
  readonly consent: Consent;
  readonly id: string | undefined;
  readonly status: Consent['status'];
  /** Scope patient-privacy and category LOINC 59284-0: only such consents count. */
  readonly isPrivacy: boolean;
  readonly patientReference: string | undefined;
  readonly performers: readonly string[];
  /** The root provision; undefined when absent or without a type (it cannot be acted on). */
  readonly root: CompiledRule | undefined;
  /** Consent.dateTime in epoch ms, parsed on first use by consentTime: most decisions never compare two consents. */
  timeMs: number | undefined;
}

const NO_RULES: readonly CompiledRule[] = [];

function bound(value: string | undefined): CompiledBound | undefined {
  if (value === undefined) {
    return undefined;
  }
  // A date that cannot be read parses to NaN, which never compares true: it never covers the moment.
  return DATE_ONLY.test(value) ? { kind: 'day', day: value } : { kind: 'instant', ms: Date.parse(value) };
}

function hasCoding(codings: readonly Coding[] | undefined, system: string, code: string): boolean {
  if (codings !== undefined) {
    for (const c of codings) {
      if (c.system === system && c.code === code) {
        return true;
      }
    }
  }
  return false;
}

/** The codes in `system`; undefined when the rule names none at all (then it does not restrict). */
function codesIn(codings: readonly Coding[] | undefined, system: string): string[] | undefined {
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

/** Municipality codes named as recipient (IRCP); undefined when the rule names no actor at all. */
function recipientsOf(actors: readonly ConsentProvisionActor[] | undefined): string[] | undefined {
  if (actors === undefined || actors.length === 0) {
    return undefined;
  }
  const codes: string[] = [];
  for (const a of actors) {
    const identifier = a.reference?.identifier;
    if (
      identifier?.system === MUNICIPALITY_CODE_SYSTEM &&
      hasCoding(a.role?.coding, PARTICIPATION_TYPE_SYSTEM, RECIPIENT_ROLE) &&
      identifier.value !== undefined
    ) {
      codes.push(identifier.value);
    }
  }
  return codes;
}

function compileRule(p: ConsentProvision): CompiledRule {
  let children = NO_RULES;
  if (p.provision !== undefined && p.provision.length > 0) {
    const nested: CompiledRule[] = [];
    for (const child of p.provision) {
      nested.push(compileRule(child));
    }
    children = nested;
  }
  return {
    type: p.type,
    start: bound(p.period?.start),
    end: bound(p.period?.end),
    recipients: recipientsOf(p.actor),
    purposes: codesIn(p.purpose, PURPOSE_SYSTEM),
    classes: codesIn(p.class, RESOURCE_TYPE_SYSTEM),
    partial:
      (p.code !== undefined && p.code.length > 0) ||
      (p.data !== undefined && p.data.length > 0) ||
      (p.securityLabel !== undefined && p.securityLabel.length > 0) ||
      p.dataPeriod !== undefined,
    children,
  };
}

// Consents come from the store as they were recorded, not re-validated here: elements FHIR requires (scope,
// category, actor.role, actor.reference) are still read as possibly absent, and a consent lacking them never counts.
function isPrivacyConsent(consent: Consent): boolean {
  if (!hasCoding(consent.scope?.coding, CONSENT_SCOPE_SYSTEM, PATIENT_PRIVACY) || consent.category === undefined) {
    return false;
  }
  for (const category of consent.category) {
    if (hasCoding(category.coding, LOINC_SYSTEM, CONSENT_CATEGORY_CODE)) {
      return true;
    }
  }
  return false;
}

/** The compiled form of a consent. */
export function compileConsent(consent: Consent): CompiledConsent {
  const performers: string[] = [];
  if (consent.performer !== undefined) {
    for (const p of consent.performer) {
      if (p.reference !== undefined) {
        performers.push(p.reference);
      }
    }
  }
  return {
    consent,
    id: consent.id,
    status: consent.status,
    isPrivacy: isPrivacyConsent(consent),
    patientReference: consent.patient?.reference,
    performers,
    root: consent.provision?.type === undefined ? undefined : compileRule(consent.provision),
    timeMs: undefined,
  };
}

/** Consent.dateTime in epoch ms; a consent without a readable one counts as the oldest. */
export function consentTime(c: CompiledConsent): number {
  if (c.timeMs === undefined) {
    const time = c.consent.dateTime === undefined ? Number.NaN : Date.parse(c.consent.dateTime);
    c.timeMs = Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time;
  }
  return c.timeMs;
}
