import { createHash } from 'node:crypto';
import { conflict, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { canonicalizeJcs } from '../audit/chain';
import type { Logger } from 'pino';
import type { PayloadCipher } from '../kernel/payload-crypto';
import { errorFields } from '../kernel/logger';
import type { CanonicalEvent, HisReferralAddress, RawRecord } from '../contracts/his-dialect';
import { tryGetDialect } from '../../mappings/his/index';
import type { NewEventWithIdentifier, SealedEvent } from './event-store';
import { PAYLOAD_PURGED } from './states';

/** What the inbox keeps of an event (encrypted): the record as the HIS sent it, so mapping can be re-run. */
export interface StoredRecord {
  readonly dialect: string;
  readonly record: RawRecord;
}

/** Thrown when retention removed an event's content before it was finished: a named outcome, never retried. */
export class PayloadPurgedError extends OperationOutcomeError {
  constructor() {
    super(conflict(PAYLOAD_PURGED));
    this.name = 'PayloadPurgedError';
  }
}

/** The encrypted parts of a newly received event: its record as sent and the canonical event mapped from it. */
export function sealEvent(
  cipher: PayloadCipher,
  stored: StoredRecord,
  event: CanonicalEvent,
): { payload: Buffer; payloadKeyId: string; canonical: Buffer; canonicalKeyId: string } {
  const payload = cipher.encrypt(stored);
  const canonical = cipher.encrypt(event);
  return {
    payload: payload.data,
    payloadKeyId: payload.keyId,
    canonical: canonical.data,
    canonicalKeyId: canonical.keyId,
  };
}

/**
 * How the HIS itself addresses the referral in a stored event (its dialect's `referralAddressOf`), read from the
 * record as the HIS sent it; undefined for a dialect without one, or once retention removed the record.
 */
export function hisReferralAddressOf(cipher: PayloadCipher, row: SealedEvent): HisReferralAddress | undefined {
  if (!row.payload || !row.payload_key_id) {
    return undefined;
  }
  const stored = cipher.decrypt(row.payload_key_id, row.payload) as StoredRecord;
  return tryGetDialect(stored.dialect)?.referralAddressOf?.(stored.record);
}

/**
 * The canonical event of a stored event, as mapped once at receipt. Events received before the canonical event was
 * stored are mapped again from their record (pure and deterministic). Throws PayloadPurgedError when retention
 * removed both.
 */
export function openEvent(cipher: PayloadCipher, row: SealedEvent): CanonicalEvent {
  if (row.canonical && row.canonical_key_id) {
    return cipher.decrypt(row.canonical_key_id, row.canonical) as CanonicalEvent;
  }
  if (!row.payload || !row.payload_key_id) {
    throw new PayloadPurgedError();
  }
  return mapStoredRecord(cipher, { payload: row.payload, payload_key_id: row.payload_key_id });
}

/** The canonical event of a stored record, mapped by its dialect as this build maps it. */
function mapStoredRecord(cipher: PayloadCipher, row: { payload: Buffer; payload_key_id: string }): CanonicalEvent {
  const stored = cipher.decrypt(row.payload_key_id, row.payload) as StoredRecord;
  const dialect = tryGetDialect(stored.dialect);
  if (!dialect) {
    throw new Error(`Unknown dialect ${stored.dialect}`);
  }
  return dialect.map(stored.record);
}

/**
 * Whether an event stored before (`row`, with its record) says what `event` says as the dialects read it: a re-send
 * the HIS built again, with only elements the dialect ignores changed (`Bundle.meta.lastUpdated`, `entry.request`,
 * a CSV date written the other Dutch way), is the same message. The stored record is mapped again, by this build,
 * so that a mapping changed since compares like with like; without its record, the canonical event stored at
 * receipt. The HIS's own address of its referral (`address`, its dialect's `referralAddressOf` of the record sent
 * now) is compared too, with the stored record's: it holds identifiers the canonical event drops, and the first
 * record's address is the one kept. A record that no longer maps, or an event whose content is gone, is not the same.
 */
export function saysTheSame(
  cipher: PayloadCipher,
  row: SealedEvent,
  event: CanonicalEvent,
  address: HisReferralAddress | undefined,
): boolean {
  try {
    if (row.payload && row.payload_key_id) {
      const sealed = { payload: row.payload, payload_key_id: row.payload_key_id };
      const stored = [mapStoredRecord(cipher, sealed), hisReferralAddressOf(cipher, row) ?? null];
      return contentDigest(stored) === contentDigest([event, address ?? null]);
    }
    return contentDigest(openEvent(cipher, row)) === contentDigest(event);
  } catch {
    return false;
  }
}

/** The events `openEventOnce` opened, by the row they were read from; gone with the row. */
const openedEvents = new WeakMap<SealedEvent, CanonicalEvent>();

/**
 * `openEvent`, once per row object: the deliver stage reads one delivery's event for its decision, its disclosure's
 * audit and the record of what it disclosed, and each opening (AES-GCM, then JSON.parse of the whole event) was a
 * measurable part of a delivery's CPU. The row is the job's own read, so this is the event as stored when the job
 * read it. The event is shared by those callers: none changes it (what leaves is a copy, `minimise`). An event the
 * map stage of this process handed on (`handOnEvent`) is taken instead of opened, when the row holds the same bytes.
 */
export function openEventOnce(cipher: PayloadCipher, row: SealedEvent): CanonicalEvent {
  let event = openedEvents.get(row);
  if (!event) {
    event = takeHandedOn(cipher, row) ?? openEvent(cipher, row);
    openedEvents.set(row, event);
  }
  return event;
}

/**
 * How many opened events the map stage may hold for the deliver stage at once. A delivery's job usually starts a few
 * milliseconds to seconds after its map job; an event not held is opened again, as before. 256 canonical events of a
 * referral with their ciphertext are about 1.7 MB (4 KB of heap, 2.5 KB of bytes).
 */
const HANDED_ON_MAX = 256;

/**
 * When full, an event handed on is held only in place of one held longer than this: the deliver queue takes the
 * oldest deliveries first, so with more deliveries waiting than are held, pushing out the oldest for the newest
 * would leave held only events whose deliveries come last, each pushed out before its delivery comes, and every
 * delivery opened its event again (measured in the throughput run of POSTs of 100: two in five did). Held the other
 * way, the events held are those delivered next. An event whose delivery another process takes (several worker
 * processes) is never taken here: it gives up its place after this long.
 */
const HANDED_ON_MAX_AGE_MS = 30_000;

/** An event handed on, with the ciphertext it was opened from and when (performance.now()). */
interface HandedOn {
  readonly keyId: string;
  readonly sealed: Buffer;
  readonly event: CanonicalEvent;
  readonly at: number;
}

/** Per cipher (a process has one; tests may make more): the events handed on, oldest first, by `handedOnKey`. */
const handedOnEvents = new WeakMap<PayloadCipher, Map<string, HandedOn>>();

/** A ciphertext's key id, IV and tag: what tells one sealing from every other; the bytes are compared in full too. */
const handedOnKey = (keyId: string, sealed: Buffer): string =>
  `${keyId}:${sealed.toString('base64', 0, Math.min(sealed.length, 28))}`;

/**
 * Hands the event the map stage opened from `row` on to the deliver stage of this process, which would otherwise
 * decrypt and parse the same stored bytes again a moment later (`openEventOnce` takes it). Only an event opened from
 * its stored canonical event: the same ciphertext under the same key opens to the same event, so the taker gets what
 * its own opening would give. The caller must be done with the event and must not have changed it; the one job that
 * takes it shares it with nobody after.
 */
export function handOnEvent(cipher: PayloadCipher, row: SealedEvent, event: CanonicalEvent): void {
  if (!row.canonical || !row.canonical_key_id) {
    return;
  }
  let held = handedOnEvents.get(cipher);
  if (!held) {
    held = new Map();
    handedOnEvents.set(cipher, held);
  }
  const key = handedOnKey(row.canonical_key_id, row.canonical);
  const at = performance.now();
  held.delete(key);
  for (const [oldestKey, oldest] of held) {
    if (held.size < HANDED_ON_MAX) {
      break;
    }
    if (at - oldest.at <= HANDED_ON_MAX_AGE_MS) {
      // Full of events whose deliveries come before this one's: this one is opened again when its turn comes.
      return;
    }
    held.delete(oldestKey);
  }
  held.set(key, { keyId: row.canonical_key_id, sealed: row.canonical, event, at });
}

/** The event handed on for exactly these stored bytes, taken (a second job of the delivery opens its own), if any. */
function takeHandedOn(cipher: PayloadCipher, row: SealedEvent): CanonicalEvent | undefined {
  const held = handedOnEvents.get(cipher);
  if (!held || held.size === 0 || !row.canonical || !row.canonical_key_id) {
    return undefined;
  }
  const key = handedOnKey(row.canonical_key_id, row.canonical);
  const found = held.get(key);
  if (!found) {
    return undefined;
  }
  held.delete(key);
  return found.keyId === row.canonical_key_id && found.sealed.equals(row.canonical) ? found.event : undefined;
}

/**
 * The BSN of the child a stored event is about, for recording a read of its data against the child; undefined once
 * retention removed its content (it names no child any more) or when it cannot be opened (its key gone, its bytes
 * damaged: logged, since that is what an operator reads the event to find out about). Never in an answer.
 */
export function tryGetPatientBsn(
  ctx: { readonly cipher: PayloadCipher; readonly log: Logger },
  row: SealedEvent & { readonly id: string },
): string | undefined {
  try {
    return openEvent(ctx.cipher, row).patient.bsn;
  } catch (err) {
    if (!(err instanceof PayloadPurgedError)) {
      ctx.log.warn({ event: row.id, ...errorFields(err) }, 'event could not be opened to audit its read by child');
    }
    return undefined;
  }
}

/**
 * What a message's content is, for telling a re-send from a different message under the same event id: SHA-256 of
 * its canonical JSON (RFC 8785), so the same event with its keys in another order is the same content. Of a HIS
 * event it is the record as sent (stored at receipt); the bytes differing, `saysTheSame` decides on what the
 * dialect reads.
 */
export function contentDigest(value: unknown): string {
  return createHash('sha256').update(canonicalizeJcs(value)).digest('base64url');
}

/**
 * The answer to a referral whose referral id the practice used before for another child (409 at `referral.id`): a
 * correction of a referral is about the same child; another child's referral needs an id of its own.
 */
export function referralIdReused(location: string, row: NewEventWithIdentifier): OperationOutcome {
  return conflictAt(
    location,
    'referral.id',
    `Referral id ${row.referralIdentifier?.value ?? ''} was used before by this practice for another child; ` +
      "a correction of a referral is about the same child, another child's referral needs a referral id of its own",
  );
}

/**
 * The answer to a consent under an id this practice recorded for another child (409 at the consent's id): merged, it
 * would rewrite that child's consent. `consentId` is jeugdbrug's id of it (the practice's own is at `expression`).
 */
export function consentIdReused(expression: string, consentId: string): OperationOutcome {
  return conflictAt(
    '',
    expression,
    `Consent ${consentId} was recorded before by this practice for another child; a consent for this child needs a ` +
      'consent id of its own (a withdrawal or correction of a consent is about the same child)',
  );
}

/**
 * The answer to a correction of a referral the municipality ended (409 at `referral.id`): sent on, it would replace
 * the municipality's rejected or completed referral with an active one, while its status here stays ended.
 */
export function referralEnded(
  location: string,
  row: NewEventWithIdentifier,
  ended: { status: string; date: string | null },
): OperationOutcome {
  return conflictAt(
    location,
    'referral.id',
    `Referral ${row.referralIdentifier?.value ?? ''} was ended by the municipality (status ${ended.status}` +
      `${ended.date ? ` on ${ended.date}` : ''}), so it can no longer be corrected; a new referral needs a ` +
      'referral id of its own',
  );
}

/** A 409 whose issue names `field` at the record's `location` in the request. */
function conflictAt(location: string, field: string, message: string): OperationOutcome {
  const outcome = conflict(message);
  return {
    ...outcome,
    issue: outcome.issue.map((i) => ({ ...i, expression: [location ? `${location}.${field}` : field] })),
  };
}

/**
 * The answer to an event id that arrived before with other content (409): a correction needs an id of its own,
 * since the first message may already have been decided on and delivered.
 */
export function eventIdConflict(location: string, eventId: string, storedAs: string): OperationOutcome {
  return conflictAt(
    location,
    'eventId',
    `Event id ${eventId} was received before with other content (stored as ${storedAs}); ` +
      'send a change as a new event with its own eventId',
  );
}
