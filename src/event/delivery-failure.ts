import type { Job } from 'bullmq';
import { networkFailureOf, PermanentDeliveryError, RetryableDeliveryError } from '../contracts/delivery-errors';
import { unexpectedErrorFields } from '../kernel/logger';
import { SENT_AGAIN_AFTER } from './states';

/** A failed attempt as the workers record it: the delivery error, or anything else turned into a retryable one. */
export type DeliveryFailure = RetryableDeliveryError | PermanentDeliveryError;

/**
 * Anything that is not one of our two delivery errors, as a delivery error. Its message is never kept: it comes from
 * code that was not written to keep data out of its messages (a destination format's mapping, PostgreSQL quoting the
 * value it refused), and the failure's text is stored (`delivery.last_error`), logged, and shown to the practice and
 * the operator. The text is the error's class and code, `source` and the first frame of its stack: where to look.
 *
 * `source` (`adapter webhook`) says the error came out of an adapter's `deliver`. There, a network error, a timeout or
 * a TLS/certificate failure (an expired or untrusted certificate: the receiver's outage) the adapter did not classify
 * is retried, and counts towards a pause; anything else is a fault of the format's own code, which fails the same way
 * on every attempt: permanent, a dead letter at once that an operator replays once the format is fixed. Without a
 * `source` (the database, the decision before the send) it is retried as before: such faults are mostly passing.
 */
export function asDeliveryFailure(err: unknown, source?: string): DeliveryFailure {
  const e = err as Partial<Error> | undefined;
  if (e?.name === 'RetryableDeliveryError' || e?.name === 'PermanentDeliveryError') {
    return err as DeliveryFailure;
  }
  const { error, code, at } = unexpectedErrorFields(err);
  const text =
    `unexpected ${error}${code ? ` (${code})` : ''}${source ? ` in ${source}` : ''}` + (at[0] ? ` at ${at[0]}` : '');
  return source && !isTransportError(err) ? new PermanentDeliveryError(text) : new RetryableDeliveryError(text);
}

/**
 * Whether an error means the exchange did not complete (a socket error, a timeout, a TLS/certificate failure), not that
 * our code is wrong.
 */
export function isTransportError(err: unknown): boolean {
  const e = err as (Partial<Error> & { code?: unknown; cause?: { code?: unknown } }) | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return true;
  }
  return [e?.code, e?.cause?.code].some((c) => typeof c === 'string' && networkFailureOf(c) !== undefined);
}

/** Whether this failure ends the delivery (permanent, or the last attempt), and the reason to record if so. */
export function finalityOf(
  failure: DeliveryFailure,
  job: Pick<Job, 'attemptsMade' | 'opts'>,
  receiver: string,
  deliveredBefore?: Date | null,
): { final: boolean; reason: string } {
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const final = failure.name !== 'RetryableDeliveryError' || lastAttempt;
  const exhausted = final && failure.name === 'RetryableDeliveryError' ? ' (retries exhausted)' : '';
  // A redelivery's dead letter (or its replay's): the event's history says the receiver had it, and since when.
  const resent = deliveredBefore ? `${SENT_AGAIN_AFTER}${deliveredBefore.toISOString()}` : '';
  return { final, reason: `${receiver}: ${failure.message}${exhausted}${resent}` };
}
