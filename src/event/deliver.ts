import type { Job } from 'bullmq';
import { disclosure, SYSTEM_WORKER } from '../audit/audit-events';
import { getAdapter } from '../../mappings/municipality/index';
import { PermanentDeliveryError, RetryableDeliveryError } from '../contracts/delivery-errors';
import { mapStoredEvent } from './stored-event';
import { minimise } from '../policy/minimise';
import { finishDelivery, recordAttempt, tryGetDelivery } from './delivery-store';
import { tryGetInboxRow } from './inbox-store';
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
  const delivery = await tryGetDelivery(ctx.db, job.data.deliveryId);
  if (!delivery || delivery.state !== 'pending') {
    return 'skipped';
  }
  const row = await tryGetInboxRow(ctx.db, delivery.inbox_id);
  const destination = ctx.registry.destinations.find((d) => d.id === delivery.destination);
  if (!row || !destination) {
    throw new PermanentDeliveryError(`destination ${delivery.destination} is no longer configured`);
  }
  const event = mapStoredEvent(ctx.cipher, row, { validate: false });
  const purpose = purposeOf(event.eventType) ?? 'referral';
  const decision = await decideAndRecord(ctx, row, event, purpose, 'deliver');
  if (decision.effect === 'deny') {
    const reason = `denied at delivery: ${reasonText(decision)}`;
    await finishDelivery(ctx.db, {
      deliveryId: delivery.id,
      inboxId: row.id,
      deliveryState: 'cancelled',
      inboxState: 'denied',
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
      idempotencyKey: delivery.idempotency_key,
      traceId: job.data.traceId,
      eventType: event.eventType,
      defaultTimeoutMs: ctx.config.DELIVERY_TIMEOUT_MS,
    });
  } catch (err) {
    const failure = asDeliveryFailure(err);
    await noteFailure(ctx, destination, failure);
    const { final, reason } = finalityOf(failure, job, destination.id);
    if (!final) {
      await recordAttempt(ctx.db, delivery.id, {
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
    await finishDelivery(ctx.db, {
      deliveryId: delivery.id,
      inboxId: row.id,
      deliveryState: 'dead',
      inboxState: 'dead',
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
  await finishDelivery(ctx.db, {
    deliveryId: delivery.id,
    inboxId: row.id,
    deliveryState: 'delivered',
    inboxState: 'delivered',
    reason: `${destination.id}: HTTP ${receipt.status}`,
    status: receipt.status,
    responseBody: receipt.body,
  });
  await recordDestinationSuccess(ctx, destination.id).catch((err: Error) =>
    ctx.log.warn({ destination: destination.id, ...errorFields(err) }, 'could not reset the failure count'),
  );
  return 'delivered';
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
