import type { Job } from 'bullmq';
import type { AuditEvent } from '@medplum/fhirtypes';
import { PermanentDeliveryError, RetryableDeliveryError } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';
import { recordAttempt } from './event-store';

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
 * A send to a practice's HIS endpoint that failed (a status update, a trajectory event): audited first when it ends
 * the send (an outcome is never recorded without its audit trail), recorded as an attempt, and thrown again for
 * BullMQ: as it was to be retried, or as permanent when it was the last chance.
 */
export async function failPracticeSend(
  ctx: Pick<PipelineContext, 'db' | 'audit'>,
  job: Pick<Job, 'attemptsMade' | 'opts'>,
  send: {
    readonly table: 'feedback' | 'trajectory_event';
    readonly id: string;
    readonly tenant: string;
    readonly receiver: string;
    /** The disclosure's AuditEvent for a send that ended in a dead letter. */
    readonly deadLetterAudit: (reason: string) => AuditEvent;
  },
  err: unknown,
): Promise<never> {
  const failure = asDeliveryFailure(err);
  const { final, reason } = finalityOf(failure, job, send.receiver);
  if (final) {
    await ctx.audit.append(send.tenant, send.deadLetterAudit(reason));
  }
  await recordAttempt(ctx.db, send.table, send.id, {
    state: final ? 'dead' : 'pending',
    status: failure.status,
    error: failure.message,
    responseBody: failure.responseBody,
  });
  if (!final) {
    throw failure;
  }
  throw failure.name === 'PermanentDeliveryError'
    ? failure
    : new PermanentDeliveryError(reason, failure.status, failure.responseBody);
}
