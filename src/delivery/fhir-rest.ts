import type { Bundle } from '@medplum/fhirtypes';
import type { Destination } from './destination';
import { isRetryableStatus, parseRetryAfter, PermanentDeliveryError, RetryableDeliveryError } from './errors';

export interface DeliveryReceipt {
  readonly status: number;
  readonly body: string;
}

/**
 * POSTs a transaction Bundle to the destination's FHIR base URL with an `Idempotency-Key`, so a receiver can drop
 * the duplicates that at-least-once delivery may send. Throws a Retryable or Permanent delivery error.
 */
export async function postTransaction(
  destination: Destination,
  bundle: Bundle,
  headers: { idempotencyKey: string; traceId: string },
  timeoutMs: number,
): Promise<DeliveryReceipt> {
  const auth = destination.auth.type === 'bearer' ? process.env[destination.auth.tokenEnv] : undefined;
  let res: Response;
  try {
    res = await fetch(destination.baseUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        'idempotency-key': headers.idempotencyKey,
        'x-request-id': headers.traceId,
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      },
      body: JSON.stringify(bundle),
      signal: AbortSignal.timeout(destination.timeoutMs ?? timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    throw new RetryableDeliveryError(e.name === 'TimeoutError' ? 'timeout' : `network error: ${networkCause(e)}`);
  }
  let body: string;
  try {
    body = await res.text();
  } catch (err) {
    throw new RetryableDeliveryError(
      `connection lost while reading the response: ${networkCause(err as Error)}`,
      res.status,
    );
  }
  if (res.ok) {
    return { status: res.status, body };
  }
  if (isRetryableStatus(res.status)) {
    throw new RetryableDeliveryError(
      `HTTP ${res.status}`,
      res.status,
      parseRetryAfter(res.headers.get('retry-after')),
      body,
    );
  }
  throw new PermanentDeliveryError(`HTTP ${res.status}`, res.status, body);
}

/** fetch hides the socket error in `cause`; its code (ECONNREFUSED, ...) is what an operator needs. */
function networkCause(err: Error): string {
  const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
