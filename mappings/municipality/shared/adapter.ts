import type { Resource } from '@medplum/fhirtypes';
import type { AuthType, Endpoint } from '../../../src/contracts/destination';
import type { DeliveryEventType } from '../../../src/contracts/delivery-event-type';
import { deliverRequest, type DeliveryReceipt, type HttpDeps } from './transport';

export type { DeliveryReceipt } from './transport';

/** What every delivery needs besides the resources. */
export interface DeliveryMeta {
  /** Stable per (event, receiver): the same on every retry and replay, so the receiver can drop duplicates. */
  readonly idempotencyKey: string;
  readonly traceId: string;
  readonly eventType: DeliveryEventType;
  /** Used when the endpoint sets no `timeoutMs` of its own (DELIVERY_TIMEOUT_MS). */
  readonly defaultTimeoutMs?: number | undefined;
  /**
   * Whether an earlier attempt of this delivery was made and failed retryably (a timeout, a 5xx): a 409 then says the
   * receiver is still processing that attempt, and is retried (`isRetryableStatus`).
   */
  readonly repeat?: boolean | undefined;
  /**
   * When the event occurred (ISO 8601): the same on every attempt and replay, unlike the moment of sending. The
   * webhook's `notification-event.timestamp`; the time of sending when absent.
   */
  readonly occurredAt?: string | undefined;
}

/** The headers every delivery carries, whatever its format: the idempotency key and the trace id. */
export function deliveryHeaders(meta: Pick<DeliveryMeta, 'idempotencyKey' | 'traceId'>): Record<string, string> {
  return { 'idempotency-key': meta.idempotencyKey, 'x-request-id': meta.traceId };
}

/** Outcome of a probe of a paused receiver. */
export interface ProbeResult {
  readonly up: boolean;
  /** Status or error, for the operator (never a response body). */
  readonly detail: string;
}

/**
 * One way of delivering to a receiver. `deliver` maps the (already minimised) resources with its mapping under
 * `mappings/municipality/<adapter>/`, sends them, and returns the receipt or throws a RetryableDeliveryError or
 * PermanentDeliveryError (told apart by `name`). `probe` asks whether a paused receiver is back, cheaply and
 * without sending any data.
 */
export interface DeliveryAdapter {
  readonly name: string;
  deliver(
    endpoint: Endpoint,
    resources: readonly Resource[],
    meta: DeliveryMeta,
    deps?: HttpDeps,
  ): Promise<DeliveryReceipt>;
  probe(endpoint: Endpoint, timeoutMs: number, deps?: HttpDeps): Promise<ProbeResult>;
}

/** Used when neither the endpoint nor the caller gives a timeout. */
const FALLBACK_TIMEOUT_MS = 10_000;

export function timeoutOf(endpoint: Endpoint, meta: Pick<DeliveryMeta, 'defaultTimeoutMs'>): number {
  return endpoint.timeoutMs ?? meta.defaultTimeoutMs ?? FALLBACK_TIMEOUT_MS;
}

/**
 * A destination format: its adapter and what configuration it takes. Each folder under mappings/municipality/
 * exports one, and mappings/municipality/index.ts lists them.
 */
export interface DestinationFormat {
  readonly adapter: DeliveryAdapter;
  /** The authentication types a receiver of this format may use. */
  readonly authTypes: readonly AuthType[];
  /** Whether a practice's HIS can receive status updates (feedback) in this format. */
  readonly servesPractices: boolean;
  /**
   * Whether the format carries a withdrawal notice (a FHIR Consent telling the municipality to stop processing what it
   * received: src/event/withdrawal-notice.ts). One that does not gets a dead letter saying so, never a stand-in.
   */
  readonly withdrawalNotices: boolean;
}

/**
 * POSTs one message: JSON of the format's media type (asked for back too when `accept` is set), with the headers
 * every delivery carries and any of the format's own (a signature), within the endpoint's timeout.
 */
export function postMessage(
  endpoint: Endpoint,
  meta: DeliveryMeta,
  deps: HttpDeps | undefined,
  m: { url: string; mediaType: string; accept?: boolean; headers?: Record<string, string>; body: string },
): Promise<DeliveryReceipt> {
  return deliverRequest(
    endpoint,
    {
      method: 'POST',
      url: m.url,
      headers: {
        'content-type': m.mediaType,
        ...(m.accept ? { accept: m.mediaType } : {}),
        ...deliveryHeaders(meta),
        ...m.headers,
      },
      body: m.body,
    },
    timeoutOf(endpoint, meta),
    deps,
    { repeat: meta.repeat },
  );
}
