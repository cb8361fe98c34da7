import { createHash, randomUUID } from 'node:crypto';

/** Stable per (event, destination): a receiver sees the same key however often we retry, replay or re-decide. */
export function idempotencyKeyOf(inboxId: string, destinationId: string): string {
  return createHash('sha256').update(`${inboxId}|${destinationId}`).digest('base64url').slice(0, 32);
}

/** The identity of a new delivery of an event to a destination: a fresh id, and the event's stable key for it. */
export function newDelivery(
  inboxId: string,
  destinationId: string,
): { id: string; inboxId: string; destination: string; idempotencyKey: string } {
  return {
    id: randomUUID(),
    inboxId,
    destination: destinationId,
    idempotencyKey: idempotencyKeyOf(inboxId, destinationId),
  };
}
