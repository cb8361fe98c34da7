import { createHash, randomUUID } from 'node:crypto';
import { deterministicId } from '../kernel/fhir/ids';

/**
 * Stable per (event, destination), and per disclosure for a follow-up notice: a receiver sees the same key however
 * often we retry, replay or re-decide.
 */
export function idempotencyKeyOf(inboxId: string, destinationId: string, ...more: string[]): string {
  return createHash('sha256')
    .update([inboxId, destinationId, ...more].join('|'))
    .digest('base64url')
    .slice(0, 32);
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

/**
 * The identity of a follow-up withdrawal notice (withdrawal-notice.ts): the consent event's notice to a destination
 * for one disclosure recorded after that event's notice to it was created. Both made from the consent event, the
 * destination and the disclosure, so the two sides of the handshake that may find it make the same one; the key
 * differs from the first notice's, and with it the Consent's id and identifier, so a receiver does not take the
 * follow-up for a repeat of the first.
 */
export function followUpNoticeOf(
  inboxId: string,
  destinationId: string,
  disclosureId: string,
): { id: string; idempotencyKey: string } {
  return {
    id: deterministicId('withdrawal-follow-up', inboxId, destinationId, disclosureId),
    idempotencyKey: idempotencyKeyOf(inboxId, destinationId, disclosureId),
  };
}
