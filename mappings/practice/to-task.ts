import type { CodeableConcept, Identifier, ServiceRequest, Task, TaskOutput } from '@medplum/fhirtypes';
import { agbIdentifier, bsnIdentifier, municipalityIdentifier } from '../../src/kernel/fhir/identifiers';
import { JZ020_SYSTEM } from '../../src/kernel/fhir/systems';
import { getCoding } from '../../src/kernel/fhir/terminology';

/**
 * The mapping of a municipality's status update on a referral ("feedback") into what goes back to the practice:
 * the new ServiceRequest status and a FHIR Task that says what happened, by whom, and (when allocated) to which
 * provider, in which product category, from which date. Pure.
 */

export const REFERRAL_STATUSES = ['accepted', 'rejected', 'allocated', 'closed'] as const;
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number];

/** Ours: the municipality's status of a referral, as Task.businessStatus. */
export const REFERRAL_STATUS_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/referral-status';
/** Ours: the kinds of allocation detail in Task.output. */
export const ALLOCATION_OUTPUT_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/referral-allocation';
/** Ours: the id of a status update; also the Task's id. */
export const FEEDBACK_ID_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/feedback';
const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';

export interface StatusUpdate {
  readonly status: ReferralStatus;
  readonly reason?: string | undefined;
  /** JZ020 code of what was allocated. */
  readonly productCategory?: string | undefined;
  readonly provider?: { readonly agb?: string | undefined; readonly name: string } | undefined;
  readonly startDate?: string | undefined;
}

const STATUS_DISPLAY: Record<ReferralStatus, string> = {
  accepted: 'Aangenomen door de gemeente',
  rejected: 'Afgewezen door de gemeente',
  allocated: 'Toegewezen aan een aanbieder',
  closed: 'Afgesloten',
};

/** accepted/allocated → active, rejected → revoked, closed → completed. */
export function serviceRequestStatusOf(status: ReferralStatus): 'active' | 'revoked' | 'completed' {
  switch (status) {
    case 'accepted':
    case 'allocated':
      return 'active';
    case 'rejected':
      return 'revoked';
    case 'closed':
      return 'completed';
  }
}

/** The Task's own workflow status: the municipality accepted, is carrying out (allocated), refused or finished it. */
export function taskStatusOf(status: ReferralStatus): 'accepted' | 'in-progress' | 'rejected' | 'completed' {
  switch (status) {
    case 'accepted':
      return 'accepted';
    case 'allocated':
      return 'in-progress';
    case 'rejected':
      return 'rejected';
    case 'closed':
      return 'completed';
  }
}

export interface FeedbackContext {
  readonly feedbackId: string;
  /** The practice's own identifier of the referral (`urn:agb:<agb>:referral|<id>`), which its HIS knows it by. */
  readonly referralIdentifier: Identifier;
  readonly municipalityCode: string;
  /** When the municipality sent it (ISO dateTime). */
  readonly at: string;
}

function output(code: string, display: string, value: Omit<TaskOutput, 'type'>): TaskOutput {
  return { type: { coding: [{ system: ALLOCATION_OUTPUT_SYSTEM, code, display }] }, ...value };
}

/**
 * The Task: focus is the referral by the practice's own identifier (a logical reference: the HIS does not know our
 * ids), businessStatus the municipality's status, output the allocation details given.
 */
export function toFeedbackTask(update: StatusUpdate, ctx: FeedbackContext): Task {
  const outputs: TaskOutput[] = [];
  if (update.productCategory) {
    const category: CodeableConcept = { coding: [getCoding(JZ020_SYSTEM, update.productCategory)] };
    outputs.push(output('product-category', 'Productcategorie', { valueCodeableConcept: category }));
  }
  if (update.provider) {
    outputs.push(
      output('provider', 'Aanbieder', {
        valueReference: {
          type: 'Organization',
          ...(update.provider.agb ? { identifier: agbIdentifier(update.provider.agb) } : {}),
          display: update.provider.name,
        },
      }),
    );
  }
  if (update.startDate) {
    outputs.push(output('start-date', 'Startdatum', { valueDate: update.startDate }));
  }
  const municipality = { type: 'Organization' as const, identifier: municipalityIdentifier(ctx.municipalityCode) };
  return {
    resourceType: 'Task',
    id: ctx.feedbackId,
    identifier: [{ system: FEEDBACK_ID_SYSTEM, value: ctx.feedbackId }],
    status: taskStatusOf(update.status),
    businessStatus: {
      coding: [{ system: REFERRAL_STATUS_SYSTEM, code: update.status, display: STATUS_DISPLAY[update.status] }],
    },
    ...(update.reason ? { statusReason: { text: update.reason } } : {}),
    intent: 'order',
    code: { coding: [{ system: TASK_CODE_SYSTEM, code: 'fulfill', display: 'Fulfill the focal request' }] },
    focus: { type: 'ServiceRequest', identifier: ctx.referralIdentifier },
    authoredOn: ctx.at,
    lastModified: ctx.at,
    requester: municipality,
    owner: update.provider
      ? {
          type: 'Organization',
          ...(update.provider.agb ? { identifier: agbIdentifier(update.provider.agb) } : {}),
          display: update.provider.name,
        }
      : municipality,
    ...(update.startDate ? { executionPeriod: { start: update.startDate } } : {}),
    ...(outputs.length ? { output: outputs } : {}),
  };
}

/**
 * The practice's ServiceRequest with only what a status change needs: its identity, the new status, and the child
 * it is about (by BSN: the practice's own patient, nothing it does not already hold).
 */
export function toServiceRequestStatus(ref: {
  id: string;
  identifier: Identifier;
  patientBsn: string;
  status: ReferralStatus;
}): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id: ref.id,
    identifier: [ref.identifier],
    status: serviceRequestStatusOf(ref.status),
    intent: 'order',
    subject: { type: 'Patient', identifier: bsnIdentifier(ref.patientBsn) },
  };
}
