import type {
  CodeableConcept,
  Identifier,
  Organization,
  Reference,
  ServiceRequest,
  Task,
  TaskOutput,
} from '@medplum/fhirtypes';
import { agbIdentifier, bsnIdentifier, municipalityIdentifier } from '../../src/kernel/fhir/identifiers';
import { JZ020_SYSTEM } from '../../src/kernel/fhir/systems';
import {
  getCoding,
  REFERRAL_ALLOCATION_SYSTEM,
  REFERRAL_REJECTION_REASON_SYSTEM,
  REFERRAL_STATUS_SYSTEM,
  tryGetConcept,
  tryTranslate,
} from '../../src/kernel/fhir/terminology';
import type { HisReferralAddress } from '../../src/contracts/his-dialect';
import type { ReferralStatus } from './referral-status';

/**
 * The mapping of a municipality's status update on a referral ("feedback") into what goes back to the practice:
 * the new ServiceRequest status and a FHIR Task that says what happened, by whom, and (when allocated) to which
 * provider, in which product category, from which date. Pure.
 */

/** Ours: the kinds of detail in Task.output (the status's day, decision, allocation, start and end of care). */
export const ALLOCATION_OUTPUT_SYSTEM = REFERRAL_ALLOCATION_SYSTEM;
/** Ours: the id of a status update; also the Task's id. */
export const FEEDBACK_ID_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/feedback';
/** A municipality's decision (beschikking) number; the municipality that issued it is the Task's requester. */
const DECISION_NUMBER_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/beschikking';
const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';
const TASK_STATUS_SYSTEM = 'http://hl7.org/fhir/task-status';
const REQUEST_STATUS_SYSTEM = 'http://hl7.org/fhir/request-status';

export { REFERRAL_STATUS_SYSTEM, type ReferralStatus };

/** The municipality's decision (beschikking). */
export interface Decision {
  readonly number: string;
  /** The day it was issued (YYYY-MM-DD). */
  readonly date: string;
  /** JZ020 product category. */
  readonly productCategory: string;
  readonly period: { readonly start: string; readonly end?: string | undefined };
}

export interface StatusUpdate {
  readonly status: ReferralStatus;
  readonly reason?: string | undefined;
  /** Why it was rejected, a code of referral-rejection-reason. */
  readonly reasonCode?: string | undefined;
  /** JZ020 code of what was allocated. */
  readonly productCategory?: string | undefined;
  readonly provider?: { readonly agb?: string | undefined; readonly name?: string | undefined } | undefined;
  /** Start of care (care-started, allocated). */
  readonly startDate?: string | undefined;
  /** End of care (care-ended). */
  readonly endDate?: string | undefined;
  readonly decision?: Decision | undefined;
  /** The day the status took effect, when none of the dates above says it (YYYY-MM-DD). */
  readonly date?: string | undefined;
}

/** The day a status took effect: the date its own details give, else the one given, else undefined. */
export function statusDateOf(update: StatusUpdate): string | undefined {
  switch (update.status) {
    case 'decision-issued':
      return update.decision?.date ?? update.date;
    case 'care-started':
    case 'allocated':
      return update.startDate ?? update.date;
    case 'care-ended':
      return update.endDate ?? update.date;
    case 'received':
    case 'accepted':
    case 'rejected':
    case 'closed':
      return update.date;
  }
}

function translated(status: ReferralStatus, target: string): string {
  const code = tryTranslate(REFERRAL_STATUS_SYSTEM, status, target)?.code;
  if (!code) {
    throw new Error(`conceptmap-referral-status-task-status has no ${target} for ${status}`);
  }
  return code;
}

/** The practice's ServiceRequest.status (ConceptMap referral-status-task-status): active, revoked or completed. */
export function serviceRequestStatusOf(status: ReferralStatus): 'active' | 'revoked' | 'completed' {
  return translated(status, REQUEST_STATUS_SYSTEM) as 'active' | 'revoked' | 'completed';
}

/** The Task's own workflow status (same ConceptMap). */
export function taskStatusOf(
  status: ReferralStatus,
): 'received' | 'accepted' | 'in-progress' | 'rejected' | 'completed' {
  return translated(status, TASK_STATUS_SYSTEM) as 'received' | 'accepted' | 'in-progress' | 'rejected' | 'completed';
}

export interface FeedbackContext {
  readonly feedbackId: string;
  /** The practice's own identifier of the referral (`urn:agb:<agb>:referral|<id>`), which its HIS knows it by. */
  readonly referralIdentifier: Identifier;
  /** How a FHIR HIS addresses its ServiceRequest itself (its id, its own identifiers): what `focus` names then. */
  readonly hisAddress?: HisReferralAddress | undefined;
  readonly municipalityCode: string;
  /** When the municipality sent it (ISO dateTime). */
  readonly at: string;
  /**
   * The day the status took effect (YYYY-MM-DD): `statusDateOf`, or the day it was received when the update names
   * none. The practice's HIS needs it to tell two updates of one status apart (accepted again, with another day).
   */
  readonly statusDate: string;
  /** The municipality's own identifiers of the Task it sent (POST /fhir/Task), after jeugdbrug's feedback id. */
  readonly identifiers?: readonly Identifier[] | undefined;
}

/** One detail, typed by its code in codesystem-referral-allocation.json (which gives the display). */
function output(code: string, value: Omit<TaskOutput, 'type'>): TaskOutput {
  return { type: { coding: [getCoding(ALLOCATION_OUTPUT_SYSTEM, code)] }, ...value };
}

/**
 * The Task: focus is the referral as the HIS knows it (`focusOf`), businessStatus the municipality's status, output the allocation details given.
 */
export function toFeedbackTask(update: StatusUpdate, ctx: FeedbackContext): Task {
  const outputs: TaskOutput[] = [output('status-date', { valueDate: ctx.statusDate })];
  const decision = update.decision;
  if (decision) {
    outputs.push(
      output('decision-number', {
        valueIdentifier: { system: DECISION_NUMBER_SYSTEM, value: decision.number },
      }),
      output('decision-date', { valueDate: decision.date }),
    );
  }
  const productCategory = decision?.productCategory ?? update.productCategory;
  if (productCategory) {
    const category: CodeableConcept = { coding: [getCoding(JZ020_SYSTEM, productCategory)] };
    outputs.push(output('product-category', { valueCodeableConcept: category }));
  }
  if (decision) {
    outputs.push(output('decision-period', { valuePeriod: decision.period }));
  }
  const provider = update.provider ? providerReference(update.provider) : undefined;
  if (provider) {
    outputs.push(output('provider', { valueReference: provider }));
  }
  if (update.startDate) {
    outputs.push(output('start-date', { valueDate: update.startDate }));
  }
  if (update.endDate) {
    outputs.push(output('end-date', { valueDate: update.endDate }));
  }
  const municipality = { type: 'Organization' as const, identifier: municipalityIdentifier(ctx.municipalityCode) };
  const reason = update.reasonCode ? tryGetConcept(REFERRAL_REJECTION_REASON_SYSTEM, update.reasonCode) : undefined;
  const statusReason: CodeableConcept | undefined =
    reason || update.reason
      ? {
          ...(reason ? { coding: [getCoding(REFERRAL_REJECTION_REASON_SYSTEM, reason.code)] } : {}),
          ...(update.reason ? { text: update.reason } : {}),
        }
      : undefined;
  // The period of care only (tryGetCareStart reads its start back); the status's own day is output status-date.
  const execution =
    update.startDate || update.endDate
      ? {
          executionPeriod: {
            ...(update.startDate ? { start: update.startDate } : {}),
            ...(update.endDate ? { end: update.endDate } : {}),
          },
        }
      : {};
  return {
    resourceType: 'Task',
    id: ctx.feedbackId,
    identifier: [{ system: FEEDBACK_ID_SYSTEM, value: ctx.feedbackId }, ...(ctx.identifiers ?? [])],
    status: taskStatusOf(update.status),
    businessStatus: { coding: [getCoding(REFERRAL_STATUS_SYSTEM, update.status)] },
    ...(statusReason ? { statusReason } : {}),
    intent: 'order',
    code: { coding: [{ system: TASK_CODE_SYSTEM, code: 'fulfill', display: 'Fulfill the focal request' }] },
    focus: focusOf(ctx),
    authoredOn: ctx.at,
    lastModified: ctx.at,
    requester: municipality,
    owner: provider ?? municipality,
    ...execution,
    output: outputs,
  };
}

/**
 * The referral as the practice's HIS knows it, never by our ids: a FHIR HIS's own `ServiceRequest/<id>` (relative
 * to its base) and its own identifier when it sent them; else the logical `urn:agb:<agb>:referral|<its id>`.
 */
function focusOf(ctx: Pick<FeedbackContext, 'referralIdentifier' | 'hisAddress'>): Reference<ServiceRequest> {
  const id = ctx.hisAddress?.id;
  return {
    type: 'ServiceRequest',
    ...(id ? { reference: `ServiceRequest/${id}` } : {}),
    identifier: ctx.hisAddress?.identifiers[0] ?? ctx.referralIdentifier,
  };
}

function providerReference(p: NonNullable<StatusUpdate['provider']>): Reference<Organization> | undefined {
  if (!p.agb && !p.name) {
    return undefined;
  }
  return {
    type: 'Organization',
    ...(p.agb ? { identifier: agbIdentifier(p.agb) } : {}),
    ...(p.name ? { display: p.name } : {}),
  };
}

/**
 * The practice's ServiceRequest with only what a status change needs: its identity as the HIS knows it, the new
 * status, and the child it is about (by BSN: the practice's own patient, nothing it does not already hold). Its
 * identity is the HIS's own id and identifiers when a FHIR HIS sent them (`hisAddress`), else our id and the
 * practice's referral identifier.
 */
export function toServiceRequestStatus(ref: {
  id: string;
  identifier: Identifier;
  hisAddress?: HisReferralAddress | undefined;
  patientBsn: string;
  status: ReferralStatus;
}): ServiceRequest {
  // A FHIR HIS's own address replaces ours: the status patch names its first identifier, else its id (to-transaction).
  const identifiers = ref.hisAddress ? ref.hisAddress.identifiers : [ref.identifier];
  return {
    resourceType: 'ServiceRequest',
    id: ref.hisAddress?.id ?? ref.id,
    ...(identifiers.length ? { identifier: [...identifiers] } : {}),
    status: serviceRequestStatusOf(ref.status),
    intent: 'order',
    subject: { type: 'Patient', identifier: bsnIdentifier(ref.patientBsn) },
  };
}
