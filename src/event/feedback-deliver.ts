import type { Job } from 'bullmq';
import { toServiceRequestStatus } from '../../mappings/practice/to-task';
import { SYSTEM_WORKER } from '../audit/audit-events';
import { feedbackDisclosure } from '../audit/audit-events';
import { REFERRAL_STATUS_EVENT } from '../contracts/delivery-event-type';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';
import { feedbackTaskOf, referralIdentityOf } from './feedback';
import { practiceReceiver, sendToPractice } from './practice-send';
import type { FeedbackJobData } from './queues';
import { recordAttempt, tryGetFeedback, tryGetSealedEvent } from './event-store';

/**
 * Feedback stage: sends a municipality's status update to the practice's HIS endpoint (fhir-rest: a Task plus a
 * status patch of the practice's ServiceRequest; webhook: a signed notification with both), with the same retry,
 * dead-letter and replay behaviour as deliveries, and audits it as a disclosure to the practice.
 *
 * No consent decision here: the practice is the referral's source and the child's own care provider, and what goes
 * back is the municipality's answer to its own request.
 */
export async function processFeedbackJob(ctx: PipelineContext, job: Job<FeedbackJobData>): Promise<string> {
  const feedback = await tryGetFeedback(ctx.db, job.data.feedbackId);
  if (!feedback || feedback.state !== 'pending') {
    return 'skipped';
  }
  const row = await tryGetSealedEvent(ctx.db, feedback.inbox_id);
  if (!row) {
    throw new PermanentDeliveryError(`referral of feedback ${feedback.id} is gone`);
  }
  let identity;
  try {
    identity = referralIdentityOf(ctx, row);
  } catch {
    // Its payload is gone (retention): nothing can say which referral the practice should update.
    const reason = 'the referral is no longer held (retention)';
    await recordAttempt(ctx.db, 'feedback', feedback.id, { state: 'dead', error: reason });
    throw new PermanentDeliveryError(reason);
  }
  const audit = {
    actor: SYSTEM_WORKER,
    practiceAgb: feedback.tenant,
    municipality: feedback.municipality,
    patientBsn: identity.patientBsn,
    inboxId: row.id,
    feedbackId: feedback.id,
    serviceRequestId: identity.serviceRequestId,
    endpoint: practiceReceiver(feedback.tenant),
  };
  return sendToPractice(ctx, job, {
    table: 'feedback',
    id: feedback.id,
    tenant: feedback.tenant,
    idempotencyKey: feedback.idempotency_key,
    eventType: REFERRAL_STATUS_EVENT,
    attempts: feedback.attempts,
    occurredAt: feedback.created_at,
    resources: () => [
      toServiceRequestStatus({
        id: identity.serviceRequestId,
        identifier: identity.identifier,
        hisAddress: identity.hisAddress,
        patientBsn: identity.patientBsn,
        status: feedback.status,
      }),
      feedbackTaskOf(ctx, feedback),
    ],
    deliveredAudit: () => feedbackDisclosure({ ...audit, outcome: '0' }),
    deadLetterAudit: (reason) => feedbackDisclosure({ ...audit, outcome: '8', outcomeDesc: reason }),
  });
}
