import { randomUUID } from 'node:crypto';
import { isOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { Consent, OperationOutcome } from '@medplum/fhirtypes';
import { consentRecorded, eventReceived, type AuditActor } from '../audit/audit-events';
import { receiptedEvents, stillWithoutReceipt } from '../audit/receipts';
import { logEventStates } from './event-log';
import { newTraceId } from '../kernel/trace-context';
import { httpStatusOf } from '../kernel/fhir/outcomes';
import type { PipelineContext } from './context';
import { isObjection } from '../policy/objection';
import {
  insertEvent,
  insertEvents,
  getSealedEventsWithRecords,
  upsertConsents,
  consentsOfOtherChildren,
  ConsentOfAnotherChildError,
  resendAfterEnded,
  type ConsentsWritten,
  type InsertedEvents,
  type NewEventWithIdentifier,
  type ReferralRefusal,
  type StoredEventId,
} from './event-store';
import { referralIdentifierOf } from './referral-identifier';
import { purposeOf } from './decide';
import type { Db } from '../kernel/db';
import type { CanonicalEvent, HisDialect, HisReferralAddress, RawRecord } from '../contracts/his-dialect';
import { enqueueOrDefer } from './queues';
import { groupedEnqueueMap, groupedInsertEvents, groupedReferralChecks } from './stage-groups';
import {
  consentIdReused,
  contentDigest,
  eventIdConflict,
  referralEnded,
  referralIdReused,
  saysTheSame,
  sealEvent,
} from './stored-event';

/** What a duplicate or refused event wrote of its consents: nothing. */
const NO_CONSENTS_WRITTEN: ConsentsWritten = { notHeld: 0, withdrawnByOthers: 0, versions: {} };

/** The answer for one submitted event. */
export interface Receipt {
  readonly status: 'accepted' | 'duplicate' | 'rejected';
  /** Where the event stood in an array or a CSV file: `[3]`, `row 5`; absent for a single event (never empty). */
  readonly location?: string;
  readonly eventId?: string | undefined;
  /** jeugdbrug's id of the event: `GET /his/v1/events/{id}`. */
  readonly id?: string | undefined;
  readonly outcome?: OperationOutcome | undefined;
  /**
   * Of a rejected record: the status it would have been answered with alone (400 a wrong shape, 403 a practice not
   * the caller's, 409 a conflict, 422 a broken rule). Each is final for the record as sent.
   */
  readonly httpStatus?: number | undefined;
}

/** The receipt of a record refused: what it was, and why, with the status it alone would get. */
function rejected(receipt: Omit<Receipt, 'status'>, outcome: OperationOutcome): Receipt {
  return { ...receipt, status: 'rejected', httpStatus: httpStatusOf(outcome), outcome };
}

/** A receipt's `location`: the record's place in the request, left out for a single event, which has none. */
function locationOf(record: RawRecord): { location?: string } {
  return record.location ? { location: record.location } : {};
}

/**
 * Accepts the records of one request: each valid one is stored in the inbox (with its consents in the consent
 * registry) in one transaction before the answer, then queued for mapping. An invalid record gets its own
 * rejected receipt and does not stop the others. `assertMayAct` throws when the caller may not act for a practice
 * (given the record's location, so the refusal can name the field).
 * `traceId` (W3C, the request's) goes with each event through every job and log line of its life.
 */
export async function ingestRecords(
  ctx: PipelineContext,
  dialect: HisDialect,
  records: readonly RawRecord[],
  actor: AuditActor,
  assertMayAct: (practiceAgb: string, location: string) => void = () => undefined,
  traceId: string = newTraceId(),
): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  const accepted: { event: CanonicalEvent; record: RawRecord; index: number }[] = [];
  for (const record of records) {
    try {
      const event = dialect.map(record);
      assertMayAct(event.practice.agb, record.location);
      accepted.push({ event, record, index: receipts.length });
      receipts.push({ status: 'accepted', ...locationOf(record), eventId: event.sourceEventId });
    } catch (err) {
      receipts.push(
        rejected(
          {
            ...locationOf(record),
            eventId: cutEventId((dialect.eventIdOf ?? topLevelEventIdOf)(record)),
          },
          outcomeOf(err),
        ),
      );
    }
  }
  if (accepted.length === 0) {
    return receipts;
  }
  const mapped = accepted.map(({ event, record, index }) => ({
    event,
    index,
    location: record.location,
    // Where the record holds its consent's id, for a warning about that consent.
    consentIdAt: consentsOf(event).length > 0 ? consentIdExpressionOf(dialect, record) : '',
    // How the HIS addresses its referral in this record: a re-send is the same only with the same address.
    address: dialect.referralAddressOf?.(record),
    // Mapped once, here: later stages read this canonical event instead of mapping the record again.
    row: {
      id: randomUUID(),
      tenant: event.practice.agb,
      sourceEventId: event.sourceEventId,
      dialect: dialect.name,
      eventType: event.eventType,
      municipality: event.municipalityCode,
      ...sealEvent(ctx.cipher, { dialect: dialect.name, record }, event),
      traceId,
      referralIdentifier: referralIdentifierOf(event),
      contentDigest: contentDigest(record.value),
      // Kept beside the sealed content, so the practice's events list need not open it to mark an objection.
      recordsObjection: consentsOf(event).some(isObjection),
    },
  }));
  const rows = await withoutConsentsOfOtherChildren(
    ctx.db,
    await withoutRefusedReferrals(ctx.db, mapped, receipts),
    receipts,
  );
  if (rows.length === 0) {
    return receipts;
  }
  const store = async (db: Db, { inserted, refused }: InsertedEvents) => {
    // An event the statement did not insert, because the practice sent it before (or twice here), is asked about on
    // its own, which answers with the row that holds it. A referral it refused (its check was overtaken by a status
    // or another child's referral stored meanwhile) stores nothing, consents included.
    const out: (StoredEventId & {
      event: CanonicalEvent;
      row: NewEventWithIdentifier;
      index: number;
      location: string;
      consentIdAt: string;
      /** What the consents it carries were written as (nothing for a duplicate or a refused event). */
      consents: ConsentsWritten;
      address: HisReferralAddress | undefined;
    })[] = [];
    for (const { event, index, location, consentIdAt, row, address } of rows) {
      const refusal = refused.get(row.id);
      const result: StoredEventId = inserted.has(row.id)
        ? { id: row.id, duplicate: false, conflict: false }
        : refusal
          ? { id: row.id, duplicate: false, conflict: false, refused: refusal }
          : await insertEvent(db, row);
      const consents =
        result.duplicate || result.refused
          ? NO_CONSENTS_WRITTEN
          : await upsertConsents(db, event.practice.agb, event.patient.bsn, consentsOf(event), result.id);
      out.push({ ...result, event, row, index, location, consentIdAt, consents, address });
    }
    return out;
  };
  // One statement for the request's events (rows, history, referral identifiers). Consents are merged under a row
  // lock, with their events, in one transaction. Without consents the one statement is atomic on its own, and is
  // shared with the requests received at the same moment.
  const newRows = rows.map((r) => r.row);
  const stored = rows.some((r) => consentsOf(r.event).length > 0)
    ? await ctx.db
        .transaction(async (tx) => store(tx, await insertEvents(tx, newRows)))
        .catch((err: unknown) => {
          throw err instanceof ConsentOfAnotherChildError
            ? new OperationOutcomeError(consentIdReused('consent.id', err.consentId))
            : err;
        })
    : await store(ctx.db, await groupedInsertEvents(ctx.db)(newRows));
  const audits: Promise<void>[] = [];
  const unaudited = await unauditedDuplicates(ctx.db, stored);
  const otherContent = await withOtherContent(ctx, stored);
  // As a held one, an event whose delivery an operator ended is not done with: its resend is its acceptance again.
  const takenAgain = await endedDuplicates(ctx.db, stored, unaudited, otherContent);
  for (const s of stored) {
    if (s.refused) {
      receipts[s.index] = rejected(receipts[s.index]!, refusalOutcome(s.location, s.row, s.refused));
      continue;
    }
    if (otherContent.has(s.id)) {
      receipts[s.index] = rejected(receipts[s.index]!, eventIdConflict(s.location, s.event.sourceEventId, s.id));
      continue;
    }
    // A duplicate whose receipt was never recorded was never accepted either (its first request failed): this is
    // its acceptance.
    const acceptedNow = !s.duplicate || unaudited.has(s.id) || takenAgain.has(s.id);
    receipts[s.index] = {
      ...receipts[s.index]!,
      id: s.id,
      status: acceptedNow ? 'accepted' : 'duplicate',
      ...consentWarnings(s.consentIdAt, s.consents),
    };
    if (!acceptedNow) {
      continue;
    }
    logEventStates(ctx.log, { eventId: s.id, traceId, stage: 'receive', states: ['received'] });
    const tenant = s.event.practice.agb;
    audits.push(
      ctx.audit.append(
        tenant,
        eventReceived({ actor, inboxId: s.id, eventType: s.event.eventType, patientBsn: s.event.patient.bsn }),
      ),
    );
    for (const c of consentsOf(s.event)) {
      audits.push(
        ctx.audit.append(
          tenant,
          consentRecorded({
            actor,
            consentId: c.id ?? '',
            version: s.consents.versions[c.id ?? ''],
            status: c.status,
            patientBsn: s.event.patient.bsn,
          }),
        ),
      );
    }
  }
  await Promise.all(audits);
  // Once stored, an event is never lost: if Redis is away now, the reconciler queues it later. Grouped with the map
  // jobs of other requests, but this request still waits at most REDIS_ANSWER_MS for its own.
  const enqueueMap = groupedEnqueueMap(ctx.queues);
  await enqueueOrDefer(
    ctx,
    ctx.queues.timed(
      Promise.all(
        stored
          // A late-audited duplicate has no job yet (a no-op when it has: job ids are the event's); held as
          // `unacknowledged`, its map job releases it now that the receipt is recorded.
          .filter((s) => !s.duplicate || unaudited.has(s.id) || takenAgain.has(s.id))
          .map((s) => enqueueMap({ inboxId: s.id, traceId })),
      ).then(() => undefined),
      'enqueue map',
    ),
    { traceId },
  );
  return receipts;
}

/**
 * `rows` without the new referrals that may not be stored, each of which gets a rejected receipt (409 at
 * `referral.id`): one whose referral id the practice already used for another child (a referral id names one
 * child's referral, and taking it would re-point the identifier the municipality sends status by), and a
 * correction of a referral the municipality ended (rejected, care ended, closed), which would reopen the
 * municipality's copy while the referral stays ended here. The earlier referral stays as it was. Two events for
 * different children under one referral id in one request: the later one is refused.
 */
async function withoutRefusedReferrals<R extends { event: CanonicalEvent; index: number; row: NewEventWithIdentifier }>(
  db: Db,
  rows: readonly R[],
  receipts: Receipt[],
): Promise<R[]> {
  const referrals = rows.filter((r) => r.event.eventType === 'referral.created' && r.row.referralIdentifier);
  if (referrals.length === 0) {
    return [...rows];
  }
  // One statement per request, however many referrals it holds, shared with the requests received at the same moment.
  const checks = await groupedReferralChecks(db)(referrals.map((r) => r.row));
  const refused = new Map<R, OperationOutcome>();
  const locationOfReceipt = (r: R) => receipts[r.index]!.location ?? '';
  for (const [n, refusal] of checks.refused) {
    const r = referrals[n]!;
    refused.set(r, refusalOutcome(locationOfReceipt(r), r.row, refusal));
  }
  // What the insert compares, so that a status recorded after this check still refuses the correction there.
  referrals.forEach((r, n) => (r.row.endedCountSeen = checks.endedCounts.get(n) ?? 0));
  const childOf = new Map<string, string | undefined>();
  for (const r of referrals.filter((x) => !refused.has(x) && x.row.referralIdentifier?.patientId)) {
    const { system, value, patientId } = r.row.referralIdentifier!;
    const key = `${r.row.tenant}|${system}|${value}`;
    if (childOf.has(key) && childOf.get(key) !== patientId) {
      refused.set(r, referralIdReused(locationOfReceipt(r), r.row));
    }
    childOf.set(key, childOf.get(key) ?? patientId);
  }
  for (const [r, outcome] of refused) {
    receipts[r.index] = rejected(receipts[r.index]!, outcome);
  }
  return rows.filter((r) => !refused.has(r));
}

/**
 * Refuses (409 at the consent's id) each event whose consent id this practice recorded for another child, before this
 * request (`consentsOfOtherChildren`) or in an earlier event of it.
 */
async function withoutConsentsOfOtherChildren<R extends { event: CanonicalEvent; index: number; consentIdAt: string }>(
  db: Db,
  rows: readonly R[],
  receipts: Receipt[],
): Promise<R[]> {
  const sent = rows.flatMap((r) =>
    consentsOf(r.event).map((c) => ({ r, id: c.id ?? '', patientBsn: r.event.patient.bsn })),
  );
  if (sent.length === 0) {
    return [...rows];
  }
  // A consent's id holds its practice's AGB: one id is one practice's consent.
  const stored = await consentsOfOtherChildren(db, sent);
  const childOf = new Map<string, string>();
  const refused = new Map<R, string>();
  for (const { r, id, patientBsn } of sent) {
    if (stored.has(id) || (childOf.get(id) ?? patientBsn) !== patientBsn) {
      refused.set(r, id);
    }
    childOf.set(id, childOf.get(id) ?? patientBsn);
  }
  for (const [r, id] of refused) {
    receipts[r.index] = rejected(receipts[r.index]!, consentIdReused(r.consentIdAt, id));
  }
  return rows.filter((r) => !refused.has(r));
}

/** The answer to a new referral that may not be stored (409 at `referral.id`). */
function refusalOutcome(location: string, row: NewEventWithIdentifier, refusal: ReferralRefusal): OperationOutcome {
  return refusal.kind === 'ended' ? referralEnded(location, row, refusal) : referralIdReused(location, row);
}

/**
 * The events stored before under an event id that this request sent with other bytes (`StoredEventId.conflict`)
 * whose stored event says something else than the one sent now (`saysTheSame`): those are a 409. A re-send the HIS
 * built again, with only what its dialect ignores changed, is a duplicate. A HIS that builds every retry again makes
 * each event of a retried batch such a conflict: their stored events (with their records) are read in one statement.
 */
async function withOtherContent(
  ctx: PipelineContext,
  stored: readonly (StoredEventId & { event: CanonicalEvent; address: HisReferralAddress | undefined })[],
): Promise<Set<string>> {
  const conflicts = stored.filter((x) => x.conflict);
  if (conflicts.length === 0) {
    return new Set();
  }
  const rows = new Map(
    (await getSealedEventsWithRecords(ctx.db, [...new Set(conflicts.map((s) => s.id))])).map((r) => [r.id, r]),
  );
  const other = new Set<string>();
  for (const s of conflicts) {
    const row = rows.get(s.id);
    if (!row || !saysTheSame(ctx.cipher, row, s.event, s.address)) {
      other.add(s.id);
    }
  }
  return other;
}

/**
 * The duplicates whose event was stored but whose receipt was never audited (the request failed in between, so the
 * practice was answered 503 or not at all, and sent it again): their retry audits the receipt now and is their
 * acceptance. Until then the event is not processed (the reconciler holds it as `unacknowledged`).
 */
async function unauditedDuplicates(
  db: Db,
  stored: readonly (StoredEventId & { event: CanonicalEvent })[],
): Promise<Set<string>> {
  // An event sent twice in this request is stored by its first copy, whose receipt this request records.
  const storedNow = new Set(stored.filter((s) => !s.duplicate).map((s) => s.id));
  const duplicates = stored
    .filter((s) => s.duplicate && !s.conflict && !storedNow.has(s.id))
    .map((s) => ({ id: s.id, tenant: s.event.practice.agb }));
  if (duplicates.length === 0) {
    return new Set();
  }
  const receipted = await receiptedEvents(db, duplicates);
  const missing = duplicates.filter((d) => !receipted.has(d.id)).map((d) => d.id);
  if (missing.length === 0) {
    return new Set();
  }
  const rows = await db.query<{ id: string; tenant: string; state: string; at: Date }>(
    'SELECT id, tenant, state, received_at AS at FROM inbox WHERE id = ANY($1::uuid[])',
    [missing],
  );
  return stillWithoutReceipt(db, rows, 'inbox');
}

/**
 * The duplicates (sent as they were before) whose event failed because an operator ended its delivery to a destination
 * no longer configured: each is `received` again (`resendAfterEnded`), to be mapped, decided and sent under the
 * configuration, consents and agreements of now, under new deliveries. Not a consent event: what it records is
 * recorded, and its withdrawal notices would go to the destination that is gone.
 */
async function endedDuplicates(
  db: Db,
  stored: readonly (StoredEventId & { event: CanonicalEvent })[],
  unaudited: ReadonlySet<string>,
  otherContent: ReadonlySet<string>,
): Promise<Set<string>> {
  const storedNow = new Set(stored.filter((s) => !s.duplicate).map((s) => s.id));
  const ids = stored
    .filter(
      (s) =>
        s.duplicate &&
        !storedNow.has(s.id) &&
        !unaudited.has(s.id) &&
        !otherContent.has(s.id) &&
        purposeOf(s.event.eventType) !== undefined,
    )
    .map((s) => s.id);
  return resendAfterEnded(db, [...new Set(ids)]);
}

function consentsOf(event: CanonicalEvent): Consent[] {
  return event.resources.filter((r): r is Consent => r.resourceType === 'Consent');
}

function topLevelEventIdOf(record: RawRecord): string | undefined {
  const v = record.value as { eventId?: unknown } | null;
  return v && typeof v === 'object' && typeof v.eventId === 'string' ? v.eventId : undefined;
}

/** A rejected record's id as it came, cut to an id's longest: a receipt does not echo a whole oversized field. */
function cutEventId(id: string | undefined): string | undefined {
  return id?.slice(0, 128);
}

function outcomeOf(err: unknown): OperationOutcome {
  if (err instanceof OperationOutcomeError) {
    return err.outcome;
  }
  if (isOperationOutcome(err)) {
    return err;
  }
  throw err;
}

/** Where a record holds its consent's id (`HisDialect.consentIdExpressionOf`), by default `consent.id`. */
function consentIdExpressionOf(dialect: HisDialect, record: RawRecord): string {
  return dialect.consentIdExpressionOf?.(record) ?? (record.location ? `${record.location}.consent.id` : 'consent.id');
}

/** The receipt's warnings about the consents an event wrote, if any, as its `outcome`. */
function consentWarnings(expression: string, written: ConsentsWritten): { outcome?: OperationOutcome } {
  const issues = [
    ...(written.notHeld > 0 ? unknownConsentWarning(expression, written.notHeld).issue : []),
    ...Array.from({ length: written.withdrawnByOthers }, () => withdrawnByOtherIssue(expression)),
  ];
  return issues.length > 0 ? { outcome: { resourceType: 'OperationOutcome', issue: issues } } : {};
}

/**
 * Accepted, with a warning: a withdrawal naming someone who gave no part of the consent (a parent withdrawing a
 * 16-year-old's own consent, who alone decides). Withdrawing never discloses more, so the whole consent is withdrawn
 * and the withdrawer recorded as such; the practice should check that this person may speak for the child.
 */
function withdrawnByOtherIssue(idExpression: string): OperationOutcome['issue'][number] {
  return {
    severity: 'warning',
    code: 'business-rule',
    details: {
      text:
        'The withdrawal names someone who gave no part of this consent: the whole consent is withdrawn and they ' +
        'are recorded as withdrawing it; check that they may speak for the child (16 and older: the child alone)',
    },
    expression: [withdrawnByExpressionOf(idExpression)],
  };
}

/** Where a record names who withdrew its consent, beside where it holds the consent's id. */
function withdrawnByExpressionOf(idExpression: string): string {
  if (idExpression.endsWith('resource.id')) {
    return `${idExpression.slice(0, -'id'.length)}performer`;
  }
  return idExpression.endsWith('.id') ? `${idExpression.slice(0, -'id'.length)}withdrawnBy` : idExpression;
}

/**
 * Accepted, with a warning: a withdrawal (or voiding) of a consent the registry does not hold. It is kept, so that
 * the recording, arriving later, cannot give back what was withdrawn; but a mistyped id leaves the real consent as
 * it was, which the practice should know.
 */
function unknownConsentWarning(expression: string, count: number): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: Array.from({ length: count }, () => ({
      severity: 'warning',
      code: 'not-found',
      details: {
        text:
          'No consent with this id is recorded for this child: the withdrawal is kept and holds against its ' +
          'recording when that arrives; check the id if the consent was recorded before',
      },
      expression: [expression],
    })),
  };
}
