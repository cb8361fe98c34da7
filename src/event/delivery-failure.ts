import type { Job } from 'bullmq';
import type { PermanentDeliveryError } from '../contracts/delivery-errors';
import { RetryableDeliveryError } from '../contracts/delivery-errors';

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
