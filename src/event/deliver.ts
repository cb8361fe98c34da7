import type { Job } from 'bullmq';
import { disclosure, SYSTEM_WORKER } from '../audit/audit-events';
import { getAdapter } from '../../mappings/municipality/index';
import { PermanentDeliveryError, RetryableDeliveryError } from '../contracts/delivery-errors';
import type { CanonicalEvent } from '../contracts/his-dialect';
import { openEvent, PayloadPurgedError } from './stored-event';
import { PAYLOAD_PURGED } from './states';
import { minimise } from '../policy/minimise';
import { finishDeliveryLogged } from './event-log';
import { recordAttempt, tryGetDeliveryWork, type DeliveryWork } from './event-store';
import type { PipelineContext } from './context';
import { decideAndRecord, purposeOf, reasonText } from './decide';
import { recordDestinationFailure, recordDestinationSuccess } from './destination-health';
import type { DeliverJobData } from './queues';
import { errorFields } from '../kernel/logger';

/** A failed attempt as the workers record it: the delivery error, or anything else turned into a retryable one. */
export type DeliveryFailure = RetryableDeliveryError | PermanentDeliveryError;

/**
 * Anything an adapter throws that is not one of our two delivery errors is a fault of ours (a bug, a mapping
 * crash) or of the platform; retried like a network error, it becomes a dead letter if it keeps happening.
 */
export function asDeliveryFailure(err: unknown): DeliveryFailure {
  const e = err as Partial<Error> | undefined;
  if (e?.name === 'RetryableDeliveryError' || e?.name === 'PermanentDeliveryError') {
    return err as DeliveryFailure;
  }
  return new RetryableDeliveryError(`unexpected ${e?.name ?? 'error'}: ${e?.message ?? String(err)}`);
}

/** Whether this failure ends the delivery (permanent, or the last attempt), and the reason to record if so. */
export function finalityOf(
  failure: DeliveryFailure,
  job: Pick<Job, 'attemptsMade' | 'opts'>,
  receiver: string,
): { final: boolean; reason: string } {
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const final = failure.name !== 'RetryableDeliveryError' || lastAttempt;
  const exhausted = final && failure.name === 'RetryableDeliveryError' ? ' (retries exhausted)' : '';
  return { final, reason: `${receiver}: ${failure.message}${exhausted}` };
}

/**
 * Deliver stage: decide again right before sending (a consent may have been withdrawn since mapping), cut the
 * resources down to the agreement's allow-list, send them through the destination's adapter, and record the
 * disclosure. Transient failures throw to be retried; permanent ones and the last attempt become a dead letter
 * that an operator can replay. Every attempt also feeds the destination's health (pause after N failures).
 */
export async function processDeliverJob(ctx: PipelineContext, job: Job<DeliverJobData>): Promise<string> {
  const finish = finishing(ctx, job);
  const work = await tryGetDeliveryWork(ctx.db, job.data.deliveryId);
  if (!work || work.state !== 'pending') {
    return 'skipped';
  }
  try {
    return await deliverOnce(ctx, job, work);
  } catch (err) {
    // Whatever failed outside the send itself (the database, the decision, a bug) still ends the delivery when
    // this was its last chance: a row left `pending` behind a failed job would be re-enqueued for ever.
    const failure = asDeliveryFailure(err);
    const { final, reason } = finalityOf(failure, job, work.destination);
    if (final) {
      await finish({
        deliveryId: work.id,
        inboxId: work.inbox_id,
        deliveryState: 'dead',
        step: 'deadLetter',
        reason,
        error: failure.message,
        countsAsAttempt: false,
      }).catch((e: Error) =>
        ctx.log.error({ deliveryId: work.id, ...errorFields(e) }, 'could not record a dead letter'),
      );
    }
    throw err;
  }
}

async function deliverOnce(ctx: PipelineContext, job: Job<DeliverJobData>, work: DeliveryWork): Promise<string> {
  const finish = finishing(ctx, job);
  const destination = ctx.registry.destinations.find((d) => d.id === work.destination);
  if (!destination) {
    throw new PermanentDeliveryError(`destination ${work.destination} is no longer configured`);
  }
  let event: CanonicalEvent;
  try {
    event = openEvent(ctx.cipher, work);
  } catch (err) {
    if (err instanceof PayloadPurgedError) {
      await finish({
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
  const row = { id: work.inbox_id, tenant: work.tenant };
  const purpose = purposeOf(event.eventType) ?? 'referral';
  const decision = await decideAndRecord(ctx, row, event, purpose, 'deliver');
  if (decision.effect === 'deny') {
    const reason = `denied at delivery: ${reasonText(decision)}`;
    await finish({
      deliveryId: work.id,
      inboxId: row.id,
      deliveryState: 'cancelled',
      step: 'deniedAtDelivery',
      reason,
      error: reason,
    });
    return 'denied';
  }
  const resources = minimise([...event.resources], decision.obligations.allowedFields);
  const disclosed = resources.map((r) => `${r.resourceType}/${r.id ?? ''}`);
  const disclosureAudit = {
    actor: SYSTEM_WORKER,
    patientBsn: event.patient.bsn,
    inboxId: row.id,
    municipality: event.municipalityCode,
    destination: destination.id,
    purpose,
    resources: disclosed,
    agreement: decision.agreement,
    consentIds: decision.consentIds,
  };

  // Only the send is inside the try: a database hiccup after a successful send must be retried as ours, not
  // turned into a dead letter as if the receiver had refused.
  let receipt;
  try {
    receipt = await getAdapter(destination.adapter).deliver(destination, resources, {
      idempotencyKey: work.idempotency_key,
      traceId: job.data.traceId,
      eventType: event.eventType,
      defaultTimeoutMs: ctx.config.DELIVERY_TIMEOUT_MS,
    });
  } catch (err) {
    const failure = asDeliveryFailure(err);
    await noteFailure(ctx, destination, failure);
    const { final, reason } = finalityOf(failure, job, destination.id);
    if (!final) {
      await recordAttempt(ctx.db, 'delivery', work.id, {
        state: 'pending',
        status: failure.status,
        error: failure.message,
        responseBody: failure.responseBody,
      });
      throw failure;
    }
    // Audit first, here and on success: a crash in between then leaves an audited attempt that is retried, never
    // a recorded outcome without its audit trail.
    await ctx.audit.append(row.tenant, disclosure({ ...disclosureAudit, outcome: '8', outcomeDesc: reason }));
    await finish({
      deliveryId: work.id,
      inboxId: row.id,
      deliveryState: 'dead',
      step: 'deadLetter',
      reason,
      status: failure.status,
      error: failure.message,
      responseBody: failure.responseBody,
    });
    throw failure.name === 'PermanentDeliveryError'
      ? failure
      : new PermanentDeliveryError(reason, failure.status, failure.responseBody);
  }
  // The data has left: the disclosure is recorded before anything else, so no crash can leave it unaudited.
  await ctx.audit.append(row.tenant, disclosure({ ...disclosureAudit, outcome: '0' }));
  await finish({
    deliveryId: work.id,
    inboxId: row.id,
    deliveryState: 'delivered',
    step: 'delivered',
    reason: `${destination.id}: HTTP ${receipt.status}`,
    status: receipt.status,
    responseBody: receipt.body,
  });
  await recordDestinationSuccess(ctx, destination.id).catch((err: Error) =>
    ctx.log.warn({ destination: destination.id, ...errorFields(err) }, 'could not reset the failure count'),
  );
  return 'delivered';
}

/** Ends the delivery (see finishDelivery) and logs the state its event enters, under the job's trace id. */
function finishing(ctx: PipelineContext, job: Job<DeliverJobData>) {
  return (d: Parameters<typeof finishDeliveryLogged>[2]) =>
    finishDeliveryLogged(ctx, { traceId: job.data.traceId, stage: 'deliver' }, d);
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
