import { z } from 'zod';
import {
  COD327_SYSTEM,
  ICPC_SYSTEM,
  JZ020_SYSTEM,
  NHG_TABLE_14_SYSTEM,
  PURPOSE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import {
  GUARDIAN_RELATIONSHIP_SYSTEM,
  HELP_QUESTION_CATEGORY_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  INTERVENTION_SYSTEM,
  PROFESSIONAL_ROLE_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
} from '../../../src/kernel/fhir/terminology';
import { DATA_CLASSES } from '../../../src/contracts/sharing';
import {
  agb,
  bsn,
  pastDateTime,
  humanName,
  isoDate,
  municipalityCode,
  pastDate,
  sourceId,
  tableEnum,
  text,
  ura,
} from '../../../src/kernel/fhir/fields';

/**
 * The generic HIS JSON event (dialect `generic-json`), one schema per event type, told apart by `eventType`.
 * Codes are checked against the terminology tables. Documented in ./README.md.
 */

const humanNameSchema = humanName;

/** The child. */
const childSchema = z
  .object({
    id: sourceId,
    bsn,
    birthDate: pastDate,
    municipality: municipalityCode,
    name: humanNameSchema.optional(),
  })
  .strict();

/** A parent or guardian, with whether they hold parental authority. */
const guardianSchema = z
  .object({
    id: sourceId,
    bsn: bsn.optional(),
    name: humanNameSchema.optional(),
    relationship: tableEnum(GUARDIAN_RELATIONSHIP_SYSTEM, 'relationship'),
    hasAuthority: z.boolean(),
  })
  .strict();

const practiceSchema = z.object({ agb, ura: ura.optional(), name: text(200).optional() }).strict();

const professionalSchema = z
  .object({
    agb: agb.optional(),
    role: tableEnum(PROFESSIONAL_ROLE_SYSTEM, 'professional role'),
    name: text(200).optional(),
  })
  .strict();

const icpc = tableEnum(ICPC_SYSTEM, 'ICPC-1NL code');

/** The referral of `referral.created`; these fields are the ones it always had, `icpc` is new. */
const referralSchema = z
  .object({
    id: sourceId,
    target: tableEnum(REFERRAL_TARGET_SYSTEM, 'referral target'),
    productCategory: tableEnum(JZ020_SYSTEM, 'JZ020 product category'),
    referrerType: tableEnum(COD327_SYSTEM, 'COD327 referrer type'),
    authoredOn: pastDateTime,
    reasonText: text(2000).optional(),
    icpc: icpc.optional(),
  })
  .strict();

/** A cancellation names the referral; the other fields are optional and, when given, kept on the revoked request. */
const cancelledReferralSchema = referralSchema.partial().required({ id: true }).strict();

const trajectoryFields = {
  id: sourceId,
  startDate: pastDate,
  icpc,
  /** Overrides the category the ICPC code implies (divorce, for one, has no ICPC code of its own). */
  helpQuestion: tableEnum(HELP_QUESTION_CATEGORY_SYSTEM, 'help-question category').optional(),
  /** Further help questions of the same trajectory. */
  moreHelpQuestions: z.array(tableEnum(HELP_QUESTION_CATEGORY_SYSTEM, 'help-question category')).max(10).optional(),
  referrerType: tableEnum(COD327_SYSTEM, 'COD327 referrer type').optional(),
  referrerSubtype: tableEnum(REFERRER_SUBTYPE_SYSTEM, 'referrer sub-type').optional(),
  closedOn: pastDate,
  outcome: tableEnum(TRAJECTORY_OUTCOME_SYSTEM, 'trajectory outcome'),
};

/** The trajectory a contact belongs to; a contact can close it at once (closedOn and outcome together). */
const trajectorySchema = z
  .object({
    ...trajectoryFields,
    closedOn: trajectoryFields.closedOn.optional(),
    outcome: trajectoryFields.outcome.optional(),
  })
  .strict();

/** The trajectory of `trajectory.closed`: closedOn and outcome required. */
const closedTrajectorySchema = z.object(trajectoryFields).strict();

/** The contact of `contact.recorded`. */
const contactSchema = z
  .object({
    id: sourceId,
    start: pastDateTime,
    durationMinutes: z.number().int().min(1).max(480),
    mode: tableEnum(NHG_TABLE_14_SYSTEM, 'NHG Tabel 14 contact mode'),
    interventions: z.array(tableEnum(INTERVENTION_SYSTEM, 'intervention')).max(10).default([]),
  })
  .strict();

const decision = z.enum(['permit', 'deny']);
const purposes = z.array(tableEnum(PURPOSE_SYSTEM, 'purpose')).min(1).max(10);
const dataClasses = z.array(z.enum(DATA_CLASSES)).min(1).max(10);
const periodSchema = z.object({ start: isoDate, end: isoDate.optional() }).strict();

/** Who gave or withdrew a consent: the child, or a guardian of the event by id. */
const consentPartySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('child') }).strict(),
  z.object({ kind: z.literal('guardian'), guardianId: sourceId }).strict(),
]);

/** The consent (or objection) of `consent.recorded`. */
const consentSchema = z
  .object({
    id: sourceId,
    recordedAt: pastDateTime,
    decision,
    givenBy: z.array(consentPartySchema).min(1).max(5),
    recipient: z.object({ municipality: municipalityCode, name: text(200).optional() }).strict(),
    purposes,
    dataClasses,
    period: periodSchema,
    exceptions: z
      .array(
        z
          .object({
            decision,
            purposes: purposes.optional(),
            dataClasses: dataClasses.optional(),
            period: periodSchema.optional(),
          })
          .strict(),
      )
      .max(10)
      .default([]),
  })
  .strict();

/** The withdrawal of `consent.withdrawn`, naming the recorded consent by its id. */
const consentWithdrawalSchema = z
  .object({
    id: sourceId,
    withdrawnAt: pastDateTime,
    /** Whether the consent withdrawn was a permit or an objection; permit when not given. */
    decision: decision.optional(),
    withdrawnBy: z.array(consentPartySchema).max(5).default([]),
  })
  .strict();

/** The voiding of `consent.entered-in-error`: a consent recorded by mistake, named by its id. */
const consentEnteredInErrorSchema = z
  .object({
    id: sourceId,
    enteredInErrorAt: pastDateTime,
  })
  .strict();

const base = {
  eventId: sourceId,
  occurredAt: pastDateTime,
  practice: practiceSchema,
  professional: professionalSchema.optional(),
  child: childSchema,
  guardians: z.array(guardianSchema).max(10).default([]),
};

/** One generic HIS event, told apart by `eventType`. */
export const genericEventSchema = z.discriminatedUnion('eventType', [
  z
    .object({
      ...base,
      eventType: z.literal('contact.recorded'),
      professional: professionalSchema,
      trajectory: trajectorySchema,
      contact: contactSchema,
    })
    .strict(),
  z.object({ ...base, eventType: z.literal('trajectory.closed'), trajectory: closedTrajectorySchema }).strict(),
  z
    .object({
      ...base,
      eventType: z.literal('referral.created'),
      professional: professionalSchema,
      referral: referralSchema,
    })
    .strict(),
  z.object({ ...base, eventType: z.literal('referral.cancelled'), referral: cancelledReferralSchema }).strict(),
  z.object({ ...base, eventType: z.literal('consent.recorded'), consent: consentSchema }).strict(),
  z.object({ ...base, eventType: z.literal('consent.withdrawn'), consent: consentWithdrawalSchema }).strict(),
  z
    .object({ ...base, eventType: z.literal('consent.entered-in-error'), consent: consentEnteredInErrorSchema })
    .strict(),
]);

/** A parsed generic event. */
export type GenericEvent = z.infer<typeof genericEventSchema>;
