import { Webhook } from 'standardwebhooks';

/**
 * Webhooks are signed per the Standard Webhooks specification (https://www.standardwebhooks.com): headers
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` over
 * `<id>.<timestamp>.<body>`). Receivers verify with that specification's libraries (npm `standardwebhooks`, and
 * the same in Python, Go, Java, Ruby, PHP, Rust, C#) instead of a verifier of their own; docs/delivery.md shows how.
 */
const WEBHOOK_ID_HEADER = 'webhook-id';
const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/** The specification's secret format: `whsec_` followed by the base64 of the key bytes. */
const STANDARD_SECRET_PREFIX = 'whsec_';

/**
 * The signer for a secret as the operator set it: a `whsec_…` secret is decoded as the specification says; any other
 * value is used as raw key bytes (the library's `format: 'raw'`), so secrets configured before the switch keep working.
 * Throws when a `whsec_` secret is not valid base64.
 */
export function standardWebhook(secret: string): Webhook {
  return secret.startsWith(STANDARD_SECRET_PREFIX) ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
}

/** The three Standard Webhooks headers of one attempt; `id` stays the same across retries of one message. */
export function signWebhook(secret: string, id: string, at: Date, body: string): Record<string, string> {
  return {
    [WEBHOOK_ID_HEADER]: id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(Math.floor(at.getTime() / 1000)),
    [WEBHOOK_SIGNATURE_HEADER]: standardWebhook(secret).sign(id, at, body),
  };
}
