import { DelayedError, WaitingError, type Job } from 'bullmq';
import { disclosure, SYSTEM_WORKER } from '../audit/audit-events';
import { getAdapter } from '../../mappings/municipality/index';
import { mayHaveReachedReceiver, PermanentDeliveryError } from '../contracts/delivery-errors';
import type { CanonicalEvent } from '../contracts/his-dialect';
import { openEventOnce, PayloadPurgedError } from './stored-event';
import {
  CANCELLED_AFTER_POSSIBLE_RECEIPT,
  CANCELLED_BY_PRACTICE,
  NOTHING_TO_CANCEL,
  NOT_HELD_BY_RECEIVER,
  PAYLOAD_PURGED,
  RESEND_CANCELLED_BY_PRACTICE,
  RESENT_BY_PRACTICE,
  SUPERSEDED_BY_CORRECTION,
} from './states';
import { correctedSince } from './contact-versions';
import { minimise } from '../policy/minimise';
import { finishDeliveryLogged } from './event-log';
import {
  claimTrialDelivery,
  markPossiblyReceivedFromAudit,
  MAY_HAVE_BEEN_RECEIVED,
  recordAttempt,
  type DeliveryFinish,
  type DeliveryWork,
} from './event-store';
import { sealAnswer, summariseAnswer, type SealedAnswer } from './receiver-answer';
import { stageStatements } from './stage-groups';
import type { PipelineContext } from './context';
import { childConsentsOnce, decideAndRecord, purposeOf, type ChildConsents } from './decide';
import { deniedForConsent, recheckConsentDenial } from './redecide';
import { auditedAgreement } from './registry';
import { decisionText } from '../policy/reason-words';
import { handOnTrial, recordDestinationFailure, recordDestinationSuccess } from './destination-health';
import type { DeliverJobData } from './queues';
import { forgetAcceptedSend, rememberAcceptedSend, tryGetAcceptedSend, type AcceptedSend } from './accepted-sends';
import { errorFields } from '../kernel/logger';
import { isConnectionWaitTimeout } from '../kernel/outage';
import { mayWaitForConnections } from './connection-waits';
import { asDeliveryFailure, finalityOf, type DeliveryFailure } from './delivery-failure';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import { reportDelivery } from './report-delivery';
import type { DeliveryKind, DisclosureAudit, Shipment } from './delivery-kind';
import { takeSendSlot } from './send-window';
import { consentAt, CONSENT_EVENT_TYPES, recordDisclosed, withdrawalNoticeDelivery } from './withdrawal-notice';

/**
 * Deliver stage: whatever the kind of delivery checks before it leaves (a child's event: decided again right
 * before sending, since a consent may have been withdrawn since mapping, and cut down to the agreement's
 * allow-list), send it through the destination's adapter, and record the disclosure. Transient failures throw to
 * be retried; permanent ones and the last attempt become a dead letter that an operator can replay. Every attempt
 * also feeds the destination's health (pause after N failures).
 */
export async function processDeliverJob(ctx: PipelineContext, job: Job<DeliverJobData>): Promise<string> {
  const work = await stageStatements(ctx.db).deliveryWork(job.data.deliveryId);
  if (!work || work.state !== 'pending') {
    return 'skipped';
  }
  if (!work.destination_paused_by) {
    return processPendingDelivery(ctx, job, work);
  }
  if (work.destination_half_open && (await claimTrialDelivery(ctx.db, work.destination, work.id))) {
    // The one trial delivery of a half-open destination (destination-health.ts): accepted, it resumes the
    // destination; failed by the destination, it keeps it paused; ended otherwise, the next job takes the trial.
    try {
      return await processPendingDelivery(ctx, job, work);
    } finally {
      await handOnTrial(ctx, work.destination, work.id).catch((err: Error) =>
        ctx.log.warn({ destination: work.destination, ...errorFields(err) }, 'could not hand the trial on'),
      );
    }
  }
  // The pause is recorded in PostgreSQL; the queue's paused flag is only its copy in Redis, lost with Redis's data
  // (restarted without it, or failed over), after which the reconciler's jobs would run at once; and a half-open
  // destination runs its queue for the one job that claims the trial. The job goes back behind the flag, set again
  // here, with no attempt spent, and waits for the resume.
  await ctx.queues.getDeliverQueue(work.destination).pause();
  await job.moveToWait(job.token);
  throw new WaitingError();
}

/** A pending delivery the destination's state lets go out: cancelled, held back, or sent. */
async function processPendingDelivery(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
): Promise<string> {
  if (work.cancelled_by_practice && work.delivered_at) {
    // A resend (redelivery) of a referral the municipality received: it stops, the referral stays delivered, and the
    // cancellation goes out (CANCELLED_REFERRAL_AT_DESTINATION counts `delivered_at` as `delivered`).
    await notSent(ctx, job, work, 'resendCancelledByPractice', RESEND_CANCELLED_BY_PRACTICE);
    return 'cancelled';
  }
  if (work.cancelled_by_practice) {
    // Cancelled while it waited (a paused destination, retries): the municipality never gets a referral the practice
    // withdrew. The cancellation goes out as any event does; after an attempt that may have reached the receiver
    // (`possibly_received_at`), it counts as sent, so the cancellation goes out (CANCELLED_REFERRAL_AT_DESTINATION).
    // The mark is set with the attempt's record, which may have failed after the attempt's audit: read again there.
    const possiblyReceived = work.possibly_received_at !== null || (await markPossiblyReceivedFromAudit(ctx.db, work));
    const reason = possiblyReceived ? CANCELLED_AFTER_POSSIBLE_RECEIPT : CANCELLED_BY_PRACTICE;
    await notSent(ctx, job, work, 'cancelledByPractice', reason);
    return 'cancelled';
  }
  if (work.resent_by_practice) {
    // The practice cancelled the referral and then sent it again: it stands. The municipality gets the referral
    // sent again and never the cancellation in between, which it could otherwise take after it.
    await notSent(ctx, job, work, 'resentByPractice', RESENT_BY_PRACTICE);
    return 'resent';
  }
  if (work.waits_for_earlier) {
    // An earlier event of this referral is still on its way here (a cancellation's referral, a referral's
    // cancellation being sent at this moment): this one goes out after it, so the municipality ends where the
    // practice did. The earlier one may yet not go out (cancelled, resent); for a cancellation, whether there is
    // anything to cancel is known once it ends. No attempt is spent.
    await job.moveToDelayed(Date.now() + earlierWaitMs(job), job.token);
    throw new DelayedError();
  }
  if (work.cancelled_referral === 'never') {
    // A cancellation of what the municipality never received would tell it about a child for nothing.
    await notSent(ctx, job, work, 'nothingToCancel', NOTHING_TO_CANCEL);
    return 'nothing-to-cancel';
  }
  const kind = deliveryKindOf(work);
  // What the kind reads before its decision goes out with the note's read instead of after it.
  kind.readAhead?.(ctx, work);
  // The receiver already accepted this delivery on an earlier try, whose recording failed: record, never resend.
  const accepted = await tryGetAcceptedSend(ctx.queues, work.idempotency_key);
  if (accepted) {
    return recordAcceptedSend(ctx, job, work, kind, kind.auditOf(ctx, work), accepted);
  }
  try {
    return await deliverOnce(ctx, job, work, kind);
  } catch (err) {
    if (
      (err as Error | undefined)?.name === UnrecordedAcceptanceError.NAME ||
      (isConnectionWaitTimeout(err) && mayWaitForConnections(job, ctx.config.JOB_CONNECTION_WAIT_MAX_MS))
    ) {
      // Not a dead letter, even on the last attempt: the data has arrived. The row stays pending, so the reconciler
      // gives it a new job, which finds the note and only records. Nor when no database connection came free in
      // time: the worker's own shortage, retried without spending an attempt (workers.ts), never a last chance, until
      // the attempt has waited JOB_CONNECTION_WAIT_MAX_MS; then it fails as any other error.
      throw err;
    }
    // Whatever failed outside the send itself (the database, the decision, a bug) still ends the delivery when
    // this was its last chance: a row left `pending` behind a failed job would be re-enqueued for ever.
    const failure = asDeliveryFailure(err);
    const { final, reason } = finalityOf(failure, job, work.destination, work.delivered_at);
    if (final) {
      await finish(ctx, job, {
        deliveryId: work.id,
        inboxId: work.inbox_id,
        deliveryState: 'dead',
        step: 'deadLetter',
        reason,
        error: failure.message,
        countsAsAttempt: false,
      }).catch((e: Error) =>
        ctx.log.error(
          { deliveryId: work.id, traceId: job.data.traceId, ...errorFields(e) },
          'could not record a dead letter',
        ),
      );
    }
    throw err;
  }
}

/**
 * What kind of delivery this is, by its event's type: the anonymised monitoring report (no child, no consent, no
 * minimisation) and a consent event's withdrawal notice say for themselves what they check and send.
 */
function deliveryKindOf(work: DeliveryWork): DeliveryKind {
  if (work.event_type === MONITORING_REPORT_EVENT) {
    return reportDelivery;
  }
  return CONSENT_EVENT_TYPES.has(work.event_type) ? withdrawalNoticeDelivery : childEventDelivery;
}

/**
 * How long an event of a referral (or a status update of one, feedback-deliver.ts) waits for an earlier one's
 * delivery to end before it looks again: half as long as it has waited so far, from 2 s to 5 min, so an event sent in
 * a moment is followed at once and one in a long backoff is not asked about every few seconds for hours.
 */
export function earlierWaitMs(job: Pick<Job, 'timestamp'>): number {
  return Math.min(300_000, Math.max(2_000, (Date.now() - job.timestamp) / 2));
}

/**
 * The child's consents read ahead for a delivery's first decision (`readAhead`), by its work row; taken by the
 * first `prepare`, so a decision made again after a change reads them anew.
 */
const consentsReadAhead = new WeakMap<DeliveryWork, ChildConsents>();

/** A child's event (referral, contact, closure): decided again, minimised, audited as a disclosure about the child. */
const childEventDelivery: DeliveryKind = {
  auditOf: (ctx, work) => childDisclosure(work, openEventOnce(ctx.cipher, work)),
  recordDisclosed,
  readAhead(ctx, work) {
    let consents: ChildConsents;
    try {
      consents = childConsentsOnce(ctx, openEventOnce(ctx.cipher, work));
    } catch {
      // An event that cannot be opened: `prepare` says what becomes of the delivery.
      return;
    }
    // Not awaited here: a failed read fails the decision that awaits it, and is dropped when no decision does.
    consents().catch(() => undefined);
    consentsReadAhead.set(work, consents);
  },
  async prepare(ctx, job, work) {
    let event: CanonicalEvent;
    try {
      event = openEventOnce(ctx.cipher, work);
    } catch (err) {
      if (err instanceof PayloadPurgedError) {
        await finish(ctx, job, {
          deliveryId: work.id,
          inboxId: work.inbox_id,
          deliveryState: 'cancelled',
          step: 'payloadPurged',
          reason: PAYLOAD_PURGED,
          error: PAYLOAD_PURGED,
          countsAsAttempt: false,
        });
        return 'payload-purged';
      }
      // Undecryptable or unmappable: no retry can change that. Permanent, so it becomes a dead letter at once.
      throw new PermanentDeliveryError(`the stored event cannot be read: ${(err as Error).message}`);
    }
    if (await correctedSince(ctx, work, event)) {
      // The receiver holds a newer version of this contact: sent now, it would undo the correction there.
      const step = work.delivered_at ? 'resendSupersededByCorrection' : 'supersededByCorrection';
      await notSent(ctx, job, work, step, SUPERSEDED_BY_CORRECTION);
      return 'superseded';
    }
    const purpose = purposeOf(event.eventType) ?? 'referral';
    const row = { id: work.inbox_id, tenant: work.tenant };
    const consents = consentsReadAhead.get(work) ?? childConsentsOnce(ctx, event);
    consentsReadAhead.delete(work);
    const decision = await decideAndRecord(ctx, row, event, purpose, 'deliver', consents);
    if (decision.effect === 'deny') {
      const reason = `denied at delivery: ${decisionText(decision)}`;
      const denied = await finish(ctx, job, {
        deliveryId: work.id,
        inboxId: work.inbox_id,
        deliveryState: 'cancelled',
        step: 'deniedAtDelivery',
        reason,
        error: reason,
      });
      // As the map stage does: a consent recorded since the decision read the consents (after a withdrawal, say)
      // may have searched for the child's denials before this one was committed (redecide.ts).
      if (denied && deniedForConsent(decision)) {
        await recheckConsentDenial(ctx, row, event, await consents(), job.data.traceId);
      }
      return 'denied';
    }
    const resources = minimise([...event.resources], decision.obligations.allowedFields);
    const consentsSeen = (await consents()).map(consentAt);
    const child = { tenant: event.practice.agb, patientBsn: event.patient.bsn };
    return {
      resources,
      eventType: event.eventType,
      note: {
        purpose,
        resources: resources.map((r) => `${r.resourceType}/${r.id ?? ''}`),
        agreement: auditedAgreement(ctx.registry, decision.agreement),
        consentIds: [...decision.consentIds],
        consentVersions: decision.consentVersions,
        // What the decision read, to see once the disclosure is recorded whether a consent changed meanwhile.
        consentsSeen,
      },
      audit: childDisclosure(work, event),
      // A correction delivered since (while this send waited for its slot, say) is asked here too: the deliver stage
      // prepares again, which ends this delivery as superseded.
      stillAsDecided: async () =>
        !(await correctedSince(ctx, work, event)) &&
        sameConsents(consentsSeen, (await stageStatements(ctx.db).storedConsents(child)).map(consentAt)),
    };
  },
};

function childDisclosure(work: DeliveryWork, event: CanonicalEvent): DisclosureAudit {
  return (note, outcome, outcomeDesc) =>
    disclosure({
      actor: SYSTEM_WORKER,
      patientBsn: event.patient.bsn,
      inboxId: work.inbox_id,
      municipality: event.municipalityCode,
      destination: work.destination,
      purpose: note.purpose,
      resources: note.resources,
      agreement: note.agreement,
      consentIds: note.consentIds,
      consentVersions: note.consentVersions,
      outcome,
      outcomeDesc,
    });
}

async function deliverOnce(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  kind: DeliveryKind,
): Promise<string> {
  const destination = ctx.registry.destinations.find((d) => d.id === work.destination);
  if (!destination) {
    throw new PermanentDeliveryError(`destination ${work.destination} is no longer configured`);
  }
  let shipment = await kind.prepare(ctx, job, work);
  if (typeof shipment === 'string') {
    return shipment;
  }
  await takeSendSlot(ctx.queues, destination);
  // A consent withdrawn or an objection recorded since the decision read the child's consents (while its audit was
  // written, or the send waited for its slot) is read here, right before the send, and decided on again: otherwise
  // the data would leave after the objection was committed. One that commits after this read, while the request is
  // on its way, is found once the disclosure is recorded and gets a withdrawal notice (withdrawal-notice.ts). A contact
  // whose correction reached the destination meanwhile is not sent either (contact-versions.ts). A decision that now
  // denies (or a correction) ends the delivery with its slot taken and unused: under a slow rate limit the next
  // delivery to the destination waits that much longer; rare, and not worth a second read before the slot.
  for (let again = 0; shipment.stillAsDecided && again < MAX_DECIDED_AGAIN; again++) {
    if (await shipment.stillAsDecided()) {
      break;
    }
    shipment = await kind.prepare(ctx, job, work);
    if (typeof shipment === 'string') {
      return shipment;
    }
  }
  // Only the send is inside the try: a database hiccup after a successful send must be retried as ours, not
  // turned into a dead letter as if the receiver had refused.
  let receipt;
  try {
    receipt = await getAdapter(destination.adapter).deliver(destination, shipment.resources, {
      idempotencyKey: work.idempotency_key,
      traceId: job.data.traceId,
      eventType: shipment.eventType,
      defaultTimeoutMs: ctx.config.DELIVERY_TIMEOUT_MS,
      // Every attempt of this round before this one failed retryably: a permanent failure ends the round.
      repeat: work.attempts > 0,
      occurredAt: work.event_received_at.toISOString(),
    });
  } catch (err) {
    const failure = asDeliveryFailure(err, `adapter ${destination.adapter}`);
    if (work.cancelled_referral === 'possibly' && notHeldByReceiver(failure)) {
      return nothingHeldToCancel(ctx, job, work, shipment, failure);
    }
    // A fault of the format's own code (an unexpected error made permanent above) is about this message, not the
    // receiver: it does not count towards a pause.
    const adapterFault = failure !== err && failure.name === 'PermanentDeliveryError';
    if (!adapterFault) {
      await noteFailure(ctx, destination, failure);
    }
    const { final, reason } = finalityOf(failure, job, destination.id, work.delivered_at);
    if (!final) {
      const possiblyReceived = failure.name === 'RetryableDeliveryError' && mayHaveReachedReceiver(failure);
      if (possiblyReceived) {
        // The data may have left (a timeout, a 5xx): audited as a disclosure of unknown outcome, first, as below.
        await ctx.audit.append(work.tenant, shipment.audit(shipment.note, '4', `${reason}${MAY_HAVE_BEEN_RECEIVED}`));
      }
      await recordAttempt(ctx.db, 'delivery', work.id, {
        state: 'pending',
        status: failure.status,
        error: failure.message,
        answer: sealAnswer(ctx.cipher, failure.answer),
        possiblyReceived,
      }).catch((err: unknown) => {
        // The destination failed this attempt, and it counts, though no connection came free to record it.
        if (!isConnectionWaitTimeout(err)) {
          throw err;
        }
        ctx.log.warn(
          { deliveryId: work.id, traceId: job.data.traceId, ...errorFields(err) },
          'could not record a failed attempt',
        );
      });
      throw failure;
    }
    await endAttempt(ctx, job, work, shipment, failure, { outcome: '8', state: 'dead', step: 'deadLetter', reason });
    throw failure.name === 'PermanentDeliveryError' ? failure : new PermanentDeliveryError(reason, failure.status);
  }
  // The data has left. Keep that fact outside PostgreSQL first: if the database is away now, the retry records it
  // instead of sending again.
  const accepted: AcceptedSend = {
    status: receipt.status,
    at: new Date().toISOString(),
    ...shipment.note,
    audited: false,
  };
  await rememberAcceptedSend(ctx.queues, work.idempotency_key, accepted).catch((err: Error) =>
    ctx.log.warn(
      { deliveryId: work.id, traceId: job.data.traceId, ...errorFields(err) },
      'could not note an accepted send in Redis',
    ),
  );
  try {
    return await recordAcceptedSend(ctx, job, work, kind, shipment.audit, accepted, sealAnswer(ctx.cipher, receipt));
  } catch (err) {
    throw new UnrecordedAcceptanceError(err);
  }
}

/**
 * How often the deliver stage decides again right before a send whose child's consents keep changing, before it
 * sends on the last decision (the check after the send still sees a later change, withdrawal-notice.ts).
 */
const MAX_DECIDED_AGAIN = 3;

/** Whether two reads of a child's consents (`consentAt` of each) found the same consents at the same versions. */
function sameConsents(seen: readonly string[], now: readonly string[]): boolean {
  const was = new Set(seen);
  return seen.length === now.length && now.every((c) => was.has(c));
}

/**
 * A 404 with an OperationOutcome issue `not-found`, or a 410 with one `deleted` or `not-found`: the receiver's FHIR
 * server holds nothing the message names. FHIR R4 answers so a conditional patch that matches nothing: to a
 * cancellation, the referral is not there. Not any 404 with an OperationOutcome: a FHIR server answers an unknown
 * base path or resource type (a misconfigured `baseUrl`) so too, with another code or none; that stays a failure.
 */
function notHeldByReceiver(failure: DeliveryFailure): boolean {
  if (failure.name !== 'RetryableDeliveryError' || failure.answer === undefined) {
    return false;
  }
  const codes = failure.status === 404 ? ['not-found'] : failure.status === 410 ? ['deleted', 'not-found'] : [];
  return (summariseAnswer(failure.answer).issues ?? []).some((i) => i.code !== undefined && codes.includes(i.code));
}

/**
 * A cancellation of a referral that only possibly reached the receiver, answered that the receiver does not hold it
 * (`notHeldByReceiver`): there is nothing to cancel, so it is done, not retried into a dead letter. The attempt is
 * audited as a disclosure that did not have its effect (outcome 4), the reason named, and counted. To a referral the
 * receiver accepted, the same answer stays a failure (retried, then a dead letter): the receiver lost what it held.
 */
async function nothingHeldToCancel(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  shipment: Shipment,
  failure: DeliveryFailure,
): Promise<string> {
  const reason = `${work.destination}: ${failure.message}; ${NOT_HELD_BY_RECEIVER}`;
  await endAttempt(ctx, job, work, shipment, failure, {
    outcome: '4',
    state: 'cancelled',
    step: 'nothingToCancel',
    reason,
    error: reason,
  });
  return 'nothing-to-cancel';
}

/**
 * Ends a delivery with the attempt that just failed (counted, its answer kept): audited first, here and on success,
 * so a crash in between leaves an audited attempt that is retried, never a recorded outcome without its audit trail.
 */
async function endAttempt(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  shipment: Shipment,
  failure: DeliveryFailure,
  end: {
    outcome: '4' | '8';
    state: 'dead' | 'cancelled';
    step: 'deadLetter' | 'nothingToCancel';
    reason: string;
    /** What the delivery records as its error; the failure's message unless given. */
    error?: string;
  },
): Promise<void> {
  await ctx.audit.append(work.tenant, shipment.audit(shipment.note, end.outcome, end.reason));
  await finish(ctx, job, {
    deliveryId: work.id,
    inboxId: work.inbox_id,
    deliveryState: end.state,
    step: end.step,
    reason: end.reason,
    status: failure.status,
    error: end.error ?? failure.message,
    answer: sealAnswer(ctx.cipher, failure.answer),
  });
}

/** The receiver accepted the delivery but recording that failed: retried as a recording, never as a send. */
class UnrecordedAcceptanceError extends Error {
  static readonly NAME = 'UnrecordedAcceptanceError';
  override readonly name = UnrecordedAcceptanceError.NAME;
  constructor(cause: unknown) {
    // The cause's class and code, not its message: a database error may quote the values it refused.
    super(`accepted by the receiver, not yet recorded: ${asDeliveryFailure(cause).message}`, { cause });
  }
}

/**
 * Records an accepted send: the disclosure's AuditEvent first (so no crash can leave a disclosure unaudited), then
 * the delivery's outcome, which counts the one attempt that was made. Called right after the send and, when that
 * failed, again by the job's retry with the note kept in Redis.
 */
async function recordAcceptedSend(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  kind: DeliveryKind,
  audit: DisclosureAudit,
  accepted: AcceptedSend,
  answer?: SealedAnswer,
): Promise<string> {
  let notedAudited: Promise<void> | undefined;
  if (!accepted.audited) {
    await ctx.audit.append(work.tenant, audit(accepted, '0'));
    // Noted while the outcome is recorded rather than before: the note is read only by a retry, and there is one only
    // when the recording failed, which this job throws only once the note is written (below). A crash in between is
    // as before: a recording not made leaves the note written or not, and the retry audits only when it is not.
    notedAudited = rememberAcceptedSend(ctx.queues, work.idempotency_key, { ...accepted, audited: true }).catch(
      (err: Error) =>
        ctx.log.warn(
          { deliveryId: work.id, traceId: job.data.traceId, ...errorFields(err) },
          'could not note the audit in Redis',
        ),
    );
  }
  const delivered = {
    deliveryId: work.id,
    inboxId: work.inbox_id,
    deliveryState: 'delivered',
    step: 'delivered',
    reason: `${work.destination}: HTTP ${accepted.status}`,
    status: accepted.status,
    answer,
  } as const;
  try {
    // A child's event is finished with its disclosure's record when nothing in it calls for a notice (nearly always).
    if (!(await kind.recordDisclosed?.(ctx, job, work, accepted, delivered))) {
      await finish(ctx, job, delivered);
    }
  } finally {
    // Never rejects (logged above); awaited before a failed recording is retried, and before the note is dropped.
    await notedAudited;
  }
  forgetAcceptedSend(ctx.queues, work.idempotency_key);
  // Most deliveries find no run of failures to end, and skip the statement. A failure another process counts
  // after this delivery's read is left for the next success to reset. The trial of a half-open destination resumes it.
  if (work.destination_failures > 0 || work.destination_half_open) {
    await recordDestinationSuccess(ctx, work.destination, work.destination_half_open).catch((err: Error) =>
      ctx.log.warn({ destination: work.destination, ...errorFields(err) }, 'could not reset the failure count'),
    );
  }
  return 'delivered';
}

/** The receiver's last answer as the delivery keeps it, to keep when it ends without an attempt. */
function lastAnswerOf(work: DeliveryWork): SealedAnswer | undefined {
  const { response_summary: summary, response_sealed: data, response_key_id: keyId } = work;
  return summary && data && keyId ? { summary, data, keyId } : undefined;
}

/** Ends the delivery (see finishDelivery) and logs the state its event enters, under the job's trace id. */
function finish(ctx: PipelineContext, job: Job<DeliverJobData>, d: DeliveryFinish): Promise<boolean> {
  return finishDeliveryLogged(ctx, { traceId: job.data.traceId, stage: 'deliver' }, d);
}

/** Ends a delivery the practice's events made moot (`cancelled`, `reason` its words), without an attempt. */
function notSent(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  step:
    | 'cancelledByPractice'
    | 'resendCancelledByPractice'
    | 'resentByPractice'
    | 'nothingToCancel'
    | 'supersededByCorrection'
    | 'resendSupersededByCorrection',
  reason: string,
): Promise<boolean> {
  return finish(ctx, job, {
    deliveryId: work.id,
    inboxId: work.inbox_id,
    deliveryState: 'cancelled',
    step,
    reason,
    error: reason,
    // The receiver's last answer stays, for whoever looks into what it holds.
    status: work.last_status ?? undefined,
    answer: lastAnswerOf(work),
    countsAsAttempt: false,
  });
}

/** Health bookkeeping must never hide the delivery's own failure, so its errors are logged and dropped. */
async function noteFailure(
  ctx: PipelineContext,
  destination: Parameters<typeof recordDestinationFailure>[1],
  failure: DeliveryFailure,
): Promise<void> {
  try {
    await recordDestinationFailure(ctx, destination, failure);
  } catch (err) {
    ctx.log.warn({ destination: destination.id, ...errorFields(err) }, 'could not count the failure');
  }
}
