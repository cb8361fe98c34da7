import type { Consent, ConsentProvision } from '@medplum/fhirtypes';
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
 * A FHIR Consent read once into the flat shape the engine asks questions of: codes filtered to the systems that
 * count, period bounds split into calendar days and instants, the consent's time parsed. The engine then decides
 * with comparisons only, without walking codings, parsing dates or allocating per decision. A Consent is a value:
 * the compiled form is kept per object (WeakMap) and shared by every decision that sees the same object.
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
  /** Consent.dateTime in epoch ms; a consent without a readable one counts as the oldest. */
  readonly time: number;
  /** The root provision; undefined when absent or without a type (it cannot be acted on). */
  readonly root: CompiledRule | undefined;
}

function bound(value: string | undefined): CompiledBound | undefined {
  if (value === undefined) {
    return undefined;
  }
  // A date that cannot be read parses to NaN, which never compares true: it never covers the moment.
  return DATE_ONLY.test(value) ? { kind: 'day', day: value } : { kind: 'instant', ms: Date.parse(value) };
}

function compileRule(p: ConsentProvision): CompiledRule {
  const recipients =
    p.actor !== undefined && p.actor.length > 0
      ? p.actor
          .filter(
            (a) =>
              a.reference?.identifier?.system === MUNICIPALITY_CODE_SYSTEM &&
              a.role?.coding?.some((c) => c.system === PARTICIPATION_TYPE_SYSTEM && c.code === RECIPIENT_ROLE) === true,
          )
          .flatMap((a) => (a.reference?.identifier?.value === undefined ? [] : [a.reference.identifier.value]))
      : undefined;
  const purposes =
    p.purpose !== undefined && p.purpose.length > 0
      ? p.purpose.filter((c) => c.system === PURPOSE_SYSTEM && c.code !== undefined).map((c) => c.code ?? '')
      : undefined;
  const classes =
    p.class !== undefined && p.class.length > 0
      ? p.class.filter((c) => c.system === RESOURCE_TYPE_SYSTEM && c.code !== undefined).map((c) => c.code ?? '')
      : undefined;
  return {
    type: p.type,
    start: bound(p.period?.start),
    end: bound(p.period?.end),
    recipients,
    purposes,
    classes,
    partial:
      (p.code !== undefined && p.code.length > 0) ||
      (p.data !== undefined && p.data.length > 0) ||
      (p.securityLabel !== undefined && p.securityLabel.length > 0) ||
      p.dataPeriod !== undefined,
    children: (p.provision ?? []).map(compileRule),
  };
}

// Consents come from the store as they were recorded, not re-validated here: elements FHIR requires (scope,
// category, actor.role, actor.reference) are still read as possibly absent, and a consent lacking them never counts.
function isPrivacyConsent(consent: Consent): boolean {
  return (
    consent.scope?.coding?.some((c) => c.system === CONSENT_SCOPE_SYSTEM && c.code === PATIENT_PRIVACY) === true &&
    consent.category?.some(
      (cc) => cc.coding?.some((c) => c.system === LOINC_SYSTEM && c.code === CONSENT_CATEGORY_CODE) === true,
    ) === true
  );
}

const compiled = new WeakMap<Consent, CompiledConsent>();

/** The compiled form of a consent, made on first use and kept as long as the consent object lives. */
export function compileConsent(consent: Consent): CompiledConsent {
  let c = compiled.get(consent);
  if (c === undefined) {
    const time = consent.dateTime === undefined ? Number.NaN : Date.parse(consent.dateTime);
    const performers: string[] = [];
    for (const p of consent.performer ?? []) {
      if (p.reference !== undefined) {
        performers.push(p.reference);
      }
    }
    c = {
      consent,
      id: consent.id,
      status: consent.status,
      isPrivacy: isPrivacyConsent(consent),
      patientReference: consent.patient?.reference,
      performers,
      time: Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time,
      root: consent.provision?.type === undefined ? undefined : compileRule(consent.provision),
    };
    compiled.set(consent, c);
  }
  return c;
}
