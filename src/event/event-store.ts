import type { Consent, Task } from '@medplum/fhirtypes';
import { destinationEntityDescription, type AuditedAgreementRef } from '../audit/audit-events';
import { mayFollow, type ReferralStatus } from '../../mappings/practice/referral-status';
import { bytesArray } from '../kernel/binary-array';
import type { Db } from '../kernel/db';
import type { PayloadCipher } from '../kernel/payload-crypto';
import { followUpNoticeOf } from './idempotency-key';
import type { AnswerSummary, SealedAnswer } from './receiver-answer';
import type { StoredConsent } from '../policy/consent-cache';
import { applyConsentUpdate, withdrawersNotGivers } from '../policy/consent-updates';
import type { ReferralIdentifier } from './referral-identifier';
import {
  destinationRemovedReason,
  RESENT_AFTER_ENDED,
  STEPS,
  TERMINAL_STATES,
  TO_MAP,
  TRAJECTORY_STEPS,
  type EventState,
  type FeedbackState,
  type StepName,
  type TrajectoryEventState,
  type TrajectoryStepName,
} from './states';

/**
 * Every SQL statement on the domain tables (inbox, its history, delivery, feedback, trajectory events, consent,
 * destination state).
 * Workers, routers and reports call these functions; none of them writes SQL on these tables itself. State
 * changes go through `STEPS` (states.ts), so the guard on the state moved from is written once.
 */

// ---------------------------------------------------------------------------------------------------------------
// Events (the inbox)

/** An event as the pipeline reads it: everything but the encrypted record and canonical event. */
export interface EventRow {
  id: string;
  tenant: string;
  source_event_id: string;
  dialect: string;
  event_type: string;
  municipality: string | null;
  state: EventState;
  state_reason: string | null;
  trace_id: string;
  received_at: Date;
  updated_at: Date;
}

/** The encrypted parts of an event: the HIS record as sent, and the canonical event mapped from it at receipt. */
export interface SealedEvent {
  payload: Buffer | null;
  payload_key_id: string | null;
  canonical: Buffer | null;
  canonical_key_id: string | null;
  /** A referral's identity kept after retention removed its content (`keepReferralIdentities` in retention.ts); else null. */
  referral_identity?: Buffer | null;
  referral_identity_key_id?: string | null;
}

const EVENT_COLUMNS = `id, tenant, source_event_id, dialect, event_type, municipality, state, state_reason, trace_id,
  received_at, updated_at`;
const SEALED_COLUMNS =
  'payload, payload_key_id, canonical, canonical_key_id, referral_identity, referral_identity_key_id';
/**
 * The sealed columns a pipeline stage opens (`openEvent`): the record only for an event without its canonical event,
 * the one case that maps it again. The canonical event is what the stages read; sending the record beside it cost
 * PostgreSQL its hex encoding and this process its decoding, twice per event, for nothing.
 */
function openedColumns(table: string): string {
  const missing = `${table}.canonical IS NULL OR ${table}.canonical_key_id IS NULL`;
  return `CASE WHEN ${missing} THEN ${table}.payload END AS payload,
    CASE WHEN ${missing} THEN ${table}.payload_key_id END AS payload_key_id, ${table}.canonical, ${table}.canonical_key_id,
    ${table}.referral_identity, ${table}.referral_identity_key_id`;
}

export interface NewEvent {
  id: string;
  tenant: string;
  sourceEventId: string;
  dialect: string;
  eventType: string;
  municipality: string;
  payload: Buffer;
  payloadKeyId: string;
  canonical: Buffer;
  canonicalKeyId: string;
  traceId: string;
  /** `contentDigest` of the record as received. */
  contentDigest: string;
  /** Whether it carries a Consent that records an objection (`inbox.records_objection`, migration 084). */
  recordsObjection: boolean;
}

/** Where an event id was stored: this row, a row from before, or a row from before with other content. */
export interface StoredEventId {
  id: string;
  duplicate: boolean;
  /** The practice sent this event id before with other content (known while the payload is kept). */
  conflict: boolean;
  /** A new referral that was not stored, since what its check at receipt relied on changed meanwhile (`OWNER_CTES`). */
  refused?: ReferralRefusal | undefined;
}

/**
 * Whether an event id's (or a request key's) first message had other content than this one. Unknown (no digest:
 * received before the column, or its payload gone with retention) counts as the same: a re-send.
 */
function isOtherContent(storedDigest: string | null | undefined, digest: string): boolean {
  return !!storedDigest && storedDigest !== digest;
}

/**
 * What makes the two checks of a new referral at receipt (`referralsRefusedAtReceipt`, a statement before the insert)
 * hold under concurrency, as part of the insert statement, over `input` (its events, with `ended_count_seen`). Each
 * referral id's `referral_owner` row is claimed, in key order, before any event row is written: inserted, or locked
 * at its latest version (waiting for a transaction that holds it) and returned where it differs from what the event
 * expects (another child, another count; a child where it had none is filled in). `refused`: the new referrals that
 * may not be stored after all, because another request stored the referral id for another child (the row's child is
 * another), or a municipality ended the referral since the check (the row's `ended_count` is not the one the check
 * saw; `insertFeedback` raises it in the status's transaction). An event stored before is left to the insert, which
 * answers it as a duplicate. Within one statement the first event of a referral id (by position) claims it.
 */
const OWNER_CTES = `owner AS (
    INSERT INTO referral_owner AS o (tenant, system, value, patient_id, ended_count)
    SELECT DISTINCT ON (tenant, identifier_system, identifier_value) tenant, identifier_system, identifier_value,
      patient_id, coalesce(ended_count_seen, 0)
    FROM input WHERE event_type = 'referral.created' AND identifier_value IS NOT NULL
    ORDER BY tenant, identifier_system, identifier_value, n
    ON CONFLICT (tenant, system, value) DO UPDATE SET patient_id = CASE
      WHEN o.ended_count = excluded.ended_count THEN coalesce(o.patient_id, excluded.patient_id) ELSE o.patient_id END
    WHERE o.patient_id IS DISTINCT FROM excluded.patient_id OR o.ended_count <> excluded.ended_count
    RETURNING o.tenant, o.system, o.value, o.patient_id, o.ended_count, o.ended_status, o.ended_date
  ), refused AS (
    SELECT input.id, coalesce(o.patient_id <> input.patient_id, false) AS reused, o.ended_status, o.ended_date
    FROM input JOIN owner o
      ON o.tenant = input.tenant AND o.system = input.identifier_system AND o.value = input.identifier_value
    WHERE input.event_type = 'referral.created'
      AND (o.patient_id <> input.patient_id OR o.ended_count <> coalesce(input.ended_count_seen, 0))
      AND NOT EXISTS (SELECT 1 FROM inbox d WHERE d.tenant = input.tenant AND d.source_event_id = input.source_event_id)
  )`;

/** A row of `refused` (OWNER_CTES) as the refusal it stands for. */
function refusalOf(r: { reused: boolean; ended_status: string | null; ended_date: string | null }): ReferralRefusal {
  return r.reused
    ? { kind: 'used-for-other-child' }
    : { kind: 'ended', status: r.ended_status as ReferralStatus, date: r.ended_date };
}

/** Inserts the event unless the practice sent this event id before; returns the id of the row that holds it. */
export async function insertEvent(db: Db, r: NewEventWithIdentifier): Promise<StoredEventId> {
  // One statement for the row, its first history entry and its referral identifier; a duplicate returns the
  // existing row's id.
  const [row] = await db.query<{
    id: string;
    inserted: boolean;
    content_digest: string | null;
    reused: boolean | null;
    ended_status: string | null;
    ended_date: string | null;
  }>(
    `WITH input AS (
       SELECT $1::uuid AS id, $2::text AS tenant, $3::text AS source_event_id, $5::text AS event_type,
         $13::text AS identifier_system, $14::text AS identifier_value, $16::uuid AS patient_id,
         $17::int AS ended_count_seen, 1 AS n
     ), ${OWNER_CTES}, ins AS (
       INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, municipality, state, payload, payload_key_id,
         canonical, canonical_key_id, trace_id, content_digest, records_objection)
       SELECT $1, $2, $3, $4, $5, $6, 'received', $7, $8, $9, $10, $11, $12, $20
       WHERE NOT EXISTS (SELECT 1 FROM refused)
       ON CONFLICT (tenant, source_event_id) DO NOTHING RETURNING id, tenant, content_digest
     ), history AS (INSERT INTO inbox_history (inbox_id, state) SELECT id, 'received' FROM ins),
     identifier AS (
       INSERT INTO referral_identifier (inbox_id, tenant, system, value, service_request_id, patient_id, his_system,
         his_value)
       SELECT id, tenant, $13, $14, $15, $16, $18, $19 FROM ins WHERE $14::text IS NOT NULL
       ON CONFLICT (inbox_id) DO NOTHING
     )
     SELECT id, true AS inserted, content_digest, NULL::boolean AS reused, NULL::text AS ended_status,
       NULL::text AS ended_date FROM ins
     UNION ALL SELECT id, false, content_digest, NULL, NULL, NULL FROM inbox
       WHERE tenant = $2 AND source_event_id = $3 AND NOT EXISTS (SELECT 1 FROM ins)
     UNION ALL SELECT id, false, NULL, reused, ended_status, ended_date FROM refused`,
    [
      r.id,
      r.tenant,
      r.sourceEventId,
      r.dialect,
      r.eventType,
      r.municipality,
      r.payload,
      r.payloadKeyId,
      r.canonical,
      r.canonicalKeyId,
      r.traceId,
      r.contentDigest,
      r.referralIdentifier?.system ?? null,
      r.referralIdentifier?.value ?? null,
      r.referralIdentifier?.serviceRequestId ?? null,
      r.referralIdentifier?.patientId ?? null,
      r.endedCountSeen ?? null,
      r.referralIdentifier?.his?.system ?? null,
      r.referralIdentifier?.his?.value ?? null,
      r.recordsObjection,
    ],
  );
  if (row?.reused !== null && row?.reused !== undefined) {
    return { id: r.id, duplicate: false, conflict: false, refused: refusalOf({ ...row, reused: row.reused }) };
  }
  // A concurrent insert of the same event committed while this statement waited: its row is not in our snapshot.
  const found =
    row ??
    (
      await db.query<{ id: string; inserted: boolean; content_digest: string | null }>(
        'SELECT id, false AS inserted, content_digest FROM inbox WHERE tenant = $1 AND source_event_id = $2',
        [r.tenant, r.sourceEventId],
      )
    )[0];
  const duplicate = !found?.inserted;
  return {
    id: found?.id ?? r.id,
    duplicate,
    conflict: duplicate && isOtherContent(found?.content_digest, r.contentDigest),
  };
}

/** A new event and, for a new referral, the business identifier it is found by (stored by insertEvents). */
export interface NewEventWithIdentifier extends NewEvent {
  referralIdentifier?: ReferralIdentifier | undefined;
  /**
   * For a new referral: the `ended_count` of its referral id that its check at receipt saw (`ReferralChecks`); absent:
   * 0, a referral no municipality ended. Another count when it is stored means the check is out of date (OWNER_CTES).
   */
  endedCountSeen?: number | undefined;
}

/** What `insertEvents` did with a group of events. */
export interface InsertedEvents {
  /** The ids of the rows the statement inserted. */
  readonly inserted: Set<string>;
  /** By event id, the new referrals it did not store, since what their check relied on changed (OWNER_CTES). */
  readonly refused: Map<string, ReferralRefusal>;
}

/**
 * Inserts a group of events in one statement, each with its first history entry and its referral identifier.
 * Returns the ids of the rows this statement inserted, and the new referrals it refused; an event the practice sent
 * before (or twice in the group) is in neither, and the caller asks `insertEvent` for the row that holds it.
 */
export async function insertEvents(db: Db, rs: readonly NewEventWithIdentifier[]): Promise<InsertedEvents> {
  const column = <K extends keyof NewEvent>(k: K): NewEvent[K][] => rs.map((r) => r[k]);
  const rows = await db.query<{
    id: string;
    reused: boolean | null;
    ended_status: string | null;
    ended_date: string | null;
  }>(
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
         $8::text[], $9::bytea[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::uuid[],
         $16::uuid[], $17::int[], $18::text[], $19::text[], $20::boolean[]) WITH ORDINALITY
         AS r(id, tenant, source_event_id, dialect, event_type, municipality, payload, payload_key_id, canonical,
           canonical_key_id, trace_id, identifier_system, identifier_value, content_digest, service_request_id,
           patient_id, ended_count_seen, his_system, his_value, records_objection, n)
     ), ${OWNER_CTES}, ins AS (
       INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, municipality, state, payload, payload_key_id,
         canonical, canonical_key_id, trace_id, content_digest, records_objection)
       SELECT id, tenant, source_event_id, dialect, event_type, municipality, 'received', payload, payload_key_id,
         canonical, canonical_key_id, trace_id, content_digest, records_objection
       FROM input WHERE NOT EXISTS (SELECT 1 FROM refused WHERE refused.id = input.id) ORDER BY n
       ON CONFLICT (tenant, source_event_id) DO NOTHING RETURNING id
     ), history AS (INSERT INTO inbox_history (inbox_id, state) SELECT id, 'received' FROM ins),
     identifiers AS (
       INSERT INTO referral_identifier (inbox_id, tenant, system, value, service_request_id, patient_id, his_system,
         his_value)
       SELECT input.id, input.tenant, input.identifier_system, input.identifier_value, input.service_request_id,
         input.patient_id, input.his_system, input.his_value
       FROM ins JOIN input ON input.id = ins.id WHERE input.identifier_value IS NOT NULL
       ON CONFLICT (inbox_id) DO NOTHING
     )
     SELECT id, NULL::boolean AS reused, NULL::text AS ended_status, NULL::text AS ended_date FROM ins
     UNION ALL SELECT id, reused, ended_status, ended_date FROM refused`,
    [
      column('id'),
      column('tenant'),
      column('sourceEventId'),
      column('dialect'),
      column('eventType'),
      column('municipality'),
      bytesArray(rs, (r) => r.payload),
      column('payloadKeyId'),
      bytesArray(rs, (r) => r.canonical),
      column('canonicalKeyId'),
      column('traceId'),
      rs.map((r) => r.referralIdentifier?.system ?? null),
      rs.map((r) => r.referralIdentifier?.value ?? null),
      column('contentDigest'),
      rs.map((r) => r.referralIdentifier?.serviceRequestId ?? null),
      rs.map((r) => r.referralIdentifier?.patientId ?? null),
      rs.map((r) => r.endedCountSeen ?? null),
      rs.map((r) => r.referralIdentifier?.his?.system ?? null),
      rs.map((r) => r.referralIdentifier?.his?.value ?? null),
      column('recordsObjection'),
    ],
  );
  const inserted = new Set<string>();
  const refused = new Map<string, ReferralRefusal>();
  for (const row of rows) {
    if (row.reused === null) {
      inserted.add(row.id);
    } else {
      refused.set(row.id, refusalOf({ ...row, reused: row.reused }));
    }
  }
  return { inserted, refused };
}

export async function tryGetEvent(db: Db, id: string): Promise<EventRow | undefined> {
  const [row] = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM inbox WHERE id = $1`, [id]);
  return row;
}

/** The event with its encrypted parts, for the stages that need its content. */
export async function tryGetSealedEvent(db: Db, id: string): Promise<(EventRow & SealedEvent) | undefined> {
  const [row] = await db.query<EventRow & SealedEvent>(
    `SELECT ${EVENT_COLUMNS}, ${SEALED_COLUMNS} FROM inbox WHERE id = $1`,
    [id],
  );
  return row;
}

/**
 * The events of a group with what `openEvent` needs of their encrypted parts (the record only where the canonical
 * event is missing), in one statement; the ids not found are absent.
 */
export async function getSealedEvents(db: Db, ids: readonly string[]): Promise<(EventRow & SealedEvent)[]> {
  return db.query<EventRow & SealedEvent>(SEALED_EVENTS_SELECT, [ids]);
}

/**
 * Stored events by id with their records as sent, whether or not the canonical event is stored beside it (as
 * `tryGetSealedEvent`, for many): `getSealedEvents` leaves the record out where the canonical event is kept.
 */
export async function getSealedEventsWithRecords(db: Db, ids: readonly string[]): Promise<(EventRow & SealedEvent)[]> {
  return db.query<EventRow & SealedEvent>(
    `SELECT ${EVENT_COLUMNS}, ${SEALED_COLUMNS} FROM inbox WHERE id = ANY($1::uuid[])`,
    [ids],
  );
}

/** The statement of `getSealedEvents`, made once rather than on every group read. */
const SEALED_EVENTS_SELECT = `SELECT ${EVENT_COLUMNS}, ${openedColumns('inbox')} FROM inbox WHERE id = ANY($1::uuid[])`;

export interface HistoryEntry {
  state: string;
  reason: string | null;
  at: Date;
}

export async function getHistory(db: Db, id: string): Promise<HistoryEntry[]> {
  return db.query('SELECT state, reason, at FROM inbox_history WHERE inbox_id = $1 ORDER BY id', [id]);
}

export interface MoveOptions {
  readonly reason?: string | undefined;
  /** States passed through on the way, recorded in the history before the step's own (e.g. `mapped`). */
  readonly passing?: readonly EventState[];
}

/** Parameters $1..$5 of `moveSql`. */
function moveParams(id: string, step: StepName, opts: MoveOptions): unknown[] {
  const { from, to } = STEPS[step];
  return [id, to, opts.reason ?? null, from, [...(opts.passing ?? []), to]];
}

/*
 * How the state moves find their rows. A move changes an event (or a delivery, feedback or trajectory event) only
 * while it is in a state the step may leave. The row is named by its primary key as a plain restriction (`id = $1`,
 * or `id = ANY($1)` for a group), and the states it may leave come from a MATERIALIZED CTE, never a constant.
 * Compared with a constant, the state lets PostgreSQL plan the lookup through a partial index of open rows
 * (`inbox_open`, `feedback_open`, …) or a scan filtered on `state`, costed by the statistics of the last ANALYZE.
 * Autovacuum analyzes once a tenth of a table's rows have changed, whenever that is: if few rows were open then, the
 * open rows look like none, and in the next burst every statement reads the whole backlog to find its rows. A
 * materialized CTE's column is no constant to the planner, so no statistic about `state` can choose the plan; and
 * the key as a restriction keeps it on the primary key's index, where a join on the id alone let it hash a scan of a
 * table of some thousand rows instead. Both measured in bench/README.md, "Statistics taken while little was open".
 */

/** The states a move may leave, as a CTE named `name` (no WITH): `states`, to join with. */
const fromStatesCte = (states: string, name = 'from_states'): string =>
  `${name} AS MATERIALIZED (SELECT ${states}::text[] AS states)`;

/**
 * The row `alias` whose primary key is `id` (`$1`, or `ANY($1)` for a group), while in one of the states of the CTE
 * `name` (`fromStatesCte`).
 */
const byIdWhileIn = (alias: string, id: string, name = 'from_states'): string =>
  `${alias}.id = ${id} AND ${alias}.state = ANY(${name}.states)`;

/**
 * A step as CTEs `moved` (the updated row, if any) and its history, then `extraCtes` and `select`, which may read
 * `moved`: one atomic statement. Parameters $1..$5 come from `moveParams`; more may follow.
 */
function moveSql(extraCtes: string, select: string): string {
  return `WITH ${fromStatesCte('$4')}, moved AS (
      UPDATE inbox SET state = $2, state_reason = $3, updated_at = now()
      FROM from_states WHERE ${byIdWhileIn('inbox', '$1')} RETURNING inbox.id
    ), history AS (
      INSERT INTO inbox_history (inbox_id, state, reason)
      SELECT moved.id, s.state, CASE WHEN s.state = $2 THEN $3 END
      FROM moved, unnest($5::text[]) WITH ORDINALITY AS s(state, n) ORDER BY s.n
    )${extraCtes}
    ${select}`;
}

/**
 * Takes one step of the event's life (states.ts) and records it, with any states passed on the way, in the history,
 * in one statement. Returns false when the event was not in one of the step's `from` states.
 */
export async function moveEvent(db: Db, id: string, step: StepName, opts: MoveOptions = {}): Promise<boolean> {
  const rows = await db.query(moveSql('', 'SELECT moved.id FROM moved'), moveParams(id, step, opts));
  return rows.length > 0;
}

/**
 * Takes `step` for each of `ids` still in one of its `from` states (and meeting `where`, SQL on `inbox`), with
 * `reason`, recording it in their history, in one statement. Returns the ids moved.
 */
async function moveEvents(
  db: Pick<Db, 'query'>,
  ids: readonly string[],
  step: StepName,
  reason: string,
  where = 'true',
  params: readonly unknown[] = [],
): Promise<Set<string>> {
  if (ids.length === 0) {
    return new Set();
  }
  const { from, to } = STEPS[step];
  const rows = await db.query<{ id: string }>(
    `WITH ${fromStatesCte('$2')}, moved AS (
       UPDATE inbox SET state = $3, state_reason = $4, updated_at = now()
       FROM from_states WHERE ${byIdWhileIn('inbox', 'ANY($1::uuid[])')} AND (${where})
       RETURNING inbox.id
     ), history AS (INSERT INTO inbox_history (inbox_id, state, reason) SELECT id, $3, $4 FROM moved)
     SELECT id FROM moved`,
    [ids, from, to, reason, ...params],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Of `ids` (events the practice has just sent again, as they were), those whose delivery an operator ended
 * (`STEPS.destinationRemoved`, its reason as recorded) and whose content retention has not removed: each is moved
 * `resentAfterEnded` (to `received`, with its history) in one statement, and its id returned, for the map stage to
 * take it as new. Another `failed` event, or one moved meanwhile, is left as it is (a plain duplicate).
 */
export function resendAfterEnded(db: Db, ids: readonly string[]): Promise<Set<string>> {
  return moveEvents(
    db,
    ids,
    'resentAfterEnded',
    RESENT_AFTER_ENDED,
    'inbox.state_reason LIKE $5 AND inbox.payload IS NOT NULL AND inbox.canonical IS NOT NULL',
    [destinationRemovedReason('%')],
  );
}

/**
 * Of events whose delivery to a removed destination was just ended (`finishDeliveries` with
 * `STEPS.destinationRemoved`, in the same transaction, which left those with another delivery still pending
 * `decided` and holds their rows locked), those still `decided`: each takes `destinationRemovedOthersWait`, its
 * history and state's reason saying why that delivery ended. Returns their ids.
 */
export function recordEndedWhileOthersWait(
  db: Pick<Db, 'query'>,
  ids: readonly string[],
  reason: string,
): Promise<Set<string>> {
  return moveEvents(db, [...new Set(ids)], 'destinationRemovedOthersWait', reason);
}

/** The state and state reason of each of `ids` as this transaction sees them (after its own moves). */
export async function eventStatesOf(
  db: Pick<Db, 'query'>,
  ids: readonly string[],
): Promise<Map<string, { state: EventState; reason: string | null }>> {
  const rows = await db.query<{ id: string; state: EventState; state_reason: string | null }>(
    'SELECT id, state, state_reason FROM inbox WHERE id = ANY($1::uuid[])',
    [[...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.id, { state: r.state, reason: r.state_reason }]));
}

/** An event the reconciler may queue a map job for, once its receipt is on record. */
export interface EventToMap {
  id: string;
  tenant: string;
  trace_id: string;
}

/** Events the map stage has not finished and that nobody touched for `graceMs`: candidates for a new map job. */
export async function staleEventsToMap(db: Db, graceMs: number): Promise<EventToMap[]> {
  return db.query(
    `SELECT id, tenant, trace_id FROM inbox WHERE state = ANY($2::text[])
       AND updated_at < now() - ($1::int * interval '1 millisecond') ORDER BY updated_at LIMIT 5000`,
    [graceMs, TO_MAP],
  );
}

/** Events held because their receipt was not recorded (`STEPS.unacknowledged`), oldest first. */
export async function unacknowledgedEvents(db: Db): Promise<EventToMap[]> {
  return db.query('SELECT id, tenant, trace_id FROM inbox WHERE state = $1 ORDER BY updated_at LIMIT 5000', [
    STEPS.unacknowledged.to,
  ]);
}

/**
 * Removes the encrypted record and canonical event of events finished before `before`, and the receivers' answers to
 * their deliveries, in batches; returns the tenant of each cleared row. The row, its state and its history stay, and
 * so do the deliveries' outcomes and answer summaries: they hold no record content.
 */
export async function clearFinishedPayloads(db: Db, before: Date, batch: number): Promise<{ tenant: string }[]> {
  return db.query<{ tenant: string }>(
    `WITH cleared AS (
       UPDATE inbox SET payload = NULL, payload_key_id = NULL, canonical = NULL, canonical_key_id = NULL,
         content_digest = NULL, child_key = NULL
       WHERE id IN (SELECT id FROM inbox WHERE state = ANY($1::text[]) AND updated_at < $2
         AND (payload IS NOT NULL OR canonical IS NOT NULL) LIMIT $3)
       RETURNING id, tenant
     ), answers AS (
       UPDATE delivery SET ${ANSWER_CLEARED} FROM cleared
       WHERE delivery.inbox_id = cleared.id AND delivery.response_sealed IS NOT NULL
     )
     SELECT tenant FROM cleared`,
    [PAYLOAD_RETENTION_STATES, before, batch],
  );
}

/**
 * Finished referrals whose content the payload retention is about to remove (as `clearFinishedPayloads` picks them)
 * and whose identity is not kept yet, after `afterId`, in id order: `keepReferralIdentities` keeps theirs first.
 */
export async function referralsLosingContent(
  db: Db,
  before: Date,
  afterId: string,
  batch: number,
): Promise<({ id: string } & SealedEvent)[]> {
  return db.query(
    `SELECT id, ${SEALED_COLUMNS} FROM inbox WHERE event_type = 'referral.created' AND state = ANY($1::text[])
       AND updated_at < $2 AND (payload IS NOT NULL OR canonical IS NOT NULL) AND referral_identity IS NULL
       AND id > $3 ORDER BY id LIMIT $4`,
    [PAYLOAD_RETENTION_STATES, before, afterId, batch],
  );
}

/** Stores each referral's identity, sealed, beside the content that is about to go. */
export async function storeReferralIdentities(
  db: Db,
  kept: readonly { id: string; sealed: Buffer; keyId: string }[],
): Promise<void> {
  await db.query(
    `UPDATE inbox SET referral_identity = k.sealed, referral_identity_key_id = k.key_id
     FROM unnest($1::uuid[], $2::bytea[], $3::text[]) AS k(id, sealed, key_id) WHERE inbox.id = k.id`,
    [kept.map((k) => k.id), kept.map((k) => k.sealed), kept.map((k) => k.keyId)],
  );
}

/** Clears the kept identities of referrals received before `receivedBefore`, in batches; the tenant of each. */
export async function clearReferralIdentities(
  db: Db,
  receivedBefore: Date,
  batch: number,
): Promise<{ tenant: string }[]> {
  return db.query<{ tenant: string }>(
    `UPDATE inbox SET referral_identity = NULL, referral_identity_key_id = NULL
     WHERE id IN (SELECT id FROM inbox WHERE referral_identity IS NOT NULL AND received_at < $1 LIMIT $2)
     RETURNING tenant`,
    [receivedBefore, batch],
  );
}

/**
 * The states whose events' content goes after the payload retention: the finished ones, and those held because the
 * practice was never told they were accepted (`unacknowledged`) and never sent again: not the practice's to keep.
 */
const PAYLOAD_RETENTION_STATES: readonly EventState[] = [...TERMINAL_STATES, 'unacknowledged'];

// ---------------------------------------------------------------------------------------------------------------
// Deliveries and feedback: one outgoing message each, with attempts and an outcome

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'cancelled';
export type { FeedbackState };

/** The columns a `delivery` and a `feedback` row share: one outgoing message, its attempts and their outcome. */
export interface AttemptColumns<S extends string> {
  idempotency_key: string;
  state: S;
  round: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  /** What operators see of the receiver's last answer (receiver-answer.ts); no text of it. */
  response_summary: AnswerSummary | null;
  /** The receiver's last answer, encrypted; removed with the payload at retention. */
  response_sealed: Buffer | null;
  response_key_id: string | null;
  created_at: Date;
  updated_at: Date;
  /**
   * When the receiver last accepted it; null while it never did. A later round that fails (a redelivery the receiver
   * is down for) leaves it: the delivery was delivered then, whatever came of the resend.
   */
  delivered_at: Date | null;
}

export interface DeliveryRow extends AttemptColumns<DeliveryState> {
  id: string;
  inbox_id: string;
  destination: string;
  /**
   * When a failed attempt first may have reached the receiver (`mayHaveReachedReceiver`, migration 074); null while
   * none did. A referral cancelled while its retry waits counts as possibly sent for it.
   */
  possibly_received_at: Date | null;
}

/**
 * A new delivery's insert where the event has one to that destination already: a `cancelled` one (a denial's, or one
 * an operator ended while its destination was out of the configuration, `destinationRemoved`, and the event sent again
 * or remapped since) gets a new round, pending under its own key; any other is left as it is (a retry of the map job).
 */
const REVIVE_CANCELLED = `ON CONFLICT (inbox_id, destination, follow_up_of) DO UPDATE SET state = 'pending',
  round = delivery.round + 1, attempts = 0, updated_at = now(), pending_since = now() WHERE delivery.state = 'cancelled'`;

/**
 * Marks a permitted event `decided` (recording the states it passed on the way) and creates its delivery, in one
 * atomic statement. A second call for the same event and destination returns the existing delivery.
 */
export async function decideAndCreateDelivery(
  db: Db,
  d: {
    id: string;
    inboxId: string;
    destination: string;
    idempotencyKey: string;
    reason: string;
    passing: readonly EventState[];
  },
): Promise<DeliveryRow> {
  const [created] = await db.query<DeliveryRow>(
    moveSql(
      `, created AS (
        INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
        SELECT $6, moved.id, $7, $8, 'pending' FROM moved
        ${REVIVE_CANCELLED} RETURNING *
      )`,
      'SELECT * FROM created',
    ),
    [...moveParams(d.inboxId, 'decided', d), d.id, d.destination, d.idempotencyKey],
  );
  if (created) {
    return created;
  }
  const [existing] = await db.query<DeliveryRow>(
    'SELECT * FROM delivery WHERE inbox_id = $1 AND destination = $2 AND follow_up_of IS NULL',
    [d.inboxId, d.destination],
  );
  if (!existing) {
    throw new Error(`event ${d.inboxId} was not in a state to be decided`);
  }
  return existing;
}

/** One permitted event of a group for `decideAndCreateDeliveries`. */
export interface NewDecidedDelivery {
  id: string;
  inboxId: string;
  destination: string;
  idempotencyKey: string;
  reason: string;
  passing: readonly EventState[];
}

/**
 * `decideAndCreateDelivery` for a group, in one atomic statement: every event that was still in a state to be
 * decided moves to `decided` (with its history) and gets its delivery. Returns the deliveries created, by event id;
 * an event missing from the answer was not movable or already had its delivery, and the caller asks
 * `decideAndCreateDelivery` about it on its own.
 */
export async function decideAndCreateDeliveries(
  db: Db,
  ds: readonly NewDecidedDelivery[],
): Promise<Map<string, DeliveryRow>> {
  const { from, to } = STEPS.decided;
  const rows = await db.query<DeliveryRow>(
    `WITH ${fromStatesCte('$8')}, input AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
         AS x(inbox_id, delivery_id, destination, idempotency_key, reason, passing, n)
     ), moved AS (
       UPDATE inbox SET state = $7, state_reason = input.reason, updated_at = now()
       FROM from_states, input WHERE ${byIdWhileIn('inbox', 'ANY($1::uuid[])')} AND inbox.id = input.inbox_id
       RETURNING input.*
     ), history AS (
       INSERT INTO inbox_history (inbox_id, state, reason)
       SELECT moved.inbox_id, s.state, CASE WHEN s.state = $7 THEN moved.reason END
       FROM moved, unnest(string_to_array(moved.passing || $7, ',')) WITH ORDINALITY AS s(state, k)
       ORDER BY moved.n, s.k
     ), created AS (
       INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
       SELECT delivery_id, inbox_id, destination, idempotency_key, 'pending' FROM moved ORDER BY n
       ${REVIVE_CANCELLED} RETURNING *
     )
     SELECT * FROM created`,
    [
      ds.map((d) => d.inboxId),
      ds.map((d) => d.id),
      ds.map((d) => d.destination),
      ds.map((d) => d.idempotencyKey),
      ds.map((d) => d.reason),
      // The states passed on the way, each followed by a comma, so `passing || to` lists them all.
      ds.map((d) => d.passing.map((p) => `${p},`).join('')),
      to,
      from,
    ],
  );
  return new Map(rows.map((r) => [r.inbox_id, r]));
}

/**
 * A denied event decided again and now permitted: moves it `denied → decided` and creates its delivery, or gives
 * the delivery cancelled by the earlier denial a new round, in one statement. Undefined when the event was no
 * longer denied (another process got there first).
 */
export async function redecideAndCreateDelivery(
  db: Db,
  d: { id: string; inboxId: string; destination: string; idempotencyKey: string; reason: string },
): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow>(
    moveSql(
      `, created AS (
        INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
        SELECT $6, moved.id, $7, $8, 'pending' FROM moved
        ${REVIVE_CANCELLED} RETURNING *
      )`,
      'SELECT * FROM created',
    ),
    [...moveParams(d.inboxId, 'redecided', { reason: d.reason }), d.id, d.destination, d.idempotencyKey],
  );
  return row;
}

/** A denied event as `deniedForConsentOfChild` finds it: with its child's key, if it has one yet. */
export type DeniedForConsent = EventRow & SealedEvent & { child_key: string | null; received_seq: string };

/** Where a page of `deniedForConsentOfChild` ended: its last row's received order and id. */
export type DeniedCursor = Pick<DeniedForConsent, 'received_at' | 'received_seq' | 'id'>;

/**
 * A practice's events denied for a consent reason (`consent-…`) within the last `windowDays` that a consent recorded
 * for the child with `childKey` (report-pseudonym.ts `inboxChildKey`) may change: those keyed with it, and those not
 * keyed at all (denied before migration 030, or just now and not keyed yet), whose child only their encrypted event
 * tells. Not those whose content retention removed (and their key with it): nothing of them could be sent. A page of
 * `limit`, newest first in the practice's order (`received_at`, `received_seq`, then id), after `after`: the caller
 * reads on while pages are full, and meets a referral's or contact's newest version before the ones it superseded.
 */
export async function deniedForConsentOfChild(
  db: Db,
  q: { tenant: string; childKey: string; windowDays: number; after?: DeniedCursor | undefined; limit: number },
): Promise<DeniedForConsent[]> {
  return db.query(
    `SELECT ${EVENT_COLUMNS}, ${SEALED_COLUMNS}, child_key, received_seq::text AS received_seq FROM inbox
     WHERE tenant = $1 AND state = 'denied' AND (child_key = $2 OR child_key IS NULL)
       AND (canonical IS NOT NULL OR payload IS NOT NULL) AND state_reason LIKE '%consent-%' AND updated_at > now() - ($3::int * interval '1 day')
       AND ($4::timestamptz IS NULL OR (received_at, received_seq, id) < ($4::timestamptz, $5::bigint, $6::uuid))
     ORDER BY received_at DESC, received_seq DESC, id DESC LIMIT $7`,
    [
      q.tenant,
      q.childKey,
      q.windowDays,
      q.after?.received_at ?? null,
      q.after?.received_seq ?? null,
      q.after?.id ?? null,
      q.limit,
    ],
  );
}

/**
 * Of the referrals (`referral.created` inbox rows) `ids`: those the practice superseded since, each with what
 * superseded it, the newest event of the same referral (its identifier) received after it (`receivedOrder`): a
 * correction (`referral.created`) or a cancellation (`referral.cancelled`), whatever became of it. Such a referral is
 * not decided again by a consent (redecide.ts): its newest version is, and what the practice cancelled stays unsent.
 */
export async function supersededReferrals(
  db: Db,
  ids: readonly string[],
): Promise<Map<string, { eventId: string; eventType: 'referral.created' | 'referral.cancelled' }>> {
  if (ids.length === 0) {
    return new Map();
  }
  const rows = await db.query<{ id: string; event_id: string; event_type: 'referral.created' | 'referral.cancelled' }>(
    `SELECT DISTINCT ON (i.id) i.id, n.source_event_id AS event_id, n.event_type
       FROM inbox i JOIN referral_identifier r ON r.inbox_id = i.id
       ${sameReferral('rn', 'r')} AND rn.inbox_id <> r.inbox_id
       JOIN inbox n ON n.id = rn.inbox_id AND n.event_type IN ('referral.created', 'referral.cancelled')
         AND ${receivedOrder('n')} > ${receivedOrder('i')}
      WHERE i.id = ANY($1::uuid[]) AND i.event_type = 'referral.created'
      ORDER BY i.id, n.received_at DESC, n.received_seq DESC`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, { eventId: r.event_id, eventType: r.event_type }]));
}

/**
 * A denied event decided again by a consent and denied for a different reason than it was: the new reason becomes its
 * state reason and a `denied` entry of its history (STEPS.deniedAgain), as an operator's request records it. Unlike
 * that step it leaves `updated_at` as it was, from which the window of REDECIDE_WINDOW_DAYS and the retention of the
 * content are counted: a consent that moved them would keep a denial searchable, and its content, for ever. Nothing
 * is written when the reason is the one recorded (with or without the prefix of an earlier decision): a child's
 * consents then do not fill the history. `reason` is the decision in words; stored as `decided again: …`. Returns
 * whether it was recorded.
 */
export async function restateDenial(db: Db, id: string, reason: string): Promise<boolean> {
  const rows = await db.query(
    `WITH ${fromStatesCte(`'{denied}'`)}, moved AS (
       UPDATE inbox SET state_reason = 'decided again: ' || $2 FROM from_states
       WHERE ${byIdWhileIn('inbox', '$1')}
         AND regexp_replace(inbox.state_reason, '^(decided again|denied at delivery): ', '') IS DISTINCT FROM $2
       RETURNING inbox.id, inbox.state_reason
     ), history AS (
       INSERT INTO inbox_history (inbox_id, state, reason) SELECT id, 'denied', state_reason FROM moved
     )
     SELECT id FROM moved`,
    [id, reason],
  );
  return rows.length > 0;
}

/**
 * Keys denied events that had no child key (`deniedForConsentOfChild`) with the key of the child their event names,
 * once opened: each is then opened no more.
 */
export async function keyDeniedEvents(db: Db, keys: readonly { id: string; childKey: string }[]): Promise<void> {
  if (keys.length === 0) {
    return;
  }
  await db.query(
    `WITH ${fromStatesCte(`'{denied}'`)}, input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[]) AS x(id, child_key)
     )
     UPDATE inbox SET child_key = input.child_key FROM from_states, input
     WHERE ${byIdWhileIn('inbox', 'ANY($1::uuid[])')} AND inbox.id = input.id AND inbox.child_key IS NULL`,
    [keys.map((k) => k.id), keys.map((k) => k.childKey)],
  );
}

/**
 * Right after an event's denial for a consent reason was committed: keys it with its child's key (so a consent
 * finds it by the child) and reads the child's consents as stored now, in one statement. Its snapshot is taken
 * after the denial's commit, so a consent it does not see is committed after it, and that consent's own search
 * (`deniedForConsentOfChild`) sees the denial (redecide.ts `recheckConsentDenial`).
 */
export async function keyDenialAndReadConsents(
  db: Db,
  d: { inboxId: string; childKey: string; tenant: string; patientBsn: string },
): Promise<StoredConsent[]> {
  return db.query<StoredConsent>(
    `WITH ${fromStatesCte(`'{denied}'`)}, keyed AS (
       UPDATE inbox SET child_key = $2 FROM from_states
       WHERE ${byIdWhileIn('inbox', '$1')} AND inbox.child_key IS DISTINCT FROM $2 RETURNING inbox.id
     )
     SELECT c.id, c.version::text AS version, c.version_id AS "versionId", c.resource::text AS text FROM consent c
     WHERE c.tenant = $3 AND c.patient_bsn = $4 ORDER BY c.date_time DESC NULLS LAST, c.id`,
    [d.inboxId, d.childKey, d.tenant, d.patientBsn],
  );
}

/** The pending deliveries of an event (decided before a crash: their jobs may be missing). */
export async function pendingDeliveriesOf(
  db: Db,
  inboxId: string,
): Promise<{ id: string; destination: string; round: number }[]> {
  // By the event's key, the state from a CTE: see "How the state moves find their rows" (`delivery_pending` too
  // would serve `state = 'pending'`, and look empty after a quiet ANALYZE).
  return db.query(
    `WITH ${fromStatesCte(`'{pending}'`)}
     SELECT d.id, d.destination, d.round FROM from_states, delivery d
     WHERE d.inbox_id = $1 AND d.state = ANY(from_states.states)`,
    [inboxId],
  );
}

/**
 * What the deliver stage needs, read in one statement: the delivery, its event's state and the sealed event as
 * `openEvent` needs it (the record only where the canonical event is missing).
 */
export interface DeliveryWork extends DeliveryRow, SealedEvent {
  tenant: string;
  event_state: EventState;
  /** The event's type: the deliver stage sends a `monitoring.report` by its own path (report-delivery.ts). */
  event_type: string;
  /** The event's trace id: a redelivery queues its job under it. */
  trace_id: string;
  /** When jeugdbrug received the event: the moment it occurred as its deliveries say it (notification timestamp). */
  event_received_at: Date;
  /** The destination's run of failed attempts when this was read: a success need only reset a run there is. */
  destination_failures: number;
  /** Who paused the destination (`operator` or `auto`) when this was read; null while it is not paused. */
  destination_paused_by: string | null;
  /** Whether the paused destination lets one trial delivery through (half-open, after a successful probe). */
  destination_half_open: boolean;
  /** A referral the practice cancelled (a `referral.cancelled` of its identifier, received after it). */
  cancelled_by_practice: boolean;
  /**
   * A cancellation the practice took back by sending the referral again (a `referral.created` of its identifier,
   * received after it): the referral stands, so the cancellation is not sent.
   */
  resent_by_practice: boolean;
  /**
   * An earlier event of the same referral (its identifier, received before this one) is still being delivered to
   * this destination: this one goes out after it, so the municipality gets a referral's events in the practice's
   * order.
   */
  waits_for_earlier: boolean;
  /**
   * For a cancellation, where the referral it cancels stands at this destination: `delivered` (the receiver accepted
   * it, whatever became of a resend), `possibly` (an attempt may have reached it: a dead letter, or one stopped after
   * an attempt of unknown outcome), `never` (known here, but it never went out: held back, cancelled before it was
   * sent, denied at delivery). Read once no earlier event of the referral is being delivered (`waits_for_earlier`).
   * Null for other events, and for a referral this product never received.
   */
  cancelled_referral: 'delivered' | 'possibly' | 'never' | null;
}

/**
 * SQL for when the inbox row `alias` was received, as a value that orders events: by `received_at`, and within one
 * statement's events (a request's array or CSV file, requests stored together) by their order there, `received_seq`
 * (migration 066). Compared with `<`/`>`, never `received_at` alone: one request's events share it.
 */
const receivedOrder = (alias: string): string => `(${alias}.received_at, ${alias}.received_seq)`;

/** SQL joining the `referral_identifier` row `other` to those of the same referral as the row `of`. */
const sameReferral = (other: string, of: string): string =>
  `JOIN referral_identifier ${other} ON ${other}.value = ${of}.value AND ${other}.system = ${of}.system
    AND ${other}.tenant = ${of}.tenant`;

/**
 * The practice's cancellations (`c`) of the referral whose inbox row is `i` and whose identifier row is `r`: the
 * `referral.cancelled` events of the same identifier, received after it.
 */
const JOIN_LATER_CANCELLATIONS = `${sameReferral('rc', 'r')}
  JOIN inbox c ON c.id = rc.inbox_id AND c.event_type = 'referral.cancelled' AND ${receivedOrder('c')} > ${receivedOrder('i')}`;

/** `DeliveryWork.resent_by_practice` of the delivery `d` of the event `i`. */
const RESENT_BY_PRACTICE_SQL = `i.event_type = 'referral.cancelled' AND EXISTS (SELECT 1 FROM referral_identifier r
    ${sameReferral('ra', 'r')}
    JOIN inbox a ON a.id = ra.inbox_id AND a.event_type = 'referral.created' AND ${receivedOrder('a')} > ${receivedOrder('i')}
    WHERE r.inbox_id = d.inbox_id)`;

/**
 * `DeliveryWork.waits_for_earlier` of the delivery `d` of the event `i`: a pending delivery to its destination of an
 * event of the same referral received before it. Received order is a total order, so no two wait for each other.
 * The earlier event's deliveries are read by the event (a scalar subquery, which the planner cannot turn into a
 * join, with no state condition a partial index of the pending ones could match): joined freely, a planner with
 * statistics of a smaller table (a bulk load into a fresh database) read every pending delivery of the destination
 * for each delivery, 1.6 s for a group of 50 with 10,000 pending.
 */
const WAITS_FOR_EARLIER = `EXISTS (SELECT 1 FROM referral_identifier r
    ${sameReferral('re', 'r')} AND re.inbox_id <> r.inbox_id
    JOIN inbox e ON e.id = re.inbox_id AND ${receivedOrder('e')} < ${receivedOrder('i')}
    WHERE r.inbox_id = d.inbox_id AND (SELECT bool_or(ed.state = 'pending') FROM delivery ed
      WHERE ed.inbox_id = e.id AND ed.destination = d.destination))`;

/**
 * `DeliveryWork.cancelled_referral` of the cancellation whose inbox row is `i` and delivery `d`: its referrals (the
 * `referral.created` events of the same identifier, received before it) and their deliveries to `d`'s destination.
 * A referral received only after it (sent later in the same request, or in a later one) is not what it cancels, but
 * says jeugdbrug knows the referral: the cancellation has nothing to cancel (`never`), rather than being judged as
 * one of a referral jeugdbrug never received (NULL) and sent beside the referral it preceded. One delivered once
 * (`delivered_at`) whose resend this cancellation stopped (`cancelled`) was sent: the municipality has it
 * (`delivered`); one stopped after an attempt that may have reached it (`possibly_received_at`), or a dead letter,
 * possibly was (`possibly`). One still being sent is waited for first (`WAITS_FOR_EARLIER`), so the cancellation
 * arrives after it.
 */
const CANCELLED_REFERRAL_AT_DESTINATION = `SELECT CASE
      WHEN bool_or(rd.state = 'delivered' OR rd.delivered_at IS NOT NULL) FILTER (WHERE earlier) THEN 'delivered'
      WHEN bool_or(rd.state = 'dead' OR rd.possibly_received_at IS NOT NULL) FILTER (WHERE earlier) THEN 'possibly'
      WHEN count(ri.id) > 0 THEN 'never' END
    FROM referral_identifier c
    ${sameReferral('r', 'c')}
    JOIN inbox ri ON ri.id = r.inbox_id AND ri.event_type = 'referral.created'
    CROSS JOIN LATERAL (SELECT ${receivedOrder('ri')} < ${receivedOrder('i')} AS earlier) o
    LEFT JOIN delivery rd ON rd.inbox_id = ri.id AND rd.destination = d.destination
    WHERE c.inbox_id = d.inbox_id`;

/**
 * What became at `destination` of the practice's referral with this identifier, for deciding its cancellation
 * `cancellation` (the practice's event id; policy/types.ts `CancelledReferral`), of the referral's events received
 * before it (`receivedOrder`: one request's events share their received time): `disclosed` once a delivery there went
 * out (delivered once, whatever became of a resend of it, or an attempt that may have reached the receiver) or is
 * pending, or while the referral is not decided yet (its map stage may be running beside the cancellation's; the
 * deliver stage waits for the referral's send and finds nothing to cancel when there was none); `not-disclosed` when
 * it ended otherwise, or when the referral was received only after the cancellation (as
 * `CANCELLED_REFERRAL_AT_DESTINATION`'s `never`); `unknown` when jeugdbrug never received it. A cancellation not
 * stored (yet) counts every referral as earlier.
 */
export async function cancelledReferralAt(
  db: Db,
  tenant: string,
  cancellation: string,
  identifier: { readonly system: string; readonly value: string },
  destination: string | undefined,
): Promise<'disclosed' | 'not-disclosed' | 'unknown'> {
  const [row] = await db.query<{ at: 'disclosed' | 'not-disclosed' | 'unknown' }>(
    `SELECT CASE
        WHEN bool_or(d.state IN ('delivered', 'dead', 'pending') OR d.delivered_at IS NOT NULL
            OR d.possibly_received_at IS NOT NULL
            OR i.state IN ('received', 'unacknowledged', 'mapped')) FILTER (WHERE earlier)
          THEN 'disclosed'
        WHEN count(i.id) > 0 THEN 'not-disclosed'
        ELSE 'unknown' END AS at
       FROM referral_identifier r
       JOIN inbox i ON i.id = r.inbox_id AND i.event_type = 'referral.created'
       LEFT JOIN inbox c ON c.tenant = $1 AND c.source_event_id = $5
       CROSS JOIN LATERAL (SELECT c.id IS NULL OR ${receivedOrder('i')} < ${receivedOrder('c')} AS earlier) o
       LEFT JOIN delivery d ON d.inbox_id = i.id AND d.destination = $4
      WHERE r.tenant = $1 AND r.system = $2 AND r.value = $3`,
    [tenant, identifier.system, identifier.value, destination ?? null, cancellation],
  );
  return row?.at ?? 'unknown';
}

/** The one read of `DeliveryWork`, for one delivery or a group. */
const DELIVERY_WORK_SELECT = `SELECT d.*, i.tenant, i.state AS event_state, i.event_type, i.trace_id,
    i.received_at AS event_received_at, ${openedColumns('i')},
    COALESCE(ds.consecutive_failures, 0) AS destination_failures, ds.paused_by AS destination_paused_by,
    ds.half_open_at IS NOT NULL AS destination_half_open,
    EXISTS (SELECT 1 FROM referral_identifier r ${JOIN_LATER_CANCELLATIONS}
      WHERE r.inbox_id = d.inbox_id AND i.event_type = 'referral.created') AS cancelled_by_practice,
    ${RESENT_BY_PRACTICE_SQL} AS resent_by_practice, ${WAITS_FOR_EARLIER} AS waits_for_earlier,
    CASE WHEN i.event_type = 'referral.cancelled' THEN (${CANCELLED_REFERRAL_AT_DESTINATION}) END AS cancelled_referral
  FROM delivery d JOIN inbox i ON i.id = d.inbox_id
  LEFT JOIN destination_state ds ON ds.destination = d.destination`;

export async function tryGetDeliveryWork(db: Db, deliveryId: string): Promise<DeliveryWork | undefined> {
  const [row] = await db.query<DeliveryWork>(`${DELIVERY_WORK_SELECT} WHERE d.id = $1`, [deliveryId]);
  return row;
}

/** `tryGetDeliveryWork` for a group of deliveries, in one statement; the ids not found are absent. */
export async function getDeliveryWorks(db: Db, deliveryIds: readonly string[]): Promise<DeliveryWork[]> {
  return db.query<DeliveryWork>(`${DELIVERY_WORK_SELECT} WHERE d.id = ANY($1::uuid[])`, [deliveryIds]);
}

/** The deliveries of one event, as the practice's status view shows them. */
export async function listDeliveriesOf(db: Db, inboxId: string): Promise<Record<string, unknown>[]> {
  return db.query(
    `SELECT id, destination, state, attempts, round, last_status AS "lastStatus", last_error AS "lastError",
       updated_at AS "updatedAt", delivered_at AS "deliveredAt" FROM delivery WHERE inbox_id = $1`,
    [inboxId],
  );
}

/**
 * The receiver's answer columns of an attempt, set from three parameters: summary, ciphertext, key id. An attempt
 * without an answer clears them: they always hold the last attempt's answer.
 */
const ANSWER_SET = (summary: string, sealed: string, keyId: string): string =>
  `response_summary = ${summary}::jsonb, response_sealed = ${sealed}::bytea, response_key_id = ${keyId}::text`;

/** The parameters of ANSWER_SET. */
function answerParams(answer: SealedAnswer | undefined): [string | null, Buffer | null, string | null] {
  return answer ? [JSON.stringify(answer.summary), answer.data, answer.keyId] : [null, null, null];
}

/**
 * `delivered_at` set by an attempt whose outcome is `state` (SQL): now when it delivered, else as it was. A later
 * round that fails (a redelivery) keeps when the receiver last accepted it: "ever delivered" is `delivered_at`.
 */
const DELIVERED_AT_SET = (table: string, state: string): string =>
  `delivered_at = CASE WHEN ${state} = 'delivered' THEN now() ELSE ${table}.delivered_at END`;

/** The answer columns removed at retention (ANSWER_SET's columns but the summary, which holds no text of it). */
const ANSWER_CLEARED = 'response_sealed = NULL, response_key_id = NULL';

/** What one delivery attempt ended in, as recorded on the delivery or feedback row. */
export interface AttemptOutcome<S extends string> {
  state: S;
  status?: number | undefined;
  error?: string | undefined;
  /** The receiver's answer, sealed (sealAnswer); none when there was no answer (network error, timeout). */
  answer?: SealedAnswer | undefined;
  /** A failed attempt that may have reached the receiver (`delivery` only): sets `possibly_received_at` once. */
  possiblyReceived?: boolean | undefined;
}

/**
 * Records the outcome of one attempt on a `delivery`, `feedback` or `trajectory_event` row (they share these columns); moves state
 * only from `pending`, so a late worker cannot undo another's.
 */
export async function recordAttempt(
  db: Db,
  table: 'delivery' | 'feedback' | 'trajectory_event',
  id: string,
  a: AttemptOutcome<DeliveryState | FeedbackState>,
): Promise<boolean> {
  const rows = await db.query(
    `WITH ${fromStatesCte(`'{pending}'`)}
     UPDATE ${table} SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
       ${ANSWER_SET('$5', '$6', '$7')}, updated_at = now(),
       ${DELIVERED_AT_SET(table, '$2')}${a.possiblyReceived ? ', possibly_received_at = COALESCE(possibly_received_at, now())' : ''}
     FROM from_states WHERE ${byIdWhileIn(table, '$1')} RETURNING ${table}.id`,
    [id, a.state, a.status ?? null, a.error ?? null, ...answerParams(a.answer)],
  );
  return rows.length > 0;
}

/** The end of a possibly received attempt's disclosure text (outcome 4), by which `markPossiblyReceivedFromAudit` finds it. */
export const MAY_HAVE_BEEN_RECEIVED = '; may have been received';

/**
 * Sets `possibly_received_at` of a delivery from its audit trail, when an attempt's disclosure of outcome 4 is on
 * record but the mark is not: the attempt is audited first, and recording it may fail after (a lock, a timeout, no
 * connection free). The audit row is the one durable record of the attempt; read here, where it matters, before a
 * cancellation decides whether the referral was sent. Returns whether the delivery now has the mark.
 */
export async function markPossiblyReceivedFromAudit(
  db: Db,
  d: { id: string; tenant: string; inbox_id: string; destination: string },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE delivery SET possibly_received_at = a.recorded
       FROM (SELECT min(recorded) AS recorded FROM audit_event
              WHERE tenant = $2 AND entities @> ARRAY[$3] AND subtype = 'disclose' AND outcome = '4'
                AND position($4 IN resource) > 0 AND position($5 IN resource) > 0) a
      WHERE delivery.id = $1 AND delivery.possibly_received_at IS NULL AND a.recorded IS NOT NULL
      RETURNING delivery.id`,
    [
      d.id,
      d.tenant,
      `inbox/${d.inbox_id}`,
      // As the entity's description and the outcome's text stand in the AuditEvent's JSON.
      JSON.stringify(destinationEntityDescription(d.destination)),
      JSON.stringify(MAY_HAVE_BEEN_RECEIVED).slice(1, -1),
    ],
  );
  return rows.length > 0;
}

/** A pending trajectory event that the decision before sending denied: it stops there, as it would have at receipt. */
export async function denyTrajectoryEvent(db: Db, id: string, reason: string): Promise<void> {
  await db.query(
    `WITH ${fromStatesCte(`'{pending}'`)}
     UPDATE trajectory_event SET state = 'denied', decision = 'deny', decision_reason = $2, updated_at = now()
     FROM from_states WHERE ${byIdWhileIn('trajectory_event', '$1')}`,
    [id, reason],
  );
}

/**
 * Ends a pending delivery and takes its event's step, in one atomic statement: the delivery only from `pending`,
 * the event only from the step's `from` states, and only once no other delivery of it waits (`finishDeliveries`).
 * Returns false when the delivery was no longer pending.
 */
export async function finishDelivery(
  db: Db,
  d: {
    deliveryId: string;
    inboxId: string;
    deliveryState: Exclude<DeliveryState, 'pending'>;
    step: StepName;
    reason: string;
    /** Whether this ends an attempt (the receiver was asked) or stops the delivery before any was made. */
    countsAsAttempt?: boolean;
    status?: number | undefined;
    error?: string | undefined;
    answer?: SealedAnswer | undefined;
  },
): Promise<boolean> {
  return (await finishDeliveries(db, d.step, [d])).has(d.deliveryId);
}

/** What `finishDelivery` takes: the delivery's outcome and its event's step. */
export type DeliveryFinish = Parameters<typeof finishDelivery>[1];

/**
 * `finishDelivery` for a group of deliveries that take the same step, in one atomic statement. Returns the ids of
 * the deliveries that were still pending and are now finished; the others were finished before.
 *
 * An event with several deliveries (a consent event's withdrawal notices to two municipalities) takes the step only
 * with the last of them to finish: while another of its deliveries is pending the event stays `decided`, under way,
 * and nothing is recorded in its history. The last one's step sets the state, unless another of its deliveries is a
 * dead letter: then the event is `dead` (`STEPS.anotherDeadLetter`), since that one needs an operator. A step that
 * leads to `decided` itself is taken as it is.
 */
export async function finishDeliveries(db: Db, step: StepName, ds: readonly DeliveryFinish[]): Promise<Set<string>> {
  const rows = await db.query<{ id: string }>(
    finishDeliveriesSql(undefined, 'SELECT id FROM attempt'),
    finishParams(step, ds),
  );
  return new Set(rows.map((r) => r.id));
}

/** The input rows `changed` does not name, as `go`. */
const HELD_BACK = 'go AS (SELECT * FROM input WHERE NOT EXISTS (SELECT 1 FROM changed WHERE changed.n = input.n))';

/**
 * The statement of `finishDeliveries`: $1..$12 from `finishParams`. `held` are CTEs, after `input`, that end in one
 * named `changed` with a column `n`: the input rows it names are left as they are, and `select` may read it too.
 *
 * How two deliveries of one event finishing at once (two workers) cannot each find the other still pending and both
 * leave it `decided`: `locked` takes the events' rows first, in id order, so the second statement waits there for
 * the first's commit; `others` then reads the events' other deliveries with a lock, which in READ COMMITTED returns
 * each row as last committed rather than as the statement's snapshot saw it, so the second finds the first's
 * outcome. Only once both are read (`gate`, a row made from all of `others`) are the deliveries and events updated.
 */
function finishDeliveriesSql(held: string | undefined, select: string): string {
  const rows = held ? 'go' : 'input';
  return `WITH ${fromStatesCte('$12')}, ${fromStatesCte(`'{pending}'`, 'delivery_from')}, input AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::jsonb[],
         $8::bytea[], $9::text[], $10::int[]) WITH ORDINALITY
         AS x(inbox_id, delivery_id, reason, delivery_state, status, error, response_summary, response_sealed,
           response_key_id, counts, n)
     )${held ? `, ${held}, ${HELD_BACK}` : ''}, locked AS MATERIALIZED (
       SELECT inbox.id FROM from_states, inbox WHERE ${byIdWhileIn('inbox', 'ANY($1::uuid[])')}
       ORDER BY inbox.id FOR NO KEY UPDATE OF inbox
     ), others AS MATERIALIZED (
       SELECT d.inbox_id, d.state, d.destination, d.last_error FROM locked JOIN delivery d ON d.inbox_id = locked.id
       WHERE NOT EXISTS (SELECT 1 FROM ${rows} WHERE ${rows}.delivery_id = d.id)
       ORDER BY d.id FOR SHARE OF d
     ), gate AS MATERIALIZED (SELECT count(*) AS n FROM others), ended AS (
       SELECT ${rows}.inbox_id, ${rows}.n,
         CASE WHEN $11 <> 'decided' AND dead.reason IS NOT NULL THEN '${STEPS.anotherDeadLetter.to}' ELSE $11 END
           AS state,
         CASE WHEN $11 <> 'decided' AND $11 <> 'dead' AND dead.reason IS NOT NULL THEN dead.reason
           ELSE ${rows}.reason END AS reason
       FROM gate, ${rows} LEFT JOIN LATERAL (
         SELECT o.destination || ': ' || coalesce(o.last_error, 'dead letter') AS reason FROM others o
         WHERE o.inbox_id = ${rows}.inbox_id AND o.state = 'dead' ORDER BY o.destination LIMIT 1
       ) dead ON true
       WHERE gate.n >= 0 AND ($11 = 'decided' OR NOT EXISTS (
         SELECT 1 FROM others o WHERE o.inbox_id = ${rows}.inbox_id AND o.state = 'pending'))
     ), moved AS (
       UPDATE inbox SET state = ended.state, state_reason = ended.reason, updated_at = now()
       FROM from_states, ended WHERE ${byIdWhileIn('inbox', 'ANY($1::uuid[])')} AND inbox.id = ended.inbox_id
       RETURNING ended.inbox_id, ended.state, ended.reason, ended.n
     ), history AS (
       INSERT INTO inbox_history (inbox_id, state, reason) SELECT inbox_id, state, reason FROM moved ORDER BY n
     ), attempt AS (
       UPDATE delivery SET state = ${rows}.delivery_state, attempts = attempts + ${rows}.counts,
         last_status = ${rows}.status, last_error = ${rows}.error, response_summary = ${rows}.response_summary,
         response_sealed = ${rows}.response_sealed, response_key_id = ${rows}.response_key_id,
         updated_at = now(), ${DELIVERED_AT_SET('delivery', `${rows}.delivery_state`)}
       FROM gate, delivery_from, ${rows}
       WHERE ${byIdWhileIn('delivery', 'ANY($2::uuid[])', 'delivery_from')} AND delivery.id = ${rows}.delivery_id
         AND gate.n >= 0
       RETURNING delivery.id, ${rows}.n
     )
     ${select}`;
}

/** The parameters $1..$12 of `finishDeliveriesSql`: a row per member of `ds`, all null for a member without one. */
function finishParams(step: StepName, ds: readonly (DeliveryFinish | undefined)[]): unknown[] {
  const { from, to } = STEPS[step];
  return [
    ds.map((d) => d?.inboxId ?? null),
    ds.map((d) => d?.deliveryId ?? null),
    ds.map((d) => d?.reason ?? null),
    ds.map((d) => d?.deliveryState ?? null),
    ds.map((d) => d?.status ?? null),
    ds.map((d) => d?.error ?? null),
    ds.map((d) => (d?.answer ? JSON.stringify(d.answer.summary) : null)),
    bytesArray(ds, (d) => d?.answer?.data),
    ds.map((d) => d?.answer?.keyId ?? null),
    ds.map((d) => (d?.countsAsAttempt === false ? 0 : 1)),
    to,
    from,
  ];
}

/** Which deliveries get a new round, and the step their event takes: a dead letter's replay, or a redelivery. */
export const NEW_ROUND = {
  replay: { deliveryState: 'dead', step: 'replayed' },
  redelivery: { deliveryState: 'delivered', step: 'redelivered' },
} as const satisfies Record<string, { deliveryState: DeliveryState; step: StepName }>;

/**
 * Gives a dead letter (or, as `NEW_ROUND.redelivery`, a delivered delivery) a new round: the delivery is pending
 * again (attempts from zero, the same idempotency key) and its event `decided`, in one transaction. Undefined when
 * the delivery is not in that state (any more), or when its event can no longer be sent because retention removed
 * it (`purged`).
 */
export async function reviveDelivery(
  db: Db,
  deliveryId: string,
  reason: string,
  round: (typeof NEW_ROUND)[keyof typeof NEW_ROUND] = NEW_ROUND.replay,
): Promise<
  | { id: string; inbox_id: string; destination: string; round: number; tenant: string; trace_id: string }
  | 'purged'
  | undefined
> {
  return db.transaction(async (tx) => {
    const [found] = await tx.query<{ inbox_id: string; sealed: boolean }>(
      `WITH ${fromStatesCte(`'{${round.deliveryState}}'`)}
       SELECT d.inbox_id, (i.canonical IS NOT NULL OR i.payload IS NOT NULL) AS sealed
       FROM from_states, delivery d JOIN inbox i ON i.id = d.inbox_id WHERE ${byIdWhileIn('d', '$1')}
       FOR UPDATE OF d`,
      [deliveryId],
    );
    if (!found) {
      return undefined;
    }
    if (!found.sealed) {
      return 'purged';
    }
    const [d] = await tx.query<{
      id: string;
      inbox_id: string;
      destination: string;
      round: number;
      tenant: string;
      trace_id: string;
    }>(
      `UPDATE delivery SET state = 'pending', round = round + 1, attempts = 0, updated_at = now(),
         pending_since = now()
       FROM inbox WHERE delivery.id = $1 AND inbox.id = delivery.inbox_id
       RETURNING delivery.id, delivery.inbox_id, delivery.destination, delivery.round, inbox.tenant, inbox.trace_id`,
      [deliveryId],
    );
    if (!d) {
      return undefined;
    }
    await moveEvent(tx, d.inbox_id, round.step, { reason });
    return d;
  });
}

/** Pending deliveries nobody touched for `graceMs`: candidates for a new deliver job. */
export async function stalePendingDeliveries(
  db: Db,
  graceMs: number,
  configured: readonly string[],
  limit = 5000,
): Promise<{ id: string; destination: string; round: number; trace_id: string }[]> {
  // Only configured destinations: a removed one's deliveries have no queue to go to, and, oldest as they are, a
  // backlog of them would fill every round's LIMIT and keep the configured destinations' lost jobs out for good.
  return db.query(
    `SELECT d.id, d.destination, d.round, i.trace_id FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.state = 'pending' AND d.updated_at < now() - ($1::int * interval '1 millisecond')
       AND d.destination = ANY($2::text[])
     ORDER BY d.updated_at LIMIT $3`,
    [graceMs, configured, limit],
  );
}

/** A destination that holds pending deliveries but is not configured: how many, and how long the oldest has waited. */
export interface UnconfiguredDestination {
  readonly destination: string;
  readonly pending: number;
  readonly oldestSeconds: number;
}

/**
 * The destinations not among `configured` that still hold pending deliveries (taken out of `CONFIG_DIR`, or renamed,
 * while deliveries to them waited): no queue or worker exists for them, so they wait for good. The distinct
 * destinations are read by skipping through `delivery_pending_age` (one probe per destination, however large the
 * backlog); only the unconfigured ones' rows are counted, a backlog that no longer grows.
 */
export async function pendingToUnconfiguredDestinations(
  db: Pick<Db, 'query'>,
  configured: readonly string[],
): Promise<UnconfiguredDestination[]> {
  return db.query<UnconfiguredDestination>(
    `WITH RECURSIVE pending_destination(destination) AS (
       (SELECT destination FROM delivery WHERE state = 'pending' ORDER BY destination LIMIT 1)
       UNION ALL
       SELECT (SELECT d.destination FROM delivery d
                WHERE d.state = 'pending' AND d.destination > p.destination ORDER BY d.destination LIMIT 1)
         FROM pending_destination p WHERE p.destination IS NOT NULL
     )
     SELECT p.destination, count(*)::int AS pending,
            greatest(extract(epoch FROM now() - min(d.pending_since)), 0)::float8 AS "oldestSeconds"
       FROM pending_destination p JOIN delivery d ON d.destination = p.destination AND d.state = 'pending'
      WHERE p.destination IS NOT NULL AND NOT (p.destination = ANY($1::text[]))
      GROUP BY p.destination ORDER BY p.destination`,
    [configured],
  );
}

/** A delivery's destination and its event's type (neither ever changes), or undefined for an unknown delivery. */
export async function tryGetDeliveryTarget(
  db: Db,
  id: string,
): Promise<{ destination: string; eventType: string } | undefined> {
  const [row] = await db.query<{ destination: string; eventType: string }>(
    `SELECT d.destination, i.event_type AS "eventType" FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.id = $1`,
    [id],
  );
  return row;
}

/**
 * Claims the scheduled push of one municipality's report for a period (monitoring_push_claim); false when another
 * process, or an earlier run, already claimed it. Call it in the transaction that stores the push.
 */
export async function claimScheduledReportPush(
  db: Db,
  c: { municipality: string; period: string; inboxId: string },
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO monitoring_push_claim (municipality, period, inbox_id) VALUES ($1, $2, $3)
     ON CONFLICT (municipality, period) DO NOTHING RETURNING municipality`,
    [c.municipality, c.period, c.inboxId],
  );
  return rows.length > 0;
}

/** Whether the scheduled push of this municipality's report for the period was claimed already. */
export async function isScheduledReportPushClaimed(db: Db, municipality: string, period: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM monitoring_push_claim WHERE municipality = $1 AND period = $2', [
    municipality,
    period,
  ]);
  return rows.length > 0;
}

/** The delivery of an event to a destination, if it has one. */
export async function tryGetDeliveryOf(db: Db, inboxId: string, destination: string): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow>(
    'SELECT * FROM delivery WHERE inbox_id = $1 AND destination = $2 AND follow_up_of IS NULL',
    [inboxId, destination],
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// What a municipality holds of a child, and the withdrawal notices that tell it to stop (withdrawal-notice.ts)

/** One delivered event of a child, as `child_disclosure` keeps it (migration 047). No personal data. */
export interface ChildDisclosure {
  /** The delivery that disclosed it. */
  delivery_id: string;
  /** The event it disclosed. */
  inbox_id: string;
  destination: string;
  municipality: string;
  purpose: string;
  data_classes: string[];
  /** The references as sent (`ServiceRequest/<id>`, jeugdbrug's deterministic ids). */
  resources: string[];
  referral_system: string | null;
  referral_value: string | null;
  /** The agreement the delivery rested on (migration 061); null for one recorded before. */
  agreement?: AuditedAgreementRef | null | undefined;
  disclosed_at: Date;
}

/** What `recordChildDisclosures` keeps of one delivery. */
export type NewChildDisclosure = Omit<ChildDisclosure, 'inbox_id' | 'disclosed_at'> & {
  tenant: string;
  child_key: string;
};

/**
 * Keeps what deliveries disclosed about children, before they are recorded as delivered, in one statement for the
 * group: a retry that records an accepted send again writes nothing twice.
 */
export async function recordChildDisclosures(db: Db, ds: readonly NewChildDisclosure[]): Promise<void> {
  await db.query(
    `INSERT INTO child_disclosure (delivery_id, tenant, child_key, destination, municipality, purpose, data_classes,
       resources, referral_system, referral_value, agreement)
     SELECT d.delivery_id, d.tenant, d.child_key, d.destination, d.municipality, d.purpose,
       ARRAY(SELECT jsonb_array_elements_text(d.data_classes)), ARRAY(SELECT jsonb_array_elements_text(d.resources)),
       d.referral_system, d.referral_value, d.agreement
     FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
       $9::text[], $10::text[], $11::jsonb[]) AS d(delivery_id, tenant, child_key, destination, municipality, purpose,
       data_classes, resources, referral_system, referral_value, agreement)
     ON CONFLICT (delivery_id) DO NOTHING`,
    [
      ds.map((d) => d.delivery_id),
      ds.map((d) => d.tenant),
      ds.map((d) => d.child_key),
      ds.map((d) => d.destination),
      ds.map((d) => d.municipality),
      ds.map((d) => d.purpose),
      ds.map((d) => JSON.stringify(d.data_classes)),
      ds.map((d) => JSON.stringify(d.resources)),
      ds.map((d) => d.referral_system),
      ds.map((d) => d.referral_value),
      ds.map((d) => (d.agreement ? JSON.stringify(d.agreement) : null)),
    ],
  );
}

const CHILD_DISCLOSURE_COLUMNS = `cd.delivery_id, dl.inbox_id, cd.destination, cd.municipality, cd.purpose,
  cd.data_classes, cd.resources, cd.referral_system, cd.referral_value, cd.agreement, cd.disclosed_at`;

/** The disclosures of the child with `childKey` at practice `tenant` that no withdrawal notice has covered yet. */
export async function unnoticedDisclosuresOfChild(
  db: Db,
  tenant: string,
  childKey: string,
): Promise<ChildDisclosure[]> {
  return db.query<ChildDisclosure>(
    `SELECT ${CHILD_DISCLOSURE_COLUMNS} FROM child_disclosure cd JOIN delivery dl ON dl.id = cd.delivery_id
     WHERE cd.tenant = $1 AND cd.child_key = $2 AND cd.notice_delivery IS NULL ORDER BY cd.disclosed_at, cd.delivery_id`,
    [tenant, childKey],
  );
}

/** A delivery of an event that reached its destination, with what `child_disclosure` kept of it. */
export interface DeliveredDelivery {
  destination: string;
  /** When the destination first accepted it. */
  delivered_at: Date;
  /** What `child_disclosure` kept (migration 047), all null for a delivery recorded before; `agreement` since 061. */
  agreement: AuditedAgreementRef | null;
  municipality: string | null;
  purpose: string | null;
  data_classes: string[] | null;
  disclosed_at: Date | null;
}

/** The deliveries of event `inboxId` that reached their destination (withdrawal follow-ups aside), first first. */
export async function deliveredDeliveriesOf(db: Db, inboxId: string): Promise<DeliveredDelivery[]> {
  return db.query<DeliveredDelivery>(
    `SELECT d.destination, coalesce(d.first_delivered_at, d.delivered_at) AS delivered_at, cd.agreement,
       cd.municipality, cd.purpose, cd.data_classes, cd.disclosed_at
     FROM delivery d LEFT JOIN child_disclosure cd ON cd.delivery_id = d.id
     WHERE d.inbox_id = $1 AND d.delivered_at IS NOT NULL AND d.follow_up_of IS NULL
     ORDER BY coalesce(d.first_delivered_at, d.delivered_at), d.id`,
    [inboxId],
  );
}

/** The disclosures a withdrawal notice (its delivery `noticeDeliveryId`) tells the municipality about. */
export async function disclosuresOfNotice(db: Db, noticeDeliveryId: string): Promise<ChildDisclosure[]> {
  return db.query<ChildDisclosure>(
    `SELECT ${CHILD_DISCLOSURE_COLUMNS} FROM child_disclosure cd JOIN delivery dl ON dl.id = cd.delivery_id
     WHERE cd.notice_delivery = $1 ORDER BY cd.disclosed_at, cd.delivery_id`,
    [noticeDeliveryId],
  );
}

/** A withdrawal notice that covered one of an event's disclosures, as the event's life shows it. */
export interface NoticeOfEvent {
  /** The notice's delivery. */
  id: string;
  /** The consent event whose delivery it is. */
  consentEvent: string;
  destination: string;
  state: DeliveryState;
  deliveredAt: Date | null;
}

/** The withdrawal notices that told a destination to stop processing what this event disclosed to it. */
export async function withdrawalNoticesOf(db: Db, inboxId: string): Promise<NoticeOfEvent[]> {
  return db.query<NoticeOfEvent>(
    `SELECT n.id, n.inbox_id AS "consentEvent", n.destination, n.state, n.delivered_at AS "deliveredAt"
     FROM delivery d JOIN child_disclosure cd ON cd.delivery_id = d.id JOIN delivery n ON n.id = cd.notice_delivery
     WHERE d.inbox_id = $1 ORDER BY n.created_at, n.id`,
    [inboxId],
  );
}

/**
 * SQL for when jeugdbrug made the withdrawal notice (`decideWithdrawalNotices`, `addWithdrawalNotice`: the child's
 * consent withdrawn, recorded in error or met by an objection) covering what the delivery `delivery` disclosed, or
 * NULL while none did. When it was made, not sent: a destination whose format carries no notice (isamenleving) has
 * one made all the same, as a dead letter, and a municipality reading its received referrals learns of it this way.
 */
export const withdrawalNoticeAtOf = (delivery: string): string =>
  `(SELECT n.created_at FROM child_disclosure wd JOIN delivery n ON n.id = wd.notice_delivery
    WHERE wd.delivery_id = ${delivery})`;

/** A withdrawal notice to create: its delivery, and the disclosures it covers. */
export interface NewNotice {
  readonly id: string;
  readonly destination: string;
  readonly idempotencyKey: string;
  readonly disclosures: readonly string[];
}

/**
 * Moves a consent event `decided` and creates a withdrawal notice per destination, in one transaction: each notice
 * first claims its disclosures (those no other notice claimed, so two consent events at once never tell a
 * municipality twice about the same data), and only a notice that claimed any is created. Returns the deliveries
 * created; none (and the event not moved) when every disclosure was claimed by another notice, or the event was no
 * longer in a state to be decided.
 */
export async function decideWithdrawalNotices(
  db: Db,
  d: { inboxId: string; reason: string; passing: readonly EventState[]; notices: readonly NewNotice[] },
): Promise<DeliveryRow[]> {
  return db
    .transaction(async (tx) => {
      const claimed = await tx.query<{ notice: string }>(
        `UPDATE child_disclosure cd SET notice_delivery = c.notice
       FROM unnest($1::uuid[], $2::uuid[]) AS c(disclosure, notice)
       WHERE cd.delivery_id = c.disclosure AND cd.notice_delivery IS NULL RETURNING c.notice`,
        [d.notices.flatMap((n) => n.disclosures), d.notices.flatMap((n) => n.disclosures.map(() => n.id))],
      );
      const withData = new Set(claimed.map((c) => c.notice));
      const notices = d.notices.filter((n) => withData.has(n.id));
      if (notices.length === 0) {
        return [];
      }
      const created = await tx.query<DeliveryRow>(
        moveSql(
          `, created AS (
          INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
          SELECT n.id, moved.id, n.destination, n.key, 'pending'
          FROM moved, unnest($6::uuid[], $7::text[], $8::text[]) AS n(id, destination, key)
          ON CONFLICT (inbox_id, destination, follow_up_of) DO NOTHING RETURNING *
        )`,
          'SELECT * FROM created',
        ),
        [
          ...moveParams(d.inboxId, 'decided', d),
          notices.map((n) => n.id),
          notices.map((n) => n.destination),
          notices.map((n) => n.idempotencyKey),
        ],
      );
      if (created.length < notices.length) {
        // Not movable (decided before a crash, whose notices exist already): nothing of this attempt is kept.
        throw new NoticesNotCreatedError();
      }
      return created;
    })
    .catch((err: unknown) => {
      if (err instanceof NoticesNotCreatedError) {
        return [];
      }
      throw err;
    });
}

class NoticesNotCreatedError extends Error {
  override readonly name = 'NoticesNotCreatedError';
}

/** A consent event that changed a child's consent since a decision read them, and where that event is now. */
export interface ConsentWriter {
  /** The consent event that last wrote the changed consent; null when not known (written before migration 049). */
  readonly inboxId: string | null;
  readonly eventType: string | null;
  readonly state: EventState | null;
}

/** A child whose consents a decision read (`seen`: `<id>@<version>` of each, as stored then). */
export interface ConsentsSeen {
  readonly tenant: string;
  readonly patientBsn: string;
  readonly seen: readonly string[];
}

/** A member of `finishDeliveriesUnlessConsentsChanged`: a child's consents to check, a delivery to finish, or both. */
export interface FinishUnlessChanged {
  /** Not checked when absent: nothing holds the finish back. */
  readonly check?: ConsentsSeen | undefined;
  /** None: only checked. */
  readonly finish?: DeliveryFinish | undefined;
}

/** What `finishDeliveriesUnlessConsentsChanged` did, by index of its members. */
export interface FinishedUnlessChanged {
  /** The members whose delivery was still pending and is now finished. */
  readonly finished: ReadonlySet<number>;
  /**
   * The members whose child's consents are no longer the ones seen: the consent events that changed them (newest
   * change first). Their delivery is left as it was.
   */
  readonly changed: ReadonlyMap<number, ConsentWriter[]>;
}

/**
 * For a group of children, in one statement: whose consents are no longer the ones `seen`, and which consent events
 * changed them, with their events' states; and the `finishDeliveries` of the members whose consents did not change
 * (or were not checked), all taking `step`. The read and the finish share the statement's snapshot, so a delivery is
 * only finished by a statement that saw its child's consents unchanged. Run after the disclosures it is about were
 * committed (withdrawal-notice.ts): that snapshot is then taken after their commit.
 */
export async function finishDeliveriesUnlessConsentsChanged(
  db: Db,
  step: StepName,
  ms: readonly FinishUnlessChanged[],
): Promise<FinishedUnlessChanged> {
  // The writers' events by key, one lookup each: the planner guesses many changed rows (a hundred per child's
  // consents seen), and would hash a scan of the whole inbox to join them, where there are nearly always none.
  const rows = await db.query<{
    n: string;
    finished: boolean;
    inbox_id: string | null;
    event_type: string | null;
    state: EventState | null;
  }>(
    finishDeliveriesSql(
      `checked AS (
         SELECT * FROM unnest($13::text[], $14::text[], $15::jsonb[]) WITH ORDINALITY AS x(tenant, patient_bsn, seen, n)
         WHERE x.seen IS NOT NULL
       ), now_stored AS (
         SELECT checked.n, checked.seen, c.id || '@' || c.version::text AS at, c.inbox_id, c.updated_at
         FROM checked JOIN consent c ON c.tenant = checked.tenant AND c.patient_bsn = checked.patient_bsn
       ), changed AS (
         SELECT n, inbox_id, updated_at FROM now_stored WHERE NOT seen ? at
         UNION ALL
         SELECT checked.n, NULL, NULL FROM checked, jsonb_array_elements_text(checked.seen) AS s(at)
         WHERE NOT EXISTS (SELECT 1 FROM now_stored WHERE now_stored.n = checked.n AND now_stored.at = s.at)
       )`,
      `SELECT attempt.n, true AS finished, NULL::uuid AS inbox_id, NULL::text AS event_type, NULL::text AS state,
         NULL::timestamptz AS updated_at
       FROM attempt
       UNION ALL
       SELECT changed.n, false, changed.inbox_id,
         (SELECT e.event_type FROM inbox e WHERE e.id = changed.inbox_id),
         (SELECT e.state FROM inbox e WHERE e.id = changed.inbox_id), changed.updated_at
       FROM changed
       ORDER BY 1, 6 DESC NULLS LAST`,
    ),
    [
      ...finishParams(
        step,
        ms.map((m) => m.finish),
      ),
      ms.map((m) => m.check?.tenant ?? null),
      ms.map((m) => m.check?.patientBsn ?? null),
      ms.map((m) => (m.check ? JSON.stringify(m.check.seen) : null)),
    ],
  );
  const finished = new Set<number>();
  const changed = new Map<number, ConsentWriter[]>();
  for (const r of rows) {
    const i = Number(r.n) - 1;
    if (r.finished) {
      finished.add(i);
      continue;
    }
    const list = changed.get(i) ?? [];
    list.push({ inboxId: r.inbox_id, eventType: r.event_type, state: r.state });
    changed.set(i, list);
  }
  return { finished, changed };
}

/**
 * What `addWithdrawalNotice` did: created notices to be queued (the consent event's first notice to the destination,
 * or follow-ups), or nothing, since another notice claimed every disclosure first.
 */
export type AddedNotice =
  | { readonly kind: 'created'; readonly deliveries: DeliveryRow[]; readonly followUp: boolean }
  | { readonly kind: 'claimed-already' };

/**
 * A withdrawal notice of a consent event whose map stage has ended, for disclosures recorded after its search (the
 * race in withdrawal-notice.ts), in one transaction. Without a notice of the event to the destination yet, that
 * notice is created (the same id scheme and idempotency key as `decideWithdrawalNotices`). With one already (waiting,
 * being sent or sent: its send may have read its disclosures already), no disclosure joins it: each gets a follow-up
 * notice of its own (`followUpNoticeOf`, `delivery.follow_up_of`, migration 051), made from the consent event, the
 * destination and the disclosure. Either way only disclosures no notice claimed yet are claimed, so each is in one
 * notice, and the event moves `decided` again from `completed`, `delivered` or `dead`.
 */
export async function addWithdrawalNotice(
  db: Db,
  d: { inboxId: string; reason: string; notice: NewNotice },
): Promise<AddedNotice> {
  return db
    .transaction(async (tx): Promise<AddedNotice> => {
      // The event's row first, as `finishDeliveries` takes it: a finish of the event's last other notice that is
      // under way commits before this reads the event's state (so the move below finds it `delivered` or `dead`),
      // and one that starts later waits for this notice to be committed.
      await tx.query('SELECT id FROM inbox WHERE id = $1 FOR NO KEY UPDATE', [d.inboxId]);
      const [first] = await tx.query<{ id: string }>(
        'SELECT id FROM delivery WHERE inbox_id = $1 AND destination = $2 AND follow_up_of IS NULL FOR UPDATE',
        [d.inboxId, d.notice.destination],
      );
      let created: DeliveryRow[] = [];
      if (!first) {
        created = await tx.query<DeliveryRow>(
          `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state) VALUES ($1, $2, $3, $4, 'pending')
           ON CONFLICT (inbox_id, destination, follow_up_of) DO NOTHING RETURNING *`,
          [d.notice.id, d.inboxId, d.notice.destination, d.notice.idempotencyKey],
        );
      }
      const followUp = created.length === 0;
      if (followUp) {
        // Claimed first: a disclosure another notice claimed gets no follow-up (the claim waits for that one's commit).
        const ids = d.notice.disclosures.map((x) => followUpNoticeOf(d.inboxId, d.notice.destination, x));
        const claimed = await tx.query<{ disclosure: string; id: string; key: string }>(
          `UPDATE child_disclosure cd SET notice_delivery = f.id
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS f(disclosure, id, key)
           WHERE cd.delivery_id = f.disclosure AND cd.notice_delivery IS NULL RETURNING f.disclosure, f.id, f.key`,
          [d.notice.disclosures, ids.map((x) => x.id), ids.map((x) => x.idempotencyKey)],
        );
        created = await tx.query<DeliveryRow>(
          `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, follow_up_of)
           SELECT f.id, $1, $2, f.key, 'pending', f.disclosure
           FROM unnest($3::uuid[], $4::text[], $5::uuid[]) WITH ORDINALITY AS f(id, key, disclosure, n) ORDER BY n
           ON CONFLICT DO NOTHING RETURNING *`,
          [
            d.inboxId,
            d.notice.destination,
            claimed.map((c) => c.id),
            claimed.map((c) => c.key),
            claimed.map((c) => c.disclosure),
          ],
        );
        if (created.length < claimed.length) {
          throw new NoticesNotCreatedError(); // a claim without its notice is never kept
        }
      } else {
        const target = created[0]!.id;
        const claimed = await tx.query(
          `UPDATE child_disclosure SET notice_delivery = $1
           WHERE delivery_id = ANY($2::uuid[]) AND notice_delivery IS NULL RETURNING delivery_id`,
          [target, d.notice.disclosures],
        );
        if (claimed.length === 0) {
          created = [];
        }
      }
      if (created.length === 0) {
        throw new NoticesNotCreatedError(); // another notice covers them: nothing of this is kept
      }
      // From `decided` (another notice of the event still to go out) there is nothing to move.
      await moveEvent(tx, d.inboxId, 'withdrawalNoticeLater', { reason: d.reason });
      return { kind: 'created', deliveries: created, followUp };
    })
    .catch((err: unknown) => {
      if (err instanceof NoticesNotCreatedError) {
        return { kind: 'claimed-already' } as const;
      }
      throw err;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Feedback: a municipality's status updates on referrals, on their way back to the practice

export interface FeedbackRow extends AttemptColumns<FeedbackState> {
  id: string;
  inbox_id: string;
  tenant: string;
  municipality: string;
  status: ReferralStatus;
  service_request_status: string;
  task: Task;
  request_key: string | null;
  /** `contentDigest` of the update as the municipality sent it (null before migration 022). */
  request_digest: string | null;
  submitted_by: string;
  /** The day the status took effect (YYYY-MM-DD). */
  status_date: string | null;
  /** `NewFeedback.detailsDigest` (null before migration 024). */
  details_digest: string | null;
  /**
   * The municipality's free-text reason (Task.statusReason.text), encrypted and kept out of `task`
   * (`feedbackTaskOf` puts it back); removed with the answer at retention. Null without one, once removed, and for
   * a text an older release stored in `task` that `sealPlainFeedbackReasons` has not sealed yet.
   */
  reason_sealed: Buffer | null;
  reason_key_id: string | null;
}

export interface NewFeedback {
  id: string;
  inboxId: string;
  tenant: string;
  municipality: string;
  status: ReferralStatus;
  serviceRequestStatus: string;
  /** The Task without its free-text reason (`reason`). */
  task: Task;
  /** The Task's free-text reason, encrypted; undefined without one. */
  reason: { keyId: string; data: Buffer } | undefined;
  requestKey: string | undefined;
  /** `contentDigest` of the update as sent: tells a repeated request from another one under the same key. */
  requestDigest: string;
  submittedBy: string;
  idempotencyKey: string;
  statusDate: string;
  /** `contentDigest` of the update without its `date`: with the status and its day, what makes it a repeat. */
  detailsDigest: string;
}

/**
 * The events of one referral, given SQL for the id of one of them (`anchor`): the `referral.created` events of its
 * identifier within its practice (the first and the practice's corrections of it), but not across a cancellation of
 * it that reached a municipality, since sending the referral again after that opens it anew. A referral's status
 * history and current status are those of all its events, whichever one a status was recorded on.
 */
export function referralEventsOf(anchor: string): string {
  return `(SELECT ${anchor} UNION SELECT e.inbox_id FROM referral_identifier a
    JOIN inbox ai ON ai.id = a.inbox_id
    JOIN referral_identifier e ON e.value = a.value AND e.system = a.system AND e.tenant = a.tenant
    JOIN inbox ei ON ei.id = e.inbox_id AND ei.event_type = 'referral.created'
    WHERE a.inbox_id = ${anchor} AND NOT EXISTS (
      SELECT 1 FROM referral_identifier rc
      JOIN inbox c ON c.id = rc.inbox_id AND c.event_type = 'referral.cancelled'
      JOIN delivery cd ON cd.inbox_id = c.id AND cd.delivered_at IS NOT NULL
      WHERE rc.value = a.value AND rc.system = a.system AND rc.tenant = a.tenant
        AND ${receivedOrder('c')} > least(${receivedOrder('ai')}, ${receivedOrder('ei')})
        AND ${receivedOrder('c')} < greatest(${receivedOrder('ai')}, ${receivedOrder('ei')})))`;
}

/** How many referral identifiers one statement of `addressOldReferrals` fills: a lock held for milliseconds. */
const ADDRESS_BATCH = 1000;

/**
 * Fills what migration 024 filled once for the referral identifiers stored before it, for those an API process of
 * an older release stored after it (a rolling upgrade's window): the ServiceRequest id, by the same computation
 * (`deterministicId(agb, 'ServiceRequest', referral id)`), so a municipality can address them by what it received;
 * and their referral id's `referral_owner` row (029), which the first referral stored with a child claims. The
 * child's id is inside the encrypted event and stays unknown, as for the identifiers from before 024. Run at every
 * start-up and each reconciler round; the index on `service_request_id` finds the unfilled ones (it holds NULLs), so
 * with none left this is one index probe. Returns how many identifiers it filled.
 */
export async function addressOldReferrals(db: Db): Promise<number> {
  let filled = 0;
  for (;;) {
    const [row] = await db.query<{ n: number }>(
      `WITH filled AS (
         UPDATE referral_identifier r SET service_request_id = (SELECT encode(
             set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
           FROM (SELECT substring(sha256(convert_to(r.tenant || chr(31) || 'ServiceRequest' || chr(31) || r.value,
             'UTF8')) FROM 1 FOR 16) AS h) AS computed)
         -- An array of ids, not a join: the statistics say no row lacks the id, and a join planned on that estimate
         -- read the batch once per row (3 s per 1,000 rows). Each row is then found by its primary key.
         WHERE r.inbox_id = ANY (ARRAY(SELECT inbox_id FROM referral_identifier WHERE service_request_id IS NULL
           LIMIT ${ADDRESS_BATCH})) AND r.service_request_id IS NULL
         RETURNING r.inbox_id, r.tenant, r.system, r.value
       ), owner AS (
         INSERT INTO referral_owner (tenant, system, value)
         SELECT DISTINCT f.tenant, f.system, f.value FROM filled f
           JOIN inbox i ON i.id = f.inbox_id AND i.event_type = 'referral.created'
         ON CONFLICT (tenant, system, value) DO NOTHING
       )
       SELECT count(*)::int AS n FROM filled`,
    );
    filled += row?.n ?? 0;
    if ((row?.n ?? 0) < ADDRESS_BATCH) {
      return filled;
    }
  }
}

/**
 * Stores a status update on the referral event `f.inboxId` unless it may not follow the referral's current status
 * (then `outOfOrder` names the current one). With the municipality's own request key, a repeated request is one
 * update: the second call returns the first row and `duplicate: true`; the key sent before with another update
 * gives `keyReused` (that first row). Without one, the current status sent again with the same day and details is
 * a repeat too (`duplicate: true`, the current row). The referral's events are locked meanwhile, so two updates at
 * once are ordered.
 */
export async function insertFeedback(
  db: Db,
  f: NewFeedback,
): Promise<{ row: FeedbackRow; duplicate: boolean } | { outOfOrder: ReferralStatus } | { keyReused: FeedbackRow }> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT id FROM inbox WHERE id IN ${referralEventsOf('$1::uuid')} ORDER BY id FOR UPDATE`, [
      f.inboxId,
    ]);
    if (f.requestKey !== undefined) {
      const [existing] = await tx.query<FeedbackRow>(
        `SELECT * FROM feedback WHERE inbox_id IN ${referralEventsOf('$1::uuid')} AND request_key = $2`,
        [f.inboxId, f.requestKey],
      );
      if (existing) {
        return isOtherContent(existing.request_digest, f.requestDigest)
          ? { keyReused: existing }
          : { row: existing, duplicate: true };
      }
    }
    const current = await tryGetCurrentFeedback(tx, f.inboxId);
    if (
      current?.status === f.status &&
      current.status_date === f.statusDate &&
      current.details_digest === f.detailsDigest
    ) {
      return { row: current, duplicate: true };
    }
    if (!mayFollow(current?.status, f.status)) {
      return { outOfOrder: current?.status as ReferralStatus };
    }
    // An ending status raises its referral id's count (with the status and its day) in this transaction: a receipt
    // of a correction checked before it commits is refused when it stores the correction (OWNER_CTES).
    const [inserted] = await tx.query<FeedbackRow>(
      `WITH ended AS (
         UPDATE referral_owner o SET ended_count = o.ended_count + 1, ended_status = $5, ended_date = $11
         FROM referral_identifier r
         WHERE $6 <> 'active' AND r.inbox_id = $2 AND o.tenant = r.tenant AND o.system = r.system AND o.value = r.value
       )
       INSERT INTO feedback (id, inbox_id, tenant, municipality, status, service_request_status, task, request_key,
         submitted_by, idempotency_key, state, status_date, request_digest, details_digest, reason_sealed,
         reason_key_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13, $14, $15) RETURNING *`,
      [
        f.id,
        f.inboxId,
        f.tenant,
        f.municipality,
        f.status,
        f.serviceRequestStatus,
        JSON.stringify(f.task),
        f.requestKey ?? null,
        f.submittedBy,
        f.idempotencyKey,
        f.statusDate,
        f.requestDigest,
        f.detailsDigest,
        f.reason?.data ?? null,
        f.reason?.keyId ?? null,
      ],
    );
    if (!inserted) {
      throw new Error(`feedback for ${f.inboxId} was not stored`);
    }
    return { row: inserted, duplicate: false };
  });
}

/**
 * The start of care a municipality last reported on the referral of event `inboxId` (its Task's executionPeriod),
 * or undefined.
 */
export async function tryGetCareStart(db: Db, inboxId: string): Promise<string | undefined> {
  const [row] = await db.query<{ start: string }>(
    `SELECT task->'executionPeriod'->>'start' AS start FROM feedback
     WHERE inbox_id IN ${referralEventsOf('$1::uuid')} AND task->'executionPeriod'->>'start' IS NOT NULL
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    [inboxId],
  );
  return row?.start;
}

/** The status update a municipality last sent on the referral of event `inboxId`, or undefined when it sent none. */
async function tryGetCurrentFeedback(db: Db, inboxId: string): Promise<FeedbackRow | undefined> {
  const [row] = await db.query<FeedbackRow>(
    `SELECT * FROM feedback WHERE inbox_id IN ${referralEventsOf('$1::uuid')} ORDER BY created_at DESC, id DESC LIMIT 1`,
    [inboxId],
  );
  return row;
}

/** How a municipality may name a referral: each reading of what it sent (`findReferrals`), any of which matches. */
export interface ReferralNames {
  /** A business identifier value, of any practice: the referral id, or the HIS's own identifier (`his_value`). */
  readonly value?: string | undefined;
  /** A business identifier with its system (either of the two). */
  readonly identifier?: { readonly system: string; readonly value: string } | undefined;
  /** jeugdbrug's ServiceRequest id; or an event id, of a `referral.created` event. */
  readonly id?: string | undefined;
  /**
   * Where the HIS's own identifier (`his_value`) is matched, since every HIS numbers its referrals its own way:
   * within these practices, and of referrals with a delivery to one of these destinations; undefined, anywhere.
   */
  readonly hisScope?: { readonly practices?: readonly string[]; readonly destinations?: readonly string[] };
}

/**
 * A referral event found by a name, with the destinations it reached and those it is still on its way to. Reached is
 * delivered once (`delivered_at`): a redelivery under way or failed does not undo that it arrived.
 */
export interface NamedReferralEvent {
  id: string;
  tenant: string;
  system: string;
  value: string;
  delivered_to: string[];
  pending_to: string[];
}

/**
 * The `referral.created` events of the referrals `names` matches (every event of a matching identifier, within its
 * practice), newest first, each with its identifier and its delivered and pending destinations.
 */
export async function referralEventsNamed(db: Db, names: ReferralNames): Promise<NamedReferralEvent[]> {
  return db.query(
    `WITH named AS (
       SELECT r.tenant, r.system, r.value FROM referral_identifier r
       WHERE r.value = $1 OR (r.system = $2 AND r.value = $3) OR r.service_request_id = $4::uuid
         OR ((r.his_value = $1 OR (r.his_system = $2 AND r.his_value = $3))
           AND ($5::text[] IS NULL OR r.tenant = ANY($5::text[]))
           AND ($6::text[] IS NULL OR EXISTS (
             SELECT 1 FROM referral_identifier o JOIN delivery d ON d.inbox_id = o.inbox_id
             WHERE o.tenant = r.tenant AND o.system = r.system AND o.value = r.value AND d.destination = ANY($6::text[]))))
         OR (r.inbox_id = $4::uuid AND EXISTS (
           SELECT 1 FROM inbox e WHERE e.id = r.inbox_id AND e.event_type = 'referral.created'))
     )
     SELECT r.inbox_id AS id, r.tenant, r.system, r.value,
       coalesce(array_agg(d.destination) FILTER (WHERE d.delivered_at IS NOT NULL), '{}') AS delivered_to,
       coalesce(array_agg(d.destination) FILTER (WHERE d.state = 'pending'), '{}') AS pending_to
     FROM (SELECT DISTINCT * FROM named) n
     JOIN referral_identifier r ON r.tenant = n.tenant AND r.system = n.system AND r.value = n.value
     JOIN inbox i ON i.id = r.inbox_id AND i.event_type = 'referral.created'
     LEFT JOIN delivery d ON d.inbox_id = r.inbox_id
     GROUP BY r.inbox_id, r.tenant, r.system, r.value, i.received_at, i.received_seq
     ORDER BY i.received_at DESC, i.received_seq DESC LIMIT 50`,
    [
      names.value ?? null,
      names.identifier?.system ?? null,
      names.identifier?.value ?? null,
      names.id ?? null,
      names.hisScope?.practices ?? null,
      names.hisScope?.destinations ?? null,
    ],
  );
}

/** Why a new referral event may not be stored (`referralsRefusedAtReceipt`). */
export type ReferralRefusal =
  | { readonly kind: 'used-for-other-child' }
  | { readonly kind: 'ended'; readonly status: ReferralStatus; readonly date: string | null };

/** What the check at receipt found for new referrals, by position (`referralsRefusedAtReceipt`). */
export interface ReferralChecks {
  /** Those that may not be stored. */
  readonly refused: Map<number, ReferralRefusal>;
  /** The `ended_count` of their referral id, where it is not 0, for `NewEventWithIdentifier.endedCountSeen`. */
  readonly endedCounts: Map<number, number>;
}

/**
 * Of new `referral.created` events (with their `referralIdentifier`), by position, those that may not be stored:
 * - `used-for-other-child`: the practice already used the referral id, in another event, for another child;
 * - `ended`: the referral they correct (the events of the identifier since the last cancellation that reached a
 *   municipality, as `referralEventsOf`) has a current status whose ServiceRequest status is not `active`
 *   (rejected, care ended, closed): the correction would replace the municipality's ended referral with an active
 *   one. An event stored before is left to the insert, which answers it as a duplicate (or an id conflict).
 * One statement for all of them, before they are stored; with, for each, how many times a municipality ended its
 * referral id as this statement saw it, which the insert compares (OWNER_CTES): a status or another child's referral
 * stored between this statement and the insert refuses the event there.
 */
export async function referralsRefusedAtReceipt(
  db: Db,
  rs: readonly NewEventWithIdentifier[],
): Promise<ReferralChecks> {
  const rows = await db.query<{
    n: string;
    refused: boolean;
    reused: boolean;
    status: ReferralStatus | null;
    status_date: string | null;
    ended_count: number;
  }>(
    `SELECT * FROM (
       SELECT x.n, x.reused, cur.status, cur.status_date, x.ended_count,
         x.reused OR (cur.service_request_status <> 'active' AND NOT EXISTS (
           SELECT 1 FROM inbox d WHERE d.tenant = x.tenant AND d.source_event_id = x.source_event_id)) AS refused
       FROM (
         SELECT x.*, x.patient_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM referral_identifier r JOIN inbox i ON i.id = r.inbox_id
           WHERE r.value = x.value AND r.system = x.system AND r.tenant = x.tenant
             AND r.patient_id <> x.patient_id AND i.source_event_id <> x.source_event_id) AS reused,
           coalesce((SELECT o.ended_count FROM referral_owner o
             WHERE o.tenant = x.tenant AND o.system = x.system AND o.value = x.value), 0) AS ended_count
         FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[]) WITH ORDINALITY
           AS x(tenant, system, value, patient_id, source_event_id, n)
         WHERE x.value IS NOT NULL
       ) x
       LEFT JOIN LATERAL (
         SELECT f.status, f.status_date, f.service_request_status FROM referral_identifier r
         JOIN inbox i ON i.id = r.inbox_id AND i.event_type = 'referral.created'
         JOIN feedback f ON f.inbox_id = r.inbox_id
         WHERE r.value = x.value AND r.system = x.system AND r.tenant = x.tenant AND NOT EXISTS (
           SELECT 1 FROM (VALUES (1)) v ${JOIN_LATER_CANCELLATIONS}
           JOIN delivery cd ON cd.inbox_id = c.id AND cd.delivered_at IS NOT NULL)
         ORDER BY f.created_at DESC, f.id DESC LIMIT 1
       ) cur ON true
     ) c WHERE refused OR ended_count <> 0`,
    [
      rs.map((r) => r.tenant),
      rs.map((r) => r.referralIdentifier?.system ?? null),
      rs.map((r) => r.referralIdentifier?.value ?? null),
      rs.map((r) => r.referralIdentifier?.patientId ?? null),
      rs.map((r) => r.sourceEventId),
    ],
  );
  const refused = new Map<number, ReferralRefusal>();
  const endedCounts = new Map<number, number>();
  for (const r of rows) {
    const n = Number(r.n) - 1;
    if (r.refused) {
      refused.set(n, refusalOf({ reused: r.reused, ended_status: r.status, ended_date: r.status_date }));
    }
    if (r.ended_count !== 0) {
      endedCounts.set(n, r.ended_count);
    }
  }
  return { refused, endedCounts };
}

/**
 * SQL for the practice's cancellation of the referral event `anchor` (SQL for its inbox id; the statement's own
 * aliases are `r`, `i`, `c`, `cd`, `ra`, `a`) that reached a municipality: the first cancellation with the same
 * identifier, received after the referral, that was delivered, unless the referral was sent again after it (it is
 * open again then). Selects `columns` of it: `c` is its inbox row, `cd` its delivery. Delivered once is enough
 * (`delivered_at`, kept through a redelivery's rounds): the municipality has it while it is sent again and after
 * that failed. When it reached the municipality is the first time (`first_delivered_at`): a redelivery does not move
 * it.
 */
function deliveredCancellationSql(anchor: string, columns: string): string {
  return `SELECT ${columns} FROM referral_identifier r
       JOIN inbox i ON i.id = r.inbox_id ${JOIN_LATER_CANCELLATIONS}
       JOIN delivery cd ON cd.inbox_id = c.id AND cd.delivered_at IS NOT NULL
     WHERE r.inbox_id = ${anchor} AND NOT EXISTS (
       SELECT 1 FROM referral_identifier ra JOIN inbox a ON a.id = ra.inbox_id
       WHERE ra.value = r.value AND ra.system = r.system AND ra.tenant = r.tenant
         AND a.event_type = 'referral.created' AND ${receivedOrder('a')} > ${receivedOrder('c')})
     ORDER BY cd.first_delivered_at LIMIT 1`;
}

/** The practice's cancellation of a referral (`practiceCancellationsOf`): its event id, state, and arrival. */
export interface PracticeCancellation {
  /** The practice's own id of the `referral.cancelled` event. */
  readonly eventId: string;
  readonly state: string;
  /** When it first reached the municipality (a redelivery does not move this); null while it did not. */
  readonly reachedAt: Date | null;
}

/**
 * Of the referral events `ids`: those the practice cancelled since, each with its newest cancellation (the
 * `referral.cancelled` of the same identifier received after it, unless the referral was sent again after that: it
 * is open again then, as `deliveredCancellationSql` has it), whether or not that went out. For the practice's console.
 */
export async function practiceCancellationsOf(
  db: Db,
  ids: readonly string[],
): Promise<Map<string, PracticeCancellation>> {
  if (ids.length === 0) {
    return new Map();
  }
  const rows = await db.query<{ id: string; event_id: string; state: string; reached_at: Date | null }>(
    `SELECT DISTINCT ON (i.id) i.id, c.source_event_id AS event_id, c.state,
       (SELECT min(coalesce(cd.first_delivered_at, cd.delivered_at)) FROM delivery cd
         WHERE cd.inbox_id = c.id AND cd.delivered_at IS NOT NULL) AS reached_at
     FROM referral_identifier r JOIN inbox i ON i.id = r.inbox_id AND i.event_type = 'referral.created'
       ${JOIN_LATER_CANCELLATIONS}
     WHERE r.inbox_id = ANY($1::uuid[]) AND NOT EXISTS (
       SELECT 1 FROM referral_identifier ra JOIN inbox a ON a.id = ra.inbox_id
       WHERE ra.value = r.value AND ra.system = r.system AND ra.tenant = r.tenant
         AND a.event_type = 'referral.created' AND ${receivedOrder('a')} > ${receivedOrder('c')})
     ORDER BY i.id, c.received_at DESC, c.received_seq DESC`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, { eventId: r.event_id, state: r.state, reachedAt: r.reached_at }]));
}

/** SQL for the inbox id of `tryGetDeliveredCancellation`'s cancellation of the referral event `anchor`, or NULL. */
export const deliveredCancellationIdOf = (anchor: string): string => `(${deliveredCancellationSql(anchor, 'c.id')})`;

/**
 * SQL for when `tryGetDeliveredCancellation`'s cancellation of the referral event `anchor` first reached the
 * municipality (a redelivery of it does not move this), or NULL.
 */
export const deliveredCancellationAtOf = (anchor: string): string =>
  `(${deliveredCancellationSql(anchor, 'cd.first_delivered_at')})`;

/**
 * SQL for the referral event that the `referral.cancelled` event `anchor` cancels (its statement's aliases are `c`,
 * `ci`, `r`, `ri`): the newest `referral.created` of its identifier received before it, or NULL.
 */
export const cancelledReferralIdOf = (anchor: string): string => `(SELECT ri.id FROM referral_identifier c
    JOIN inbox ci ON ci.id = c.inbox_id
    JOIN referral_identifier r ON r.value = c.value AND r.system = c.system AND r.tenant = c.tenant
    JOIN inbox ri ON ri.id = r.inbox_id AND ri.event_type = 'referral.created'
      AND ${receivedOrder('ri')} < ${receivedOrder('ci')}
    WHERE c.inbox_id = ${anchor} ORDER BY ri.received_at DESC, ri.received_seq DESC LIMIT 1)`;

/**
 * The practice's cancellation of referral `inboxId` that reached a municipality (`deliveredCancellationSql`): its
 * event's id and when it first reached the municipality (a redelivery of it does not move that).
 */
export async function tryGetDeliveredCancellation(
  db: Db,
  inboxId: string,
): Promise<{ id: string; deliveredAt: Date } | undefined> {
  const [row] = await db.query<{ id: string; first_delivered_at: Date }>(
    deliveredCancellationSql('$1::uuid', 'c.id, cd.first_delivered_at'),
    [inboxId],
  );
  return row && { id: row.id, deliveredAt: row.first_delivered_at };
}

/**
 * The Tasks municipalities `municipalities` (`'*'`: any) sent whose Task carries `identifier` (a value alone matches
 * it in any system, as a FHIR token search does), at most two (enough to tell one match from several): what
 * `If-None-Exist: identifier=` on `POST /fhir/Task` searches. The stored Task holds the municipality's identifiers
 * beside jeugdbrug's own; index feedback_task_identifier (migration 042).
 */
export async function findOwnTasks(
  db: Db,
  municipalities: readonly string[],
  identifier: { readonly system?: string | undefined; readonly value?: string | undefined },
): Promise<FeedbackRow[]> {
  const wanted = JSON.stringify([
    { ...(identifier.system ? { system: identifier.system } : {}), value: identifier.value ?? '' },
  ]);
  return db.query<FeedbackRow>(
    `SELECT * FROM feedback WHERE (task->'identifier') @> $1::jsonb
       AND ('*' = ANY($2::text[]) OR municipality = ANY($2::text[]))
     ORDER BY created_at, id LIMIT 2`,
    [wanted, [...municipalities]],
  );
}

export async function tryGetFeedback(db: Db, id: string): Promise<FeedbackRow | undefined> {
  const [row] = await db.query<FeedbackRow>('SELECT * FROM feedback WHERE id = $1', [id]);
  return row;
}

/** The status updates on the referral of event `inboxId` (`referralEventsOf`), oldest first. */
export async function listReferralFeedback(db: Db, inboxId: string): Promise<FeedbackRow[]> {
  return db.query<FeedbackRow>(
    `SELECT * FROM feedback WHERE inbox_id IN ${referralEventsOf('$1::uuid')} ORDER BY created_at, id`,
    [inboxId],
  );
}

/** Gives a dead feedback delivery a new round; undefined when it is not dead. */
export async function reviveFeedback(db: Db, id: string): Promise<(FeedbackRow & { trace_id: string }) | undefined> {
  // With the referral's trace id: the replayed job is followed under the same id as the rest of the event's life.
  const [row] = await db.query<FeedbackRow & { trace_id: string }>(
    `WITH ${fromStatesCte(`'{dead}'`)}
     UPDATE feedback SET state = 'pending', round = round + 1, attempts = 0, updated_at = now()
     FROM from_states, inbox WHERE ${byIdWhileIn('feedback', '$1')} AND inbox.id = feedback.inbox_id
     RETURNING feedback.*, inbox.trace_id`,
    [id],
  );
  return row;
}

/** Another status update of the same referral, as `feedbackOrderOf` reads it. */
export interface OtherFeedback {
  readonly id: string;
  readonly status: ReferralStatus;
  readonly state: FeedbackState;
  /** Recorded before the update asked about (by `created_at, id`, the order `insertFeedback` checks statuses in). */
  readonly earlier: boolean;
}

/**
 * The other status updates on the referral of update `id` (over its corrections, `referralEventsOf`), newest first:
 * what its delivery to the practice waits for (an earlier one still pending) or is superseded by (a later one sent).
 * By the referral's events' key and `feedback_inbox`: a referral has a handful of updates.
 */
export async function feedbackOrderOf(db: Db, id: string): Promise<OtherFeedback[]> {
  return db.query<OtherFeedback>(
    `SELECT o.id, o.status, o.state, (o.created_at, o.id) < (f.created_at, f.id) AS earlier
       FROM feedback f JOIN feedback o ON o.inbox_id IN ${referralEventsOf('f.inbox_id')} AND o.id <> f.id
      WHERE f.id = $1 ORDER BY o.created_at DESC, o.id DESC`,
    [id],
  );
}

/**
 * Ends a status update that is in one of `from` as `superseded`, with `reason` as its last error (what operators
 * read); false when it was in none of them any more.
 */
export async function supersedeFeedback(
  db: Db,
  id: string,
  from: readonly ('pending' | 'dead')[],
  reason: string,
): Promise<boolean> {
  const rows = await db.query(
    `WITH ${fromStatesCte('$3')}
     UPDATE feedback SET state = 'superseded', last_error = $2, updated_at = now()
     FROM from_states WHERE ${byIdWhileIn('feedback', '$1')} RETURNING feedback.id`,
    [id, reason, from],
  );
  return rows.length > 0;
}

/** Pending status updates nobody touched for `graceMs`: candidates for a new feedback job. */
export async function stalePendingFeedback(
  db: Db,
  graceMs: number,
): Promise<{ id: string; round: number; trace_id: string }[]> {
  return db.query(
    `SELECT f.id, f.round, i.trace_id FROM feedback f JOIN inbox i ON i.id = f.inbox_id
     WHERE f.state = 'pending' AND f.updated_at < now() - ($1::int * interval '1 millisecond')
     ORDER BY f.updated_at LIMIT 5000`,
    [graceMs],
  );
}

export async function feedbackExists(db: Db, id: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM feedback WHERE id = $1', [id])).length > 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Trajectory events from municipalities (the reverse direction), and their delivery to the practice

export interface TrajectoryEventRow extends AttemptColumns<TrajectoryEventState> {
  id: string;
  tenant: string;
  municipality: string;
  source_event_id: string;
  event_type: string;
  payload: Buffer | null;
  payload_key_id: string | null;
  submitted_by: string;
  decision: 'permit' | 'deny';
  decision_reason: string;
  agreement_id: string | null;
  agreement_version: number | null;
  trace_id: string;
  content_digest: string | null;
}

export interface NewTrajectoryEvent {
  id: string;
  tenant: string;
  municipality: string;
  sourceEventId: string;
  eventType: string;
  payload: Buffer;
  payloadKeyId: string;
  submittedBy: string;
  decision: 'permit' | 'deny';
  decisionReason: string;
  agreement?: { id: string; version: number } | undefined;
  idempotencyKey: string;
  traceId: string;
  /** `contentDigest` of the event as received. */
  contentDigest: string;
}

/**
 * Stores a municipality's trajectory event with its decision (`pending` delivery on permit, `denied` on deny), unless
 * that municipality sent this event id before: then the first row comes back with `duplicate: true`, and
 * `conflict: true` when its content was other than this one's.
 */
export async function insertTrajectoryEvent(
  db: Db,
  e: NewTrajectoryEvent,
): Promise<{ row: TrajectoryEventRow; duplicate: boolean; conflict: boolean }> {
  const [inserted] = await db.query<TrajectoryEventRow>(
    `INSERT INTO trajectory_event (id, tenant, municipality, source_event_id, event_type, payload, payload_key_id,
       submitted_by, decision, decision_reason, agreement_id, agreement_version, idempotency_key, state, trace_id,
       content_digest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (municipality, source_event_id) DO NOTHING RETURNING *`,
    [
      e.id,
      e.tenant,
      e.municipality,
      e.sourceEventId,
      e.eventType,
      e.payload,
      e.payloadKeyId,
      e.submittedBy,
      e.decision,
      e.decisionReason,
      e.agreement?.id ?? null,
      e.agreement?.version ?? null,
      e.idempotencyKey,
      e.decision === 'permit' ? 'pending' : 'denied',
      e.traceId,
      e.contentDigest,
    ],
  );
  if (inserted) {
    return { row: inserted, duplicate: false, conflict: false };
  }
  const existing = await tryGetTrajectoryEventBySource(db, e.municipality, e.sourceEventId);
  if (!existing) {
    throw new Error(`trajectory event ${e.sourceEventId} of ${e.municipality} was not stored`);
  }
  return { row: existing, duplicate: true, conflict: isOtherContent(existing.content_digest, e.contentDigest) };
}

async function tryGetTrajectoryEventBySource(
  db: Db,
  municipality: string,
  sourceEventId: string,
): Promise<TrajectoryEventRow | undefined> {
  const [row] = await db.query<TrajectoryEventRow>(
    'SELECT * FROM trajectory_event WHERE municipality = $1 AND source_event_id = $2',
    [municipality, sourceEventId],
  );
  return row;
}

export async function tryGetTrajectoryEvent(db: Db, id: string): Promise<TrajectoryEventRow | undefined> {
  const [row] = await db.query<TrajectoryEventRow>('SELECT * FROM trajectory_event WHERE id = $1', [id]);
  return row;
}

/**
 * Removes the encrypted content of trajectory events finished (delivered, denied, dead) before `before`, and the
 * practice's answer to them, in batches; returns the tenant of each cleared row. As in the inbox, the row with its
 * decision, delivery outcome and answer summary stays.
 */
export async function clearFinishedTrajectoryPayloads(
  db: Db,
  before: Date,
  batch: number,
): Promise<{ tenant: string }[]> {
  return db.query<{ tenant: string }>(
    `UPDATE trajectory_event SET payload = NULL, payload_key_id = NULL, content_digest = NULL, ${ANSWER_CLEARED}
     WHERE id IN (SELECT id FROM trajectory_event WHERE state IN ('delivered', 'denied', 'dead', 'unacknowledged')
       AND updated_at < $1 AND payload IS NOT NULL LIMIT $2)
     RETURNING tenant`,
    [before, batch],
  );
}

/** A Task's free-text reason as an older release stored it (migration 040): in plain text, inside the Task. */
const PLAIN_REASON = `task -> 'statusReason' ? 'text'`;

/**
 * Removes the practices' answers to status updates whose delivery ended (delivered, dead) before `before`, and the
 * municipality's free-text reason (sealed, or in plain text from an older release), in batches; returns the tenant
 * of each cleared row. A status update is not part of the inbox payload whose purge could take them along, so they
 * go after the same period from its own end; the Task keeps its codes and dates. By `feedback_answer`,
 * `feedback_reason_sealed` and `feedback_reason_plain`.
 */
export async function clearFinishedFeedbackAnswers(db: Db, before: Date, batch: number): Promise<{ tenant: string }[]> {
  return db.query<{ tenant: string }>(
    `UPDATE feedback SET ${ANSWER_CLEARED}, reason_sealed = NULL, reason_key_id = NULL,
       task = task #- '{statusReason,text}'
     WHERE id IN (SELECT id FROM feedback
       WHERE (response_sealed IS NOT NULL OR reason_sealed IS NOT NULL OR ${PLAIN_REASON}) AND updated_at < $1
       AND state IN ('delivered', 'dead', 'superseded') LIMIT $2)
     RETURNING tenant`,
    [before, batch],
  );
}

/** How many status updates one round of `sealPlainFeedbackReasons` reads. */
const SEAL_BATCH = 500;

/**
 * Encrypts the free-text reasons an older release stored in plain text inside the Task (before migration 040, or
 * during a rolling upgrade's window): SQL cannot use the key, so this runs at every start-up and each reconciler
 * round. The partial index `feedback_reason_plain` holds only such rows: with none left this is one probe of an
 * empty index. A row whose text changed meanwhile is left for the next round. Returns how many it sealed.
 */
export async function sealPlainFeedbackReasons(db: Db, cipher: PayloadCipher): Promise<number> {
  let sealed = 0;
  for (;;) {
    const plain = await db.query<{ id: string; text: string | null }>(
      `SELECT id, task -> 'statusReason' ->> 'text' AS text FROM feedback WHERE ${PLAIN_REASON} LIMIT ${SEAL_BATCH}`,
    );
    let sealedNow = 0;
    for (const row of plain) {
      const { keyId, data } = cipher.encrypt(row.text);
      const updated = await db.query(
        `UPDATE feedback SET task = task #- '{statusReason,text}', reason_sealed = $2, reason_key_id = $3
         WHERE id = $1 AND task -> 'statusReason' ->> 'text' IS NOT DISTINCT FROM $4 RETURNING id`,
        [row.id, data, keyId, row.text],
      );
      sealedNow += updated.length;
    }
    sealed += sealedNow;
    // A full batch read again only while it makes progress: rows changed meanwhile wait for the next round.
    if (plain.length < SEAL_BATCH || sealedNow === 0) {
      return sealed;
    }
  }
}

/** Gives a dead trajectory event's delivery a new round; undefined when it is not dead. */
export async function reviveTrajectoryEvent(db: Db, id: string): Promise<TrajectoryEventRow | undefined> {
  const [row] = await db.query<TrajectoryEventRow>(
    `WITH ${fromStatesCte(`'{dead}'`)}
     UPDATE trajectory_event SET state = 'pending', round = round + 1, attempts = 0, updated_at = now()
     FROM from_states WHERE ${byIdWhileIn('trajectory_event', '$1')} RETURNING trajectory_event.*`,
    [id],
  );
  return row;
}

/** A trajectory event the reconciler may queue a job for, once its receipt is on record. */
export interface TrajectoryEventToSend {
  id: string;
  tenant: string;
  round: number;
  trace_id: string;
}

/** Pending trajectory events nobody touched for `graceMs`: candidates for a new job. */
export async function stalePendingTrajectoryEvents(db: Db, graceMs: number): Promise<TrajectoryEventToSend[]> {
  return db.query(
    `SELECT id, tenant, round, trace_id FROM trajectory_event
     WHERE state = 'pending' AND updated_at < now() - ($1::int * interval '1 millisecond')
     ORDER BY updated_at LIMIT 5000`,
    [graceMs],
  );
}

/** Trajectory events held because their receipt was not recorded (`TRAJECTORY_STEPS.unacknowledged`), oldest first. */
export async function unacknowledgedTrajectoryEvents(db: Db): Promise<TrajectoryEventToSend[]> {
  return db.query(
    'SELECT id, tenant, round, trace_id FROM trajectory_event WHERE state = $1 ORDER BY updated_at LIMIT 5000',
    [TRAJECTORY_STEPS.unacknowledged.to],
  );
}

/**
 * Takes a trajectory event's step (`TRAJECTORY_STEPS`); returns the row as it is now, or undefined when it was not in
 * the state the step leaves.
 */
export async function moveTrajectoryEvent(
  db: Db,
  id: string,
  step: TrajectoryStepName,
): Promise<TrajectoryEventRow | undefined> {
  const { from, to } = TRAJECTORY_STEPS[step];
  const [row] = await db.query<TrajectoryEventRow>(
    `WITH ${fromStatesCte('$3')}
     UPDATE trajectory_event SET state = $2, updated_at = now()
     FROM from_states WHERE ${byIdWhileIn('trajectory_event', '$1')} RETURNING trajectory_event.*`,
    [id, to, from],
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Consents

/**
 * Writes consents into the registry, each merged with what is stored under its id by applyConsentUpdate: a re-sent
 * consent replaces the old one; a withdrawal keeps what was consented to and marks it withdrawn (for the parties who
 * withdrew, or as a whole), so decisions can still say which consent was withdrawn; entered-in-error voids it.
 * Runs inside the receiving transaction; the row lock keeps two events about one consent from losing an update.
 * Returns how many were withdrawn or voided before any recording of them arrived (kept, so the recording cannot undo
 * them), and the version of each consent as written (migration 087: the same as before when the write changed nothing).
 */
export async function upsertConsents(
  db: Db,
  tenant: string,
  patientBsn: string,
  consents: readonly Consent[],
  /** The event that carries them (migration 049): its withdrawal notices cover what a change of theirs withdraws. */
  writtenBy?: string,
): Promise<ConsentsWritten> {
  let unknown = 0;
  let byOthers = 0;
  const versions: Record<string, number> = {};
  for (const c of consents) {
    const [stored] = await db.query<{ resource: Consent }>(
      'SELECT resource FROM consent WHERE id = $1 AND tenant = $2 FOR UPDATE',
      [c.id, tenant],
    );
    if (!stored && (c.status === 'inactive' || c.status === 'entered-in-error')) {
      unknown++;
    }
    if (withdrawersNotGivers(stored?.resource, c).length > 0) {
      byOthers++;
    }
    const merged = applyConsentUpdate(stored?.resource, c);
    // Never over another child's consent under the same id: checked at receipt (`consentsOfOtherChildren`), and here
    // for one recorded after that check (its insert may commit while this waits for its key). Merged, it would
    // rewrite that child's consent; the whole request is refused, and sent again the check at receipt names the event.
    const [written] = await db.query<{ version_id: number }>(
      `INSERT INTO consent (id, tenant, patient_bsn, status, date_time, resource, inbox_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, date_time = EXCLUDED.date_time,
         resource = EXCLUDED.resource, inbox_id = EXCLUDED.inbox_id, updated_at = now()
       WHERE consent.patient_bsn = EXCLUDED.patient_bsn AND consent.tenant = EXCLUDED.tenant
       RETURNING version_id`,
      [c.id, tenant, patientBsn, merged.status, merged.dateTime ?? null, JSON.stringify(merged), writtenBy ?? null],
    );
    if (!written) {
      throw new ConsentOfAnotherChildError(c.id ?? '');
    }
    if (c.id !== undefined) {
      versions[c.id] = written.version_id;
    }
  }
  return { notHeld: unknown, withdrawnByOthers: byOthers, versions };
}

/** A consent id this practice recorded for another child, met while merging consents (`upsertConsents`). */
export class ConsentOfAnotherChildError extends Error {
  constructor(readonly consentId: string) {
    super('a consent id recorded for another child');
  }
}

/**
 * Which of the consents sent (jeugdbrug's consent ids: each holds its practice's AGB, `resourceIds.consent`) are
 * recorded for a child other than the one each comes with: a practice that reuses a consent id for another child
 * would otherwise merge the new consent into the first child's (`upsertConsents` keeps the first child), telling the
 * practice it was recorded while the second child has none, and changing what the first child consented to. One
 * statement per request.
 */
export async function consentsOfOtherChildren(
  db: Db,
  consents: readonly { id: string; patientBsn: string }[],
): Promise<Set<string>> {
  if (consents.length === 0) {
    return new Set();
  }
  const rows = await db.query<{ id: string }>(
    `SELECT c.id FROM consent c
       JOIN unnest($1::text[], $2::text[]) AS sent(id, patient_bsn) ON sent.id = c.id
      WHERE c.patient_bsn <> sent.patient_bsn`,
    [consents.map((c) => c.id), consents.map((c) => c.patientBsn)],
  );
  return new Set(rows.map((r) => r.id));
}

/** What `upsertConsents` wrote. */
export interface ConsentsWritten {
  /** How many were withdrawn or voided before any recording of them arrived. */
  readonly notHeld: number;
  /** How many were withdrawn by someone who gave no part of them (`withdrawersNotGivers`). */
  readonly withdrawnByOthers: number;
  /** Each consent's version (`meta.versionId`) now, by id. */
  readonly versions: Readonly<Record<string, number>>;
}

/**
 * Every consent a practice recorded for a child, newest first, and the version of each as read (migration 087), by
 * id: what a decision about them cites.
 */
export async function listConsents(
  db: Db,
  tenant: string,
  patientBsn: string,
): Promise<{ consents: Consent[]; versions: Record<string, number> }> {
  const rows = await db.query<{ id: string; version_id: number; resource: Consent }>(
    `SELECT id, version_id, resource FROM consent WHERE tenant = $1 AND patient_bsn = $2
     ORDER BY date_time DESC NULLS LAST, id`,
    [tenant, patientBsn],
  );
  return {
    consents: rows.map((r) => r.resource),
    versions: Object.fromEntries(rows.map((r) => [r.id, r.version_id])),
  };
}

/**
 * `listConsents` for a group of children, in one statement, as stored: each consent's id, its version (migration
 * 014: new on every write) and its resource as text, unparsed, so a caller that keeps what it derived from a stored
 * version (ConsentCache) parses only versions it has not seen. Newest first, by `childKey`.
 */
export async function listStoredConsentsOfChildren(
  db: Db,
  children: readonly { tenant: string; patientBsn: string }[],
): Promise<Map<string, StoredConsent[]>> {
  const rows = await db.query<{
    tenant: string;
    patient_bsn: string;
    id: string;
    version: string;
    version_id: number;
    text: string;
  }>(
    `SELECT c.tenant, c.patient_bsn, c.id, c.version::text AS version, c.version_id, c.resource::text AS text
     FROM consent c
     JOIN unnest($1::text[], $2::text[]) AS k(tenant, patient_bsn)
       ON c.tenant = k.tenant AND c.patient_bsn = k.patient_bsn
     ORDER BY c.date_time DESC NULLS LAST, c.id`,
    [children.map((c) => c.tenant), children.map((c) => c.patientBsn)],
  );
  const out = new Map<string, StoredConsent[]>();
  for (const r of rows) {
    const key = childKey(r.tenant, r.patient_bsn);
    const stored: StoredConsent = { id: r.id, version: r.version, versionId: r.version_id, text: r.text };
    const list = out.get(key);
    if (list) {
      list.push(stored);
    } else {
      out.set(key, [stored]);
    }
  }
  return out;
}

/**
 * The version of consent `consentId` that event `inboxId` wrote (migration 090 keeps each version's writer), the
 * newest if it wrote several; undefined when it wrote none (a re-send that changed nothing) or before 090.
 */
export async function tryGetVersionWrittenBy(db: Db, consentId: string, inboxId: string): Promise<number | undefined> {
  const [row] = await db.query<{ version_id: number }>(
    `SELECT version_id FROM consent_history WHERE id = $1 AND inbox_id = $2 ORDER BY version_id DESC LIMIT 1`,
    [consentId, inboxId],
  );
  return row?.version_id;
}

/** `listConsents` of one child, as stored (see listStoredConsentsOfChildren). */
export async function listStoredConsents(db: Db, tenant: string, patientBsn: string): Promise<StoredConsent[]> {
  return (await listStoredConsentsOfChildren(db, [{ tenant, patientBsn }])).get(childKey(tenant, patientBsn)) ?? [];
}

/** The key of a child within a practice, as `listStoredConsentsOfChildren` returns it. */
export const childKey = (tenant: string, patientBsn: string): string => `${tenant}\u0000${patientBsn}`;

// ---------------------------------------------------------------------------------------------------------------
// Destination health: consecutive failures and the pause flag, per destination

export type PausedBy = 'auto' | 'operator';

export interface DestinationStateRow {
  destination: string;
  consecutive_failures: number;
  paused_by: PausedBy | null;
  paused_at: Date | null;
  pause_reason: string | null;
  /** Who paused it (or last gave its reason), as the audit names the principal; NULL for a pause before 050. */
  paused_by_principal: string | null;
  last_failure_at: Date | null;
  last_error: string | null;
  last_probe_at: Date | null;
  last_probe_result: string | null;
  /** Set by a successful probe of an automatic pause: one trial delivery may go out (half-open). */
  half_open_at: Date | null;
  /** The delivery that claimed the trial; null while the next delivery may take it. */
  trial_delivery: string | null;
  trial_claimed_at: Date | null;
  updated_at: Date;
}

/** What a pause records when the operator gave no reason; a later pause with a reason replaces it. */
export const OPERATOR_PAUSE_REASON = 'paused by an operator';

/** The columns of the half-open state, cleared by anything that ends it (a resume, a pause, a failed trial). */
const NOT_HALF_OPEN = 'half_open_at = NULL, trial_delivery = NULL, trial_claimed_at = NULL';

export async function tryGetDestinationState(db: Db, destinationId: string): Promise<DestinationStateRow | undefined> {
  const [row] = await db.query<DestinationStateRow>('SELECT * FROM destination_state WHERE destination = $1', [
    destinationId,
  ]);
  return row;
}

export async function listDestinationStates(db: Db): Promise<DestinationStateRow[]> {
  return db.query<DestinationStateRow>('SELECT * FROM destination_state');
}

/** A delivered attempt ends a run of failures. Writes nothing when there was none (the common case). */
export async function resetDestinationFailures(db: Db, destinationId: string): Promise<void> {
  await db.query(
    `UPDATE destination_state SET consecutive_failures = 0, updated_at = now()
     WHERE destination = $1 AND consecutive_failures > 0`,
    [destinationId],
  );
}

/** `resetDestinationFailures` for several destinations, in one statement. */
export async function resetFailuresOfDestinations(db: Db, destinationIds: readonly string[]): Promise<void> {
  await db.query(
    `UPDATE destination_state SET consecutive_failures = 0, updated_at = now()
     WHERE destination = ANY($1::text[]) AND consecutive_failures > 0`,
    [destinationIds],
  );
}

export interface DestinationFailureCount {
  consecutive_failures: number;
  paused_by: PausedBy | null;
  /** Whether the destination was half-open (letting a trial delivery through) when the failure was counted. */
  half_open: boolean;
}

/** Counts one failed attempt; returns the new count, who paused the destination (if anyone) and whether half-open. */
export async function countDestinationFailure(
  db: Db,
  destinationId: string,
  error: string,
): Promise<DestinationFailureCount | undefined> {
  const [row] = await db.query<DestinationFailureCount>(
    `INSERT INTO destination_state (destination, consecutive_failures, last_failure_at, last_error)
     VALUES ($1, 1, now(), $2)
     ON CONFLICT (destination) DO UPDATE SET consecutive_failures = destination_state.consecutive_failures + 1,
       last_failure_at = now(), last_error = $2, updated_at = now()
     RETURNING consecutive_failures, paused_by, half_open_at IS NOT NULL AS half_open`,
    [destinationId, error.slice(0, 500)],
  );
  return row;
}

/**
 * Records a pause. An automatic pause never overrides an existing one, and leaves the last probe as it was (no probe
 * ran at the pause); an operator's pause takes over an automatic or half-open one (so that no probe resumes it), and
 * a second operator's pause with a reason of its own replaces the reason. Returns false when nothing changed.
 */
export async function recordPause(
  db: Db,
  destinationId: string,
  by: PausedBy,
  reason: string,
  principal: string,
): Promise<boolean> {
  const changed = await db.query(
    by === 'auto'
      ? `UPDATE destination_state SET paused_by = 'auto', paused_at = now(), pause_reason = $2,
           paused_by_principal = $3, updated_at = now(), ${NOT_HALF_OPEN}
         WHERE destination = $1 AND paused_by IS NULL RETURNING destination`
      : `INSERT INTO destination_state (destination, paused_by, paused_at, pause_reason, paused_by_principal)
           VALUES ($1, 'operator', now(), $2, $3)
         ON CONFLICT (destination) DO UPDATE SET paused_by = 'operator', pause_reason = $2, paused_by_principal = $3,
           updated_at = now(),
           paused_at = CASE WHEN destination_state.paused_by IS NULL THEN now() ELSE destination_state.paused_at END,
           ${NOT_HALF_OPEN}
         WHERE destination_state.paused_by IS DISTINCT FROM 'operator'
           OR ($2 <> $4::text AND destination_state.pause_reason IS DISTINCT FROM $2) RETURNING destination`,
    by === 'auto' ? [destinationId, reason, principal] : [destinationId, reason, principal, OPERATOR_PAUSE_REASON],
  );
  return changed.length > 0;
}

/**
 * Records a resume and starts the failure count afresh. `auto` (a trial delivery accepted while half-open) resumes
 * only a half-open automatic pause; an operator resumes any. Returns false when nothing changed.
 */
export async function recordResume(db: Db, destinationId: string, by: PausedBy): Promise<boolean> {
  const changed = await db.query(
    `UPDATE destination_state SET paused_by = NULL, paused_at = NULL, pause_reason = NULL, paused_by_principal = NULL,
       consecutive_failures = 0,
       ${NOT_HALF_OPEN}, updated_at = now()
     WHERE destination = $1 AND ${by === 'auto' ? `paused_by = 'auto' AND half_open_at IS NOT NULL` : 'paused_by IS NOT NULL'}
     RETURNING destination`,
    [destinationId],
  );
  return changed.length > 0;
}

/**
 * Claims the next probe of an automatically paused destination that is not half-open; false when another process
 * probed it lately, or it was paused less than an interval ago.
 */
export async function claimProbe(db: Db, destinationId: string, intervalMs: number): Promise<boolean> {
  const claimed = await db.query(
    `UPDATE destination_state SET last_probe_at = now()
     WHERE destination = $1 AND paused_by = 'auto' AND half_open_at IS NULL
       AND GREATEST(last_probe_at, paused_at) <= now() - ($2::int * interval '1 millisecond')
     RETURNING destination`,
    [destinationId, intervalMs],
  );
  return claimed.length > 0;
}

/** A successful probe: the automatically paused destination lets one trial delivery through. False if it was not. */
export async function recordHalfOpen(db: Db, destinationId: string): Promise<boolean> {
  const opened = await db.query(
    `UPDATE destination_state SET half_open_at = now(), trial_delivery = NULL, trial_claimed_at = NULL,
       updated_at = now()
     WHERE destination = $1 AND paused_by = 'auto' AND half_open_at IS NULL RETURNING destination`,
    [destinationId],
  );
  return opened.length > 0;
}

/** Claims the trial of a half-open destination for a delivery; true also when it holds the claim already. */
export async function claimTrialDelivery(db: Db, destinationId: string, deliveryId: string): Promise<boolean> {
  const claimed = await db.query(
    `UPDATE destination_state SET trial_delivery = $2, trial_claimed_at = now(), updated_at = now()
     WHERE destination = $1 AND paused_by = 'auto' AND half_open_at IS NOT NULL
       AND (trial_delivery IS NULL OR trial_delivery = $2)
     RETURNING destination`,
    [destinationId, deliveryId],
  );
  return claimed.length > 0;
}

/**
 * Gives up a trial claim, so the next delivery takes it: `deliveryId`'s (its trial ended without saying anything
 * about the destination), or any claimed more than `staleMs` ago (its worker went away). True when one was given up.
 */
export async function releaseTrialDelivery(
  db: Db,
  destinationId: string,
  claim: { deliveryId: string } | { staleMs: number },
): Promise<boolean> {
  const released = await db.query(
    `UPDATE destination_state SET trial_delivery = NULL, trial_claimed_at = NULL, updated_at = now()
     WHERE destination = $1 AND half_open_at IS NOT NULL AND trial_delivery IS NOT NULL AND ${
       'deliveryId' in claim
         ? 'trial_delivery = $2'
         : `trial_claimed_at <= now() - ($2::int * interval '1 millisecond')`
     } RETURNING destination`,
    [destinationId, 'deliveryId' in claim ? claim.deliveryId : Math.round(claim.staleMs)],
  );
  return released.length > 0;
}

/** A delivery failed while the destination was half-open: it stays paused, probed again an interval after the last. */
export async function recordTrialFailure(db: Db, destinationId: string, reason: string): Promise<boolean> {
  const closed = await db.query(
    `UPDATE destination_state SET ${NOT_HALF_OPEN}, pause_reason = $2, updated_at = now()
     WHERE destination = $1 AND paused_by = 'auto' AND half_open_at IS NOT NULL RETURNING destination`,
    [destinationId, reason],
  );
  return closed.length > 0;
}

export async function recordProbeResult(db: Db, destinationId: string, result: string): Promise<void> {
  await db.query('UPDATE destination_state SET last_probe_result = $2 WHERE destination = $1', [
    destinationId,
    result.slice(0, 300),
  ]);
}
