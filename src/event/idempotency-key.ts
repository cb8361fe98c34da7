import { createHash } from 'node:crypto';

/** Stable per (event, destination): a receiver sees the same key however often we retry, replay or re-decide. */
export function idempotencyKeyOf(inboxId: string, destinationId: string): string {
  return createHash('sha256').update(`${inboxId}|${destinationId}`).digest('base64url').slice(0, 32);
}
