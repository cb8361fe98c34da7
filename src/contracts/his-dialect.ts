import type { Identifier, Resource } from '@medplum/fhirtypes';

/**
 * The contract between the pipeline and the HIS dialects under `mappings/his/`. A dialect turns a request body
 * into records and each record into one CanonicalEvent; after that nothing can tell the dialects apart.
 */

export const HIS_EVENT_TYPES = [
  'contact.recorded',
  'referral.created',
  'referral.cancelled',
  'consent.recorded',
  'consent.withdrawn',
  /** A consent recorded by mistake: voided, it never counted (decisions say "recorded in error", not "withdrawn"). */
  'consent.entered-in-error',
  'trajectory.closed',
] as const;
export type HisEventType = (typeof HIS_EVENT_TYPES)[number];

/** One record cut from a request body, not yet validated. */
export interface RawRecord {
  readonly value: unknown;
  /**
   * Where the record stood in the body, used as the prefix of every `issue.expression`: `''` for a single JSON
   * event, `'[3]'` for the fourth of an array, `'row 5'` for a CSV line, `'Bundle.entry[2]'`, ...
   */
  readonly location: string;
}

/** What every dialect produces for one HIS event. All codes and identifier systems are already canonical. */
export interface CanonicalEvent {
  readonly eventType: HisEventType;
  /** The HIS's own id of this event: `(practice, sourceEventId)` is unique, a second submission is a duplicate. */
  readonly sourceEventId: string;
  readonly occurredAt: string;
  readonly practice: { readonly agb: string; readonly ura?: string | undefined };
  /** CBS code (GM0226) of the municipality responsible for the child (woonplaatsbeginsel). */
  readonly municipalityCode: string;
  /** `hisId`: the practice's own id of the child as sent (absent in events stored before it was kept). */
  readonly patient: { readonly bsn: string; readonly birthDate: string; readonly hisId?: string | undefined };
  /**
   * Parents/guardians: whether each holds parental authority decides whose consent counts. `hisId` and
   * `relationship` are the practice's own id and the relationship code as sent, so that a decision can name the
   * guardian in the practice's terms ("guardian g2 (father, has authority)").
   */
  readonly guardians: readonly {
    readonly relatedPersonId: string;
    readonly bsn?: string | undefined;
    readonly hasAuthority: boolean;
    readonly hisId?: string | undefined;
    readonly relationship?: string | undefined;
  }[];
  /** FHIR R4 resources with deterministic ids (same practice and source record → same id). */
  readonly resources: readonly Resource[];
}

export interface HisDialect {
  /** URL-safe name: `generic-json`, `fhir-bundle`, `csv`. */
  readonly name: string;
  /** Media types this dialect accepts (`application/json`, `text/csv`, ...). */
  readonly contentTypes: readonly string[];
  /** For dialects sharing a media type: whether this parsed body is theirs. */
  claims(body: unknown): boolean;
  /** Cuts a body into records. Throws a 400 OperationOutcomeError when the body as a whole is unusable. */
  split(body: unknown): RawRecord[];
  /**
   * Validates and maps one record. Pure and deterministic. Throws an OperationOutcomeError (422 for broken rules,
   * 400 for a wrong shape) whose `issue.expression` names the field, prefixed by the record's location.
   */
  map(record: RawRecord): CanonicalEvent;
  /**
   * The JSON Schema served at `GET /his/v1/schema/{name}`: of a request body for a JSON dialect (one record or an
   * array of them), of one row for CSV. Generated from the zod schema `map` validates with, so the two agree.
   */
  jsonSchema(): unknown;
  /**
   * How the HIS itself addresses the referral a record carries, when its records say so (a FHIR HIS sends its
   * ServiceRequest's own id and identifiers): what a status update sent back to it must name. Absent for dialects
   * whose records carry no resource of the HIS's own; they are addressed by `urn:agb:<agb>:referral|<id>`.
   */
  referralAddressOf?(record: RawRecord): HisReferralAddress | undefined;
  /**
   * The HIS's own event id a record states, read without validating the record: the receipt of a record `map`
   * rejects names it, so the HIS finds its record by its id, not only by its place. Absent: a top-level `eventId`.
   */
  eventIdOf?(record: RawRecord): string | undefined;
  /**
   * Where a record holds the id of the consent it records or withdraws, as an `issue.expression` with the record's
   * location (`Bundle.entry[2].resource.id`): a warning about that consent names it. Absent: `consent.id`.
   */
  consentIdExpressionOf?(record: RawRecord): string;
}

/** The HIS's own address of its ServiceRequest: its resource id and/or the identifiers it gave it. */
export interface HisReferralAddress {
  /** `ServiceRequest/<id>` at the HIS's FHIR base. */
  readonly id?: string | undefined;
  /** The identifiers the HIS put in `ServiceRequest.identifier` (with system and value), in its order. */
  readonly identifiers: readonly Identifier[];
}
