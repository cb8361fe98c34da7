import { UnrecoverableError } from 'bullmq';

/**
 * What a receiver answered, as it came. Personal data as often as not (an error page echoing the request): the event
 * stage keeps it only encrypted, and shows operators a summary (src/event/receiver-answer.ts).
 */
export interface ReceiverAnswer {
  readonly body: string;
  /** The `Content-Type` header as sent, when there was one. */
  readonly contentType?: string | undefined;
}

/**
 * Delivery failures. They cross the queue (BullMQ serialises errors), so they are told apart by `name`, not by
 * `instanceof`: a permanent one is an UnrecoverableError, which BullMQ never retries.
 */
export class RetryableDeliveryError extends Error {
  override readonly name = 'RetryableDeliveryError';
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    readonly answer?: ReceiverAnswer,
  ) {
    super(message);
  }
}

export class PermanentDeliveryError extends UnrecoverableError {
  override readonly name = 'PermanentDeliveryError';
  constructor(
    message: string,
    readonly status?: number,
    readonly answer?: ReceiverAnswer,
  ) {
    super(message);
  }
}

/**
 * Whether a failed attempt says something about the destination as a whole (it is down, overloaded, or refuses
 * our credentials) rather than about this one message (a 400 or 422 on its content). Only the former count
 * towards pausing a destination. A permanent error without a status is ours: a secret missing from the
 * environment or a token endpoint refusing the client, which every message to that destination will hit.
 */
export function isDestinationFailure(err: { name: string; status?: number | undefined }): boolean {
  if (err.name === 'RetryableDeliveryError') {
    return true;
  }
  return (
    err.name === 'PermanentDeliveryError' && (err.status === undefined || err.status === 401 || err.status === 403)
  );
}

/** Network errors, timeouts, 408, 429 and 5xx are worth retrying; any other 4xx will fail the same way again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** `Retry-After` as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) {
    return undefined;
  }
  if (/^\d+$/.test(value.trim())) {
    return Number(value) * 1000;
  }
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
