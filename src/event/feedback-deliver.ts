import { DelayedError, type Job } from 'bullmq';
import { toServiceRequestStatus } from '../../mappings/practice/to-task';
import { feedbackDecision, feedbackDisclosure, SYSTEM_WORKER, type AuditedAgreementRef } from '../audit/audit-events';
import { REFERRAL_STATUS_EVENT } from '../contracts/delivery-event-type';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import { decideReferralStatus } from '../policy/decide';
import { decisionText } from '../policy/reason-words';
import type { PipelineContext } from './context';
import { reasonText } from './decide';
import { feedbackTaskOf, referralIdentityOf, supersededReason } from './feedback';
import { practiceReceiver, sendToPractice } from './practice-send';
import type { FeedbackJobData } from './queues';
import { agreementInForceAt } from './withdrawal-notice';
import { earlierWaitMs } from './deliver';
import {
  deliveredDeliveriesOf,
  feedbackOrderOf,
  recordAttempt,
  supersedeFeedback,
  tryGetFeedback,
  tryGetSealedEvent,
  type EventRow,
} from './event-store';

/**
 * Feedback stage: sends a municipality's status update to the practice's HIS endpoint (fhir-rest: a Task plus a
 * status patch of the practice's ServiceRequest; webhook: a signed notification with both), with the same retry,
 * dead-letter and replay behaviour as deliveries, and audits it as a disclosure to the practice.
 *
 * Decided first, as every disclosure is (DOMAIN.md: the decision is recorded with its basis even where that is not
 * consent), on the agreement the referral went to the municipality under (`decideReferralStatus`): no consent decides
 * it, since the practice is the referral's source and the child's own care provider, and what goes back is the
 * municipality's answer to its own request. The decision and the disclosure name that agreement.
 */
export async function processFeedbackJob(ctx: PipelineContext, job: Job<FeedbackJobData>): Promise<string> {
  const feedback = await tryGetFeedback(ctx.db, job.data.feedbackId);
  if (!feedback || feedback.state !== 'pending') {
    return 'skipped';
  }
  const others = await feedbackOrderOf(ctx.db, feedback.id);
  const sentLater = others.find((o) => !o.earlier && o.state === 'delivered');
  if (sentLater) {
    // A later update reached the practice first (one waiting from before this ordering, or a race with a replay):
    // this older status would set its ServiceRequest back. Never sent; its reason says why.
    await supersedeFeedback(ctx.db, feedback.id, ['pending'], supersededReason(sentLater));
    ctx.log.info({ feedbackId: feedback.id, supersededBy: sentLater.id, traceId: job.data.traceId }, 'superseded');
    return 'superseded';
  }
  if (others.some((o) => o.earlier && o.state === 'pending')) {
    // An earlier update of this referral is still on its way (retried, or waiting itself): this one goes after it,
    // so the practice ends at the status recorded last, as deliveries to a municipality wait (deliver.ts). An earlier
    // dead letter does not hold it up; replayed after this one, it is superseded (replayFeedback). No attempt spent.
    await job.moveToDelayed(Date.now() + earlierWaitMs(job), job.token);
    throw new DelayedError();
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
  const agreement = await referralAgreementOf(ctx, row, feedback.municipality);
  const decision = decideReferralStatus({
    referralId: identity.identifier.value ?? identity.serviceRequestId,
    municipalityCode: feedback.municipality,
    agreement,
    legalBasis: ctx.registry.agreements.find((a) => a.id === agreement?.id && a.version === agreement.version)
      ?.legalBasis,
  });
  const audit = {
    actor: SYSTEM_WORKER,
    practiceAgb: feedback.tenant,
    municipality: feedback.municipality,
    patientBsn: identity.patientBsn,
    inboxId: row.id,
    feedbackId: feedback.id,
    serviceRequestId: identity.serviceRequestId,
    agreement,
  };
  await ctx.audit.append(
    feedback.tenant,
    feedbackDecision({ ...audit, permit: decision.effect === 'permit', reasons: reasonText(decision) }),
  );
  if (decision.effect !== 'permit') {
    // Nothing names the ground it would go back on; once the agreement is configured again, an operator replays it.
    const reason = `denied at delivery: ${decisionText(decision)}`;
    await recordAttempt(ctx.db, 'feedback', feedback.id, { state: 'dead', error: reason });
    throw new PermanentDeliveryError(reason);
  }
  const disclosed = { ...audit, endpoint: practiceReceiver(feedback.tenant) };
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
    deliveredAudit: () => feedbackDisclosure({ ...disclosed, outcome: '0' }),
    deadLetterAudit: (reason) => feedbackDisclosure({ ...disclosed, outcome: '8', outcomeDesc: reason }),
  });
}

/**
 * The agreement the referral event went to `municipality` under: as its delivery there recorded it (`child_disclosure`,
 * migration 061), kept as recorded when it has left the configuration since; for a delivery recorded before, the one
 * in force for what it disclosed on the day it went (a delivery from before migration 047 kept nothing of that: a
 * referral's ServiceRequest then). Undefined when the referral never reached that municipality, or nothing fits.
 */
async function referralAgreementOf(
  ctx: Pick<PipelineContext, 'db' | 'registry'>,
  row: Pick<EventRow, 'id' | 'tenant' | 'municipality'>,
  municipality: string,
): Promise<AuditedAgreementRef | undefined> {
  const municipalityOf = (destination: string) =>
    ctx.registry.destinations.find((d) => d.id === destination)?.municipality ?? row.municipality;
  const there = (await deliveredDeliveriesOf(ctx.db, row.id)).filter(
    (d) => municipalityOf(d.destination) === municipality,
  );
  const recorded = there.find((d) => d.agreement)?.agreement;
  const [first] = there;
  if (recorded || !first) {
    return recorded ?? undefined;
  }
  return agreementInForceAt(ctx.registry, row.tenant, {
    municipality: first.municipality ?? row.municipality ?? municipality,
    purpose: first.purpose ?? 'referral',
    data_classes: first.data_classes ?? ['ServiceRequest'],
    disclosed_at: first.disclosed_at ?? first.delivered_at,
  });
}
