import { createHmac, timingSafeEqual } from 'node:crypto';

/** Headers of a signed webhook request. */
export const TIMESTAMP_HEADER = 'X-Jeugdbrug-Timestamp';
export const SIGNATURE_HEADER = 'X-Jeugdbrug-Signature';

/** How far a receiver should let a timestamp lie from its own clock, so a captured request cannot be replayed. */
export const DEFAULT_TOLERANCE_S = 300;

/**
 * `sha256=<hex>`: HMAC-SHA256, keyed with the shared secret (its UTF-8 bytes), over `<timestamp>.<body>`. The
 * timestamp is inside the signature so that it cannot be changed to make an old request look new.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does (docs/delivery.md shows the same in a few lines): recompute the signature over the raw
 * body, compare in constant time, and refuse timestamps outside the tolerance.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  opts: { toleranceS?: number; nowMs?: number } = {},
): boolean {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) {
    return false;
  }
  const ageS = Math.abs((opts.nowMs ?? Date.now()) / 1000 - Number(timestamp));
  if (ageS > (opts.toleranceS ?? DEFAULT_TOLERANCE_S)) {
    return false;
  }
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
