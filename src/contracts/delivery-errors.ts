import { UnrecoverableError } from 'bullmq';

/**
 * What a receiver answered, as it came. Personal data as often as not (an error page echoing the request): the event
 * stage keeps it only encrypted, and shows operators a summary (src/event/receiver-answer.ts).
 */
export interface ReceiverAnswer {
  readonly body: string;
  /** The `Content-Type` header as sent, when there was one. */
  readonly contentType?: string | undefined;
  /** A redirect's (3xx) `Location` header as sent: where the receiver says it moved. */
  readonly location?: string | undefined;
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
    /** Known not to have reached the receiver: no connection was made, or the token endpoint failed first. */
    readonly neverSent = false,
  ) {
    super(message);
  }
}

/** A retryable failure known not to have reached the receiver (`neverSent`): no connection, or the token failed first. */
export function neverSentError(message: string): RetryableDeliveryError {
  return new RetryableDeliveryError(message, undefined, undefined, undefined, true);
}

/**
 * What a network error's code (Node.js's socket, DNS and TLS codes, undici's own) says of the request it broke off:
 * `never-left` when it proves the request was never written (no connection was made, or the TLS handshake failed,
 * which comes before any of the request is sent), `may-have-left` when the exchange broke off once connected (the
 * request may have been written, in part or whole), undefined when it is no network error's code. An undici code not
 * named here counts as `may-have-left`: in doubt a message counts as received (`mayHaveReachedReceiver`).
 */
export function networkFailureOf(code: string): 'never-left' | 'may-have-left' | undefined {
  if (NEVER_LEFT.has(code)) {
    return 'never-left';
  }
  return MAY_HAVE_LEFT.has(code) || code.startsWith('UND_ERR_') ? 'may-have-left' : undefined;
}

/** No connection (refused, no such host, no route, connect timeout), or a TLS handshake refused before sending. */
const NEVER_LEFT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  // The receiver's certificate refused, or no TLS at all where the destination says https.
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The connection reset, aborted, timed out or closed while the request or its answer was under way. */
const MAY_HAVE_LEFT: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE']);

/**
 * Whether a retryable failure may still have reached the receiver, which may have stored what it was sent: no
 * answer at all (a timeout, a connection lost after the request was written), an answer lost while it was read, a
 * 5xx (a receiver or gateway failing after the message was taken in), or a 409 to a repeat (the receiver is busy with
 * an earlier copy). Not when no connection was made (`neverSent`), nor for 408, 429, 503 (unavailable: not handled,
 * RFC 9110 15.6.4) and the route-missing answers (404, 405, 410, 501), which say the message was not taken in. In doubt it counts as received: a cancellation sent
 * for a referral the receiver does not know costs less than a referral it holds that is never cancelled.
 */
export function mayHaveReachedReceiver(failure: RetryableDeliveryError): boolean {
  const status = failure.status;
  if (failure.neverSent) {
    return false;
  }
  return status === undefined || status < 300 || status === 409 || (status >= 500 && status !== 501 && status !== 503);
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
 * Whether a failed attempt says something about the destination as a whole (it is down, overloaded, its route is
 * missing, or it refuses our credentials) rather than about this one message (a 400 or 422 on its content). Only the
 * former count towards pausing a destination. A permanent error without a status is ours: a secret missing from the
 * environment or a token endpoint refusing the client, which every message to that destination will hit. A 409 is
 * retried only as the answer to a repeat (`isRetryableStatus`): the receiver is busy with the earlier attempt, which
 * says it works.
 */
export function isDestinationFailure(err: { name: string; status?: number | undefined }): boolean {
  if (err.name === 'RetryableDeliveryError') {
    return err.status !== 409;
  }
  return (
    err.name === 'PermanentDeliveryError' && (err.status === undefined || err.status === 401 || err.status === 403)
  );
}

/**
 * 404, 405 and 410 say the route is missing or wrong (a gateway or OpenHIM core without the channel, a reverse proxy
 * while the app is redeployed), not that this message is: every message to that URL would get the same answer until
 * someone fixes the route. 501 (a 5xx) says the same.
 */
const ROUTE_MISSING: ReadonlySet<number> = new Set([404, 405, 410]);

/**
 * Worth retrying: network errors and timeouts (thrown apart), 408, 429, 5xx, and the route-missing answers above; any
 * other 4xx will fail the same way again. A 409 is retried when it answers a `repeat`, an attempt after an earlier one
 * of the same delivery failed retryably (a timeout, say, which the receiver may still be processing): an
 * IETF-idempotency receiver (draft-ietf-httpapi-idempotency-key-header) answers 409 while a request with the same
 * Idempotency-Key is in flight. To a first attempt, a 409 is about the message and stays permanent.
 */
export function isRetryableStatus(status: number, opts: { repeat?: boolean } = {}): boolean {
  return (
    status === 408 || status === 429 || status >= 500 || ROUTE_MISSING.has(status) || (status === 409 && !!opts.repeat)
  );
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
