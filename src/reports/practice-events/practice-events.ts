import { z } from 'zod';
import type { Db } from '../../kernel/db';
import { EVENT_STATES } from '../../event/states';
import { EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL } from '../../event/dead-delivered-before';
import { referralEventsOf } from '../../event/event-store';
import { and, SqlParams } from '../../kernel/sql-params';
import { decodePageToken, encodePageToken, FOREIGN_TOKEN, tokenMoment } from '../fhir-search/page-token';
import {
  EXACT_TIME,
  exactTimeSql,
  timeIdKeyset,
  timeIdPage,
  type TimeIdCursor,
  type TimeIdPage,
} from '../time-id-page';

/** One of a practice's events as the practice sees it in the console: ids, type, state and why. */
export interface PracticeEvent {
  id: string;
  eventId: string;
  practice: string;
  eventType: string;
  state: string;
  stateReason: string | null;
  receivedAt: Date;
  updatedAt: Date;
}

/**
 * A listed event of the console, with whether it records an objection as kept at receipt (`inbox.records_objection`,
 * migration 084): null for one an older build received, which only its content can tell.
 */
export type ListedPracticeEvent = PracticeEvent & { recordsObjection: boolean | null };

/**
 * A transaction id as PostgreSQL writes an `xid8`: decimal digits (64 bits, never wraps), at most 2^64-1. The tokens
 * are not signed: a larger number, which PostgreSQL refuses (a 500) or reads as another one, is a 400.
 */
const XID8 = z
  .string()
  .regex(/^\d{1,20}$/)
  .refine((s) => BigInt(s) <= 0xffffffffffffffffn);

/**
 * Where a poll of `GET /his/v1/events` may start without missing a change: every transaction that wrote an event with
 * an id below it had ended when it was taken (the `xmin` of a PostgreSQL snapshot). Opaque to the HIS: a transaction
 * id, no data.
 */
const pollFromSchema = z.object({ x: XID8 }).strict();
export const encodePollFrom = (xid: string): string => encodePageToken({ x: xid });

/**
 * The next link's `_page` of `GET /his/v1/events`: the last row's key in the order of the list (`k`: by receipt
 * `r`, by when its state changed `u` with `_since`, by the change's transaction `c` with `_pollFrom`), its id, and
 * the `pollFrom` of the poll's first page (`w`), so that every page of one poll answers the same one.
 */
const eventPageSchema = z
  .object({ k: z.enum(['r', 'u', 'c']), a: z.string(), i: z.uuid(), w: XID8 })
  .strict()
  .refine((p) => (p.k === 'c' ? XID8 : EXACT_TIME).safeParse(p.a).success);
export type EventPageToken = z.infer<typeof eventPageSchema>;
export const encodeEventPage = (p: EventPageToken): string => encodePageToken(p);

/** A zod transform of an opaque token: a token this server did not make is a 400 naming the parameter. */
function opaque<T>(schema: z.ZodType<T>) {
  return z
    .string()
    .max(500)
    .optional()
    .transform((token, c): T | undefined => {
      if (token === undefined) {
        return undefined;
      }
      try {
        return decodePageToken(token, schema);
      } catch {
        // Most often a token of another build during a rolling upgrade (README, "Upgrading from c918e81").
        c.addIssue({ code: 'custom', message: FOREIGN_TOKEN });
        return z.NEVER;
      }
    });
}

/**
 * `GET /his/v1/events`'s query: ids, a state, moments and transaction ids only, never a child's data (a URL ends up
 * in logs). `_since`: whose state changed at or after that instant (approximate: see `_pollFrom`). `_pollFrom`: the
 * `pollFrom` of the poll before, exactly: whose state a transaction changed that had not ended when it was taken.
 */
export const practiceEventQuery = z
  .object({
    state: z.enum(EVENT_STATES).optional(),
    _since: tokenMoment({ offset: true, message: 'an instant with a time zone, such as 2026-12-01T10:00:00Z' })
      .optional()
      .meta({
        description:
          'only events whose state changed at or after this instant (with a time zone), most recently changed ' +
          'first; a change a transaction was still writing carries the time that transaction began: to poll, use ' +
          '_pollFrom',
      }),
    _pollFrom: opaque(pollFromSchema)
      .meta({
        description:
          'the pollFrom of the last poll’s answer: exactly the events whose state changed since (none missed, ' +
          'some possibly again), most recently changed first; not beside _since',
      })
      .transform((p) => p?.x),
    _count: z.coerce.number().int().min(1).max(500).default(100).meta({ description: 'page size (at most 500)' }),
    _page: opaque(eventPageSchema).meta({ description: 'the opaque token of the next link' }),
  })
  .strict()
  .superRefine((q, c) => {
    if (q._since !== undefined && q._pollFrom !== undefined) {
      c.addIssue({ code: 'custom', path: ['_pollFrom'], message: 'not beside _since: give one of them' });
    }
    if (q._page !== undefined && q._page.k !== pollKindOf(q)) {
      c.addIssue({ code: 'custom', path: ['_page'], message: 'not a page of this query: follow the next link whole' });
    }
  });
export type PracticeEventQuery = z.infer<typeof practiceEventQuery>;

/**
 * The order a poll's pages are read in, as its `_page` token says (`k`): by the change's transaction with `_pollFrom`,
 * by when the state changed with `_since`, else by receipt.
 */
export function pollKindOf(q: {
  readonly _pollFrom?: string | undefined;
  readonly _since?: string | undefined;
}): EventPageToken['k'] {
  return q._pollFrom !== undefined ? 'c' : q._since !== undefined ? 'u' : 'r';
}

/**
 * One page of the events of some practices (`*` for all), newest first, optionally only those in one state or
 * changed since a moment or a poll. For one practice each order reads an index of it, no more of it than a page: by
 * receipt, keyset on (received_at, id), `inbox_practice_received` (migration 023); with `updatedSince`, on
 * (updated_at, id), `inbox_practice_updated`; with `changedFrom` (a transaction id: `pollFrom`), on the id of the
 * transaction that last changed the state and the event's (changed_xid, id), `inbox_practice_changed` (both 079).
 */
export async function listPracticeEvents(
  db: Db,
  practices: readonly string[],
  f: {
    state?: string | undefined;
    eventId?: string | undefined;
    updatedSince?: string | undefined;
    changedFrom?: string | undefined;
    cursor?: TimeIdCursor | undefined;
    size: number;
  },
): Promise<TimeIdPage<ListedPracticeEvent & { pageKey: string; deliveredBefore: boolean }>> {
  const q = new SqlParams();
  const changed = f.changedFrom !== undefined;
  const time = f.updatedSince !== undefined ? 'updated_at' : 'received_at';
  const keyset = changed ? xidKeyset(f.cursor, q) : timeIdKeyset(f.cursor, { time, id: 'id' }, q);
  const where = and([
    // One practice as an equality, so that the index is read in order and no more of it than a page.
    practices.includes('*')
      ? 'TRUE'
      : practices.length === 1
        ? `tenant = ${q.add(practices[0])}`
        : `tenant = ANY(${q.add(practices, 'text[]')})`,
    ...(f.state !== undefined ? [`state = ${q.add(f.state)}`] : []),
    // The practice's own id of an event: unique per practice (index on tenant, source_event_id).
    ...(f.eventId !== undefined ? [`source_event_id = ${q.add(f.eventId)}`] : []),
    ...(f.updatedSince !== undefined ? [`updated_at >= ${q.add(f.updatedSince, 'timestamptz')}`] : []),
    ...(changed ? [`changed_xid >= ${q.add(f.changedFrom, 'xid8')}`] : []),
    keyset.where,
  ]);
  // `deliveredBefore`: a dead letter of a delivery the receiver had accepted (a redelivery that failed), which the
  // municipality has; read for the page's dead events only (EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL).
  const rows = await db.query<ListedPracticeEvent & { pageKey: string; deliveredBefore: boolean }>(
    `SELECT id, source_event_id AS "eventId", tenant AS practice, event_type AS "eventType", state,
       state_reason AS "stateReason", received_at AS "receivedAt", updated_at AS "updatedAt",
       records_objection AS "recordsObjection",
       ${changed ? 'changed_xid::text' : exactTimeSql(time)} AS "pageKey",
       ${EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL('inbox')} AS "deliveredBefore"
     FROM inbox WHERE ${where} ORDER BY ${keyset.orderBy} LIMIT ${q.add(f.size + 1, 'int')}`,
    q.values,
  );
  return timeIdPage(rows, f.size, f.cursor);
}

/** As `timeIdKeyset`, older only, on (changed_xid, id): the cursor's `at` is a transaction id. */
function xidKeyset(cursor: TimeIdCursor | undefined, q: SqlParams): { where: string; orderBy: string } {
  return {
    where: cursor ? `(changed_xid, id) < (${q.add(cursor.at, 'xid8')}, ${q.add(cursor.id, 'uuid')})` : 'TRUE',
    orderBy: 'changed_xid DESC, id DESC',
  };
}

/** What a poll reads before its first page: its `pollFrom`, and whether the one given is from after the present. */
export interface PollWatermark {
  /** The oldest transaction still running (or the next to begin): the next poll's `pollFrom`. */
  readonly pollFrom: string;
  /**
   * The `_pollFrom` given names a transaction this database has not begun yet: taken before the database was
   * restored from a backup (a dump into a new cluster, or a point-in-time recovery), whose transaction ids start
   * lower again. Polled from it, the changes made since the restore would be missed until the ids passed it.
   */
  readonly givenFromAfterPresent: boolean;
}

/**
 * The `pollFrom` of a poll: the oldest transaction still running (or the next to begin), read before the page, so
 * that whatever the page does not show of a change, the next poll from it does. A transaction id, no data.
 *
 * A restored database also holds events whose `changed_xid` is the old cluster's, from after the new one's present:
 * every poll from a `pollFrom` (`given`) would answer them as changed until its ids passed them. Such a poll's
 * statement moves those of the polling practices to its own transaction (an index range of `inbox_practice_changed`
 * per practice, empty but after a restore), so they are answered once more, as changed now, and then no longer. A poll
 * without one does not read `changed_xid` and only reads the snapshot; a poll of every practice (`*`) leaves them to
 * the practices' own polls.
 */
export async function pollWatermark(
  db: Db,
  practices: readonly string[],
  given: string | undefined,
): Promise<PollWatermark> {
  if (given === undefined) {
    const [row] = await db.query<{ x: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x');
    return { pollFrom: row!.x, givenFromAfterPresent: false };
  }
  const [row] = await db.query<{ x: string; ahead: boolean }>(
    `WITH present AS (SELECT pg_current_snapshot() AS s),
     restored AS (
       UPDATE inbox SET changed_xid = pg_current_xact_id()
        WHERE tenant = ANY($1::text[]) AND changed_xid >= (SELECT pg_snapshot_xmax(s) FROM present)
       RETURNING 1)
     SELECT pg_snapshot_xmin(s)::text AS x, $2::xid8 > pg_snapshot_xmax(s) AS ahead
       FROM present, (SELECT count(*) FROM restored) AS moved`,
    [practices.filter((p) => p !== '*'), given],
  );
  return { pollFrom: row!.x, givenFromAfterPresent: row!.ahead };
}

/**
 * The municipality's current status of each referral among `ids` (the latest status update on any of the
 * referral's events, as its timeline's `current`), null for a referral without one yet; other events are left out.
 */
export async function currentReferralStatuses(db: Db, ids: readonly string[]): Promise<Map<string, string | null>> {
  if (ids.length === 0) {
    return new Map();
  }
  const rows = await db.query<{ id: string; status: string | null }>(
    `SELECT i.id, (SELECT f.status FROM feedback f WHERE f.inbox_id IN ${referralEventsOf('i.id')}
       ORDER BY f.created_at DESC, f.id DESC LIMIT 1) AS status
     FROM inbox i WHERE i.id = ANY($1::uuid[]) AND i.event_type = 'referral.created'`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.status]));
}

/**
 * The events of some practices (`*`: all) under the practice's own event id (at most one each: it is unique per
 * practice), newest first: one probe of the index on (tenant, source_event_id) per practice, the practices of `*`
 * found by skipping through that index from one practice to the next (no read of the whole inbox).
 */
export async function findEventsByOwnId(
  db: Db,
  practices: readonly string[],
  eventId: string,
): Promise<PracticeEvent[]> {
  const tenants = practices.includes('*')
    ? `WITH RECURSIVE t(tenant) AS (
         SELECT min(tenant) FROM inbox
         UNION ALL SELECT (SELECT min(tenant) FROM inbox WHERE tenant > t.tenant) FROM t WHERE t.tenant IS NOT NULL)
       SELECT tenant FROM t WHERE tenant IS NOT NULL`
    : 'SELECT unnest($2::text[])';
  return db.query<PracticeEvent>(
    `SELECT i.id, i.source_event_id AS "eventId", i.tenant AS practice, i.event_type AS "eventType", i.state,
       i.state_reason AS "stateReason", i.received_at AS "receivedAt", i.updated_at AS "updatedAt"
     FROM (${tenants}) AS p(tenant) JOIN inbox i ON i.tenant = p.tenant AND i.source_event_id = $1
     ORDER BY i.received_at DESC, i.id DESC`,
    practices.includes('*') ? [eventId] : [eventId, practices],
  );
}
