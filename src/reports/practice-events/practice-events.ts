import { z } from 'zod';
import type { Db } from '../../kernel/db';
import { EVENT_STATES } from '../../event/states';
import { EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL } from '../../event/dead-delivered-before';
import { referralEventsOf } from '../../event/event-store';
import { and, SqlParams } from '../../kernel/sql-params';
import { tokenMoment } from '../fhir-search/page-token';
import {
  decodeTimeIdCursor,
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
 * `GET /his/v1/events`'s query: ids, a state and moments only, never a child's data (a URL ends up in logs).
 * `_since`: whose state changed at or after that instant (a poll from the moment of the last one).
 */
export const practiceEventQuery = z
  .object({
    state: z.enum(EVENT_STATES).optional(),
    _since: tokenMoment({ offset: true, message: 'an instant with a time zone, such as 2026-12-01T10:00:00Z' })
      .optional()
      .meta({ description: 'only events whose state changed at or after this instant (with a time zone)' }),
    _count: z.coerce.number().int().min(1).max(500).default(100).meta({ description: 'page size (at most 500)' }),
    _page: z
      .string()
      .max(500)
      .optional()
      .meta({ description: 'the opaque token of the next link' })
      .transform((token, c) => {
        try {
          return token === undefined ? undefined : decodeTimeIdCursor(token);
        } catch {
          c.addIssue({ code: 'custom', message: 'not a page token from this server' });
          return z.NEVER;
        }
      }),
  })
  .strict();
export type PracticeEventQuery = z.infer<typeof practiceEventQuery>;

/**
 * One page of the events of some practices (`*` for all), newest first, optionally only those in one state or
 * changed since a moment: by keyset on (received_at, id), which the index `inbox_practice_received` (migration 023)
 * serves for one practice.
 */
export async function listPracticeEvents(
  db: Db,
  practices: readonly string[],
  f: {
    state?: string | undefined;
    eventId?: string | undefined;
    updatedSince?: string | undefined;
    cursor?: TimeIdCursor | undefined;
    size: number;
  },
): Promise<TimeIdPage<PracticeEvent & { pageKey: string; deliveredBefore: boolean }>> {
  const q = new SqlParams();
  const keyset = timeIdKeyset(f.cursor, { time: 'received_at', id: 'id' }, q);
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
    keyset.where,
  ]);
  // `deliveredBefore`: a dead letter of a delivery the receiver had accepted (a redelivery that failed), which the
  // municipality has; read for the page's dead events only (EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL).
  const rows = await db.query<PracticeEvent & { pageKey: string; deliveredBefore: boolean }>(
    `SELECT id, source_event_id AS "eventId", tenant AS practice, event_type AS "eventType", state,
       state_reason AS "stateReason", received_at AS "receivedAt", updated_at AS "updatedAt",
       ${exactTimeSql('received_at')} AS "pageKey",
       ${EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL('inbox')} AS "deliveredBefore"
     FROM inbox WHERE ${where} ORDER BY ${keyset.orderBy} LIMIT ${q.add(f.size + 1, 'int')}`,
    q.values,
  );
  return timeIdPage(rows, f.size, f.cursor);
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
