import { toNotificationBundle } from './to-notification';
import { postMessage, type DeliveryAdapter, type DestinationFormat } from '../shared/adapter';
import { PermanentDeliveryError } from '../../../src/contracts/delivery-errors';
import { defaultHttpDeps, probeByHead } from '../shared/transport';
import { signWebhook } from './signing';

/**
 * Signed webhook: POSTs a FHIR subscription-notification Bundle (R4 Backport shape) to the base URL, signed per
 * Standard Webhooks (`webhook-id` = the idempotency key, `webhook-timestamp`, `webhook-signature`; see signing.ts) and
 * carrying an Idempotency-Key. Each attempt is signed afresh, so a retry hours later still passes the receiver's time check.
 * Probe: `HEAD <baseUrl>`, the URL deliveries are POSTed to, up when that route answers (see `probeByHead`).
 */
const webhookAdapter: DeliveryAdapter = {
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
    let signed: Record<string, string>;
    const body = JSON.stringify(
      toNotificationBundle(resources, {
        idempotencyKey: meta.idempotencyKey,
        eventType: meta.eventType,
        subscriptionId: endpoint.id,
        occurredAt: meta.occurredAt ?? now.toISOString(),
        timestamp: now.toISOString(),
      }),
    );
    try {
      signed = signWebhook(secret, meta.idempotencyKey, now, body);
    } catch {
      // Retrying cannot fix a secret that is not the base64 a `whsec_` secret must be.
      throw new PermanentDeliveryError(`environment variable ${endpoint.auth.secretEnv} is not a valid whsec_ secret`);
    }
    return await postMessage(endpoint, meta, deps, {
      url: endpoint.baseUrl,
      mediaType: 'application/fhir+json',
      headers: signed,
      body,
    });
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
  withdrawalNotices: true,
};
