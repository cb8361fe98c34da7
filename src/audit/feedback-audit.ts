import type { AuditEvent } from '@medplum/fhirtypes';
import {
  AUDIT_SUBTYPES,
  AUDIT_TYPES,
  buildAuditEvent,
  organisationAgent,
  patientEntity,
  resourceEntity,
  type AuditActor,
  type AuditOutcome,
} from './audit-events';

/**
 * AuditEvents of the feedback path (a municipality's status on a referral, going back to the practice), in the same
 * BALP shapes as balp.ts: receiving it is an Import (DCM 110107) with the municipality as responsible agent;
 * sending it on is an Export/disclose (DCM 110106) whose recipient is the practice, where balp.ts's `disclosure`
 * always names a municipality. Both go into the practice's chain, next to the rest of that referral's trail.
 */

/** A municipality's status update on a referral, received and stored (Import, create). */
export function feedbackReceived(a: {
  actor: AuditActor;
  municipality: string;
  practiceAgb: string;
  patientBsn: string;
  inboxId: string;
  feedbackId: string;
  serviceRequestId: string;
  status: string;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.import,
    subtype: AUDIT_SUBTYPES.receive,
    action: 'C',
    outcome: '0',
    purpose: 'referral',
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `referral status ${a.status}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
    ],
    extraAgents: [
      organisationAgent('source', 'municipality', a.municipality),
      organisationAgent('destination', 'practice', a.practiceAgb),
    ],
  });
}

/** A status update disclosed to the practice's HIS (Export/disclose), or a failed attempt when outcome is not 0. */
export function feedbackDisclosure(a: {
  actor: AuditActor;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  practiceAgb: string;
  municipality: string;
  patientBsn: string;
  inboxId: string;
  feedbackId: string;
  serviceRequestId: string;
  endpoint: string;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.export,
    subtype: AUDIT_SUBTYPES.disclose,
    action: 'R',
    purpose: 'referral',
    outcome: a.outcome,
    outcomeDesc: a.outcomeDesc,
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `endpoint ${a.endpoint}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
    ],
    extraAgents: [
      organisationAgent('source', 'municipality', a.municipality),
      organisationAgent('destination', 'practice', a.practiceAgb),
    ],
  });
}
