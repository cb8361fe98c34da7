/**
 * The one internal model every HIS dialect parses into, already validated and with codes checked against the
 * terminology tables. One set of builders turns it into FHIR, so the dialects cannot drift apart: a contact
 * from a CSV row and the same contact as generic JSON give the same CanonicalEvent.
 */

export interface PracticeData {
  readonly agb: string;
  readonly ura?: string | undefined;
}

/** The professional in the practice who acted. */
export interface ProfessionalData {
  readonly agb?: string | undefined;
  /** A code of PROFESSIONAL_ROLE_SYSTEM; absent when a dialect cannot say (a FHIR Bundle without it). */
  readonly role?: string | undefined;
  readonly name?: string | undefined;
}

/** A person name, only the parts given. */
export interface NameData {
  readonly given?: readonly string[] | undefined;
  readonly family?: string | undefined;
}

/** The child, who becomes the Patient. */
export interface ChildData {
  /** The practice's own id of the child: the source of the Patient's deterministic id. */
  readonly id: string;
  readonly bsn: string;
  readonly birthDate: string;
  /** CBS code `GM0226` of the municipality of residence. */
  readonly municipality: string;
  readonly name?: NameData | undefined;
}

/** A parent or guardian, who becomes a RelatedPerson. */
export interface GuardianData {
  /** The practice's own id of this parent/guardian: the source of the RelatedPerson's deterministic id. */
  readonly id: string;
  readonly bsn?: string | undefined;
  readonly name?: NameData | undefined;
  /** A code of GUARDIAN_RELATIONSHIP_SYSTEM. */
  readonly relationship: string;
  readonly hasAuthority: boolean;
}

/** A trajectory (the HIS episode of one help question), which becomes the EpisodeOfCare. */
export interface TrajectoryData {
  readonly id: string;
  readonly startDate: string;
  /** ICPC-1NL code of the HIS episode, when the dialect has one; the source of Encounter.reasonCode. */
  readonly icpc?: string | undefined;
  /** A code of HELP_QUESTION_CATEGORY_SYSTEM, given or derived from the ICPC code. */
  readonly helpQuestion: string;
  /** Further help-question categories of the same trajectory (the reports count several per trajectory). */
  readonly moreHelpQuestions?: readonly string[] | undefined;
  /** COD327: who referred the child to the youth professional. */
  readonly referrerType?: string | undefined;
  /** Who referred, finer than COD327 (REFERRER_SUBTYPE_SYSTEM); implies the COD327 code when that is not given. */
  readonly referrerSubtype?: string | undefined;
  /** Set together when the trajectory has ended. */
  readonly closedOn?: string | undefined;
  /** A code of TRAJECTORY_OUTCOME_SYSTEM. */
  readonly outcome?: string | undefined;
}

/** One contact with the professional, which becomes an Encounter. */
export interface ContactData {
  readonly id: string;
  readonly start: string;
  readonly durationMinutes: number;
  /** NHG Tabel 14 contact mode. */
  readonly mode: string;
  /** Codes of INTERVENTION_SYSTEM. */
  readonly interventions: readonly string[];
}

/** A referral (opschaling), which becomes a ServiceRequest. */
export interface ReferralData {
  readonly id: string;
  /** Codes of REFERRAL_TARGET_SYSTEM, JZ020 and COD327: required when created, optional when cancelled. */
  readonly target?: string | undefined;
  readonly productCategory?: string | undefined;
  readonly referrerType?: string | undefined;
  readonly authoredOn?: string | undefined;
  readonly reasonText?: string | undefined;
  readonly icpc?: string | undefined;
  /**
   * The HIS's own business identifiers of the referral (a FHIR HIS's `ServiceRequest.identifier`), forwarded after
   * `urn:agb:<agb>:referral|<id>`, which stays the one the referral is addressed by. Absent in the other dialects.
   */
  readonly hisIdentifiers?: readonly { readonly system: string; readonly value: string }[] | undefined;
}

/** Who gave (or withdrew) a consent: the child, or one of the event's guardians by their id. */
export type ConsentParty = { readonly kind: 'child' } | { readonly kind: 'guardian'; readonly guardianId: string };

/** One permit or deny rule of a consent: the main provision or a nested exception. */
export interface ConsentRuleData {
  readonly decision: 'permit' | 'deny';
  readonly purposes: readonly string[];
  readonly dataClasses: readonly string[];
  readonly period?: { readonly start: string; readonly end?: string | undefined } | undefined;
}

/** A recorded consent or objection, which becomes an active Consent. */
export interface ConsentRecordedData extends ConsentRuleData {
  readonly id: string;
  readonly dateTime: string;
  readonly givenBy: readonly ConsentParty[];
  readonly recipient: { readonly municipality: string; readonly name?: string | undefined };
  readonly period: { readonly start: string; readonly end?: string | undefined };
  /** Nested exceptions to the main rule (Consent.provision.provision). */
  readonly exceptions: readonly ConsentRuleData[];
}

/** A withdrawal, which turns the recorded Consent inactive. */
export interface ConsentWithdrawnData {
  /** The source id of the consent being withdrawn: same id, so it supersedes in place. */
  readonly id: string;
  readonly dateTime: string;
  /** Whether the withdrawn consent was a permit or an objection (deny); permit when the HIS does not say. */
  readonly decision: 'permit' | 'deny';
  readonly withdrawnBy: readonly ConsentParty[];
}

/** A consent recorded by mistake, which turns the recorded Consent entered-in-error: it never counted. */
export interface ConsentEnteredInErrorData {
  /** The source id of the consent recorded by mistake. */
  readonly id: string;
  readonly dateTime: string;
}

interface EventBase {
  readonly eventId: string;
  readonly occurredAt: string;
  readonly practice: PracticeData;
  readonly professional?: ProfessionalData | undefined;
  readonly child: ChildData;
  readonly guardians: readonly GuardianData[];
}

/** One HIS event in the internal model, by event type. */
export type HisEvent =
  | (EventBase & {
      readonly eventType: 'contact.recorded';
      readonly trajectory: TrajectoryData;
      readonly contact: ContactData;
    })
  | (EventBase & { readonly eventType: 'trajectory.closed'; readonly trajectory: TrajectoryData })
  | (EventBase & { readonly eventType: 'referral.created' | 'referral.cancelled'; readonly referral: ReferralData })
  | (EventBase & { readonly eventType: 'consent.recorded'; readonly consent: ConsentRecordedData })
  | (EventBase & { readonly eventType: 'consent.withdrawn'; readonly consent: ConsentWithdrawnData })
  | (EventBase & { readonly eventType: 'consent.entered-in-error'; readonly consent: ConsentEnteredInErrorData });
