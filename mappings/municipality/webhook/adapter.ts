import { toNotificationBundle } from './to-notification';
import { deliveryHeaders, timeoutOf, type DeliveryAdapter, type DestinationFormat } from '../shared/adapter';
import { PermanentDeliveryError } from '../../../src/contracts/delivery-errors';
import { defaultHttpDeps, deliverRequest, probeByHead } from '../shared/transport';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './signing';

/**
 * Signed webhook: POSTs a FHIR subscription-notification Bundle (R4 Backport shape) to the base URL, signed with
 * HMAC-SHA256 over `<timestamp>.<body>` (headers X-Jeugdbrug-Timestamp and X-Jeugdbrug-Signature) and carrying an
 * Idempotency-Key. Each attempt is signed afresh, so a retry hours later still passes the receiver's time check.
 * Probe: `HEAD <baseUrl>`, up when the server answers at all (see `probeByHead`).
 */
export const webhookAdapter: DeliveryAdapter = {
  name: 'webhook',

  async deliver(endpoint, resources, meta, deps) {
    if (endpoint.auth.type !== 'hmac') {
      throw new PermanentDeliveryError(`webhook ${endpoint.id} has no hmac secret configured`);
    }
    const env = (deps ?? defaultHttpDeps).env;
    const secret = env[endpoint.auth.secretEnv];
    if (!secret) {
      throw new PermanentDeliveryError(`environment variable ${endpoint.auth.secretEnv} (webhook secret) is not set`);
    }
    const now = new Date();
    const body = JSON.stringify(
      toNotificationBundle(resources, {
        idempotencyKey: meta.idempotencyKey,
        eventType: meta.eventType,
        subscriptionId: endpoint.id,
        timestamp: now.toISOString(),
      }),
    );
    const timestamp = String(Math.floor(now.getTime() / 1000));
    return await deliverRequest(
      endpoint,
      {
        method: 'POST',
        url: endpoint.baseUrl,
        headers: {
          'content-type': 'application/fhir+json',
          ...deliveryHeaders(meta),
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        },
        body,
      },
      timeoutOf(endpoint, meta),
      deps,
    );
  },

  probe(endpoint, timeoutMs, deps) {
    return probeByHead(endpoint, timeoutMs, deps);
  },
};

/** A webhook is only trustworthy when signed, so it takes signing and nothing else. */
export const webhookFormat: DestinationFormat = {
  adapter: webhookAdapter,
  authTypes: ['hmac'],
  servesPractices: true,
};
