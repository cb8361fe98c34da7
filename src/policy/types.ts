import type { Consent } from '@medplum/fhirtypes';
import type { Agreement, LegalBasis } from './agreement';
import type { CompiledConsent } from './compiled-consent';
import type { DataClass, Purpose, SharingDirection } from '../contracts/sharing';

/** One question to the policy engine: may this practice disclose these data classes to this municipality now? */
export interface DecisionRequest {
  readonly practiceAgb: string;
  /** CBS code of the receiving municipality, written `GM0226`. */
  readonly municipalityCode: string;
  readonly purpose: Purpose;
  readonly dataClasses: readonly DataClass[];
  /** The moment of disclosure; calendar days are taken in Europe/Amsterdam. */
  readonly at: Date;
  /** Which way the data goes, and so which of the agreement's allow-lists applies; default to-municipality. */
  readonly direction?: SharingDirection | undefined;
  /** On the cancellation of a referral: what became of the referral it cancels at this municipality. */
  readonly cancels?: CancelledReferral | undefined;
}

/**
 * The referral a cancellation withdraws, as far as this municipality is concerned. `disclosed`: sent to it (or on
 * its way: the deliver stage waits for that send to end). `not-disclosed`: jeugdbrug received the referral but never
 * sent it there. `unknown`: jeugdbrug never received it (sent before it was in use, or through another channel), so
 * whether the municipality holds it cannot be told.
 */
export interface CancelledReferral {
  readonly referralId: string;
  readonly at: 'disclosed' | 'not-disclosed' | 'unknown';
}

/** A guardian of the child; only one holding parental authority (gezag) speaks for the child. */
export interface GuardianFact {
  readonly relatedPersonId: string;
  readonly hasAuthority: boolean;
  /** The practice's own id of this guardian, as the HIS sent it: what a reason names so the practice can act. */
  readonly hisId?: string | undefined;
  /** A code of GUARDIAN_RELATIONSHIP_SYSTEM (`mother`, `father`, ...). */
  readonly relationship?: string | undefined;
}

/** A person a reason is about: the FHIR reference, and the practice's own id and relationship where known. */
export interface PersonRef {
  readonly role: 'child' | 'guardian';
  /**
   * `Patient/{id}` or `RelatedPerson/{id}`; absent for a child `$explain` describes by BSN when no consent on record
   * names its Patient id.
   */
  readonly reference?: string | undefined;
  readonly hisId?: string | undefined;
  readonly relationship?: string | undefined;
  readonly hasAuthority?: boolean | undefined;
}

/**
 * Everything the engine may know about the child, loaded by the caller. Consents come as FHIR (compiled for the one
 * decision), or compiled once per stored version as the pipeline hands them (consent-cache.ts).
 */
export interface DecisionFacts<C extends Consent | CompiledConsent = Consent> {
  /** Candidate agreements; may include other practices, other municipalities, other versions, expired ones. */
  readonly agreements: readonly Agreement[];
  /** Every consent known for this child, in any status. */
  readonly consents: readonly C[];
  /** The FHIR Patient id and birth date (YYYY-MM-DD) of the child, and the practice's own id of the child. */
  readonly patient: {
    readonly id: string;
    readonly birthDate?: string | undefined;
    readonly hisId?: string | undefined;
  };
  readonly guardians: readonly GuardianFact[];
}

/** Why a disclosure is denied. Ordered roughly from "nothing to go on" to "almost". */
export const DENY_REASON_CODES = [
  'no-agreement',
  'agreement-not-active',
  'agreement-not-yet-valid',
  'agreement-expired',
  'purpose-not-covered',
  'class-not-covered',
  'birth-date-unknown',
  /** A cancellation of a referral jeugdbrug received but never sent to this municipality: nothing to cancel there. */
  'referral-not-disclosed',
  /** A cancellation of a referral jeugdbrug never received, judged (and here denied) as a disclosure of its own. */
  'referral-unknown',
  'no-guardian-with-authority',
  'consent-missing-child',
  'consent-missing-guardian',
  'consent-withdrawn',
  'consent-denied',
  'consent-expired',
  'consent-not-yet-valid',
  'actor-not-covered',
  /** A consent of the right person names other purposes (the agreement's own mismatch is `purpose-not-covered`). */
  'consent-purpose-not-covered',
  /** A consent of the right person names other data classes (the agreement's own is `class-not-covered`). */
  'consent-class-not-covered',
] as const;
export type DenyReasonCode = (typeof DENY_REASON_CODES)[number];

/**
 * `permitted-as-cancellation`: the cancellation of a referral the municipality received under the agreement. It
 * discloses nothing new and withdrawing is what the family would want, so it needs no consent decision of its own.
 * `permitted-as-referral-status`: a municipality's status on a referral, going back to the practice that sent it,
 * under the agreement the referral went to the municipality under (`decideReferralStatus`).
 */
const PERMIT_REASON_CODES = [
  'permitted-by-consent',
  'permitted-by-legal-basis',
  'permitted-as-cancellation',
  'permitted-as-referral-status',
] as const;
export type PermitReasonCode = (typeof PERMIT_REASON_CODES)[number];

export const DECISION_REASON_CODES = [...DENY_REASON_CODES, ...PERMIT_REASON_CODES] as const;
export type DecisionReasonCode = DenyReasonCode | PermitReasonCode;

export interface DecisionReason {
  readonly code: DecisionReasonCode;
  /** For people and auditors. Ids and codes only, never personal data (no names, BSNs, birth dates or ages). */
  readonly detail: string;
  /** Whom the reason is about (the person whose consent is lacking, or those who consented), by the HIS's ids. */
  readonly people?: readonly PersonRef[];
  /** On a missing consent: the consents of this person that were voided as recorded in error (entered-in-error). */
  readonly recordedInError?: readonly string[];
}

/** The agreement a decision was taken under, by id and version. */
export interface AgreementRef {
  readonly id: string;
  readonly version: number;
}

/** What a permit obliges the sender to: per requested data class, the top-level elements that may leave. */
export interface DecisionObligations {
  /** Per requested data class, the top-level elements that may leave; empty on deny. */
  readonly allowedFields: Readonly<Partial<Record<DataClass, readonly string[]>>>;
}

/**
 * The engine's answer. Read-only: the parts that follow from the agreement alone (`agreement`, `obligations`) are
 * made once per agreement and shared, frozen, by every decision under it, so a caller that needs to change one
 * copies it first.
 */
export interface Decision {
  readonly effect: 'permit' | 'deny';
  readonly reasons: readonly DecisionReason[];
  /** The agreement the decision was taken under; absent when no agreement fitted. */
  readonly agreement?: AgreementRef;
  readonly legalBasis?: LegalBasis;
  /** Ids (without `Consent/`) of the consents the decision rests on: the permits, the objections, or the misses. */
  readonly consentIds: readonly string[];
  /**
   * The version (`meta.versionId`, migration 087) of each consent the decision rests on (`consentIds`), by id: set by
   * the caller that read them from the registry (event/decide.ts `citedVersions`), so the audit cites
   * `Consent/<id>/_history/<version>`. The engine itself never sees versions.
   */
  readonly consentVersions?: ConsentVersions;
  readonly obligations: DecisionObligations;
}

/** Consent id → the version of it a decision read. */
export type ConsentVersions = Readonly<Record<string, number>>;
