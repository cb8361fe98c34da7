import { z } from 'zod';
import type { SqlParams } from '../kernel/sql-params';
import { decodePageToken, encodePageToken, tokenMoment } from './fhir-search/page-token';

/**
 * Keyset paging of a list shown newest first by (time, id): a page starts after the last row of the one before,
 * so the hundredth page costs what the first does, and rows added meanwhile never shift a page along (OFFSET would).
 */

/** Where a page starts: just older (or, going back, just newer) than the row with this time and id. */
export interface TimeIdCursor {
  /** The row's time exactly, as `exactTimeSql` writes it. */
  readonly at: string;
  readonly id: string;
  readonly direction: 'older' | 'newer';
}

/** One page, newest first, with the cursors of its neighbours when there are any. */
export interface TimeIdPage<T> {
  readonly rows: T[];
  readonly older?: TimeIdCursor | undefined;
  readonly newer?: TimeIdCursor | undefined;
}

/** A moment as `exactTimeSql` writes it (microseconds, UTC), and one PostgreSQL takes back. */
export const EXACT_TIME = tokenMoment({ precision: 6 });

/**
 * A timestamp column as exact text (microseconds, UTC). A JavaScript Date keeps milliseconds only: a page boundary
 * or an "up to" bound cut to them would skip the rows within the lost microseconds, or count them twice.
 */
export function exactTimeSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

const cursorSchema = z.object({ a: EXACT_TIME, i: z.uuid(), d: z.enum(['o', 'n']) }).strict();

/** An opaque token of a cursor: a moment and a row id, never data. */
export function encodeTimeIdCursor(c: TimeIdCursor): string {
  return encodePageToken({ a: c.at, i: c.id, d: c.direction === 'older' ? 'o' : 'n' });
}

/** A cursor from its token; a token this server did not make is a 400 naming `_page`. */
export function decodeTimeIdCursor(token: string): TimeIdCursor {
  const c = decodePageToken(token, cursorSchema);
  return { at: c.a, id: c.i, direction: c.d === 'o' ? 'older' : 'newer' };
}

/**
 * The condition and order that read one page from a cursor: newest first, or, going back to newer rows, oldest
 * first (`timeIdPage` turns those around). Read `size + 1` rows, to know whether there is more.
 */
export function timeIdKeyset(
  cursor: TimeIdCursor | undefined,
  columns: { time: string; id: string },
  q: SqlParams,
): { where: string; orderBy: string } {
  const newer = cursor?.direction === 'newer';
  const dir = newer ? 'ASC' : 'DESC';
  const where = cursor
    ? `(${columns.time}, ${columns.id}) ${newer ? '>' : '<'} (${q.add(cursor.at, 'timestamptz')}, ${q.add(cursor.id, 'uuid')})`
    : 'TRUE';
  return { where, orderBy: `${columns.time} ${dir}, ${columns.id} ${dir}` };
}

/** The `size + 1` rows `timeIdKeyset` read, as a page newest first with its neighbours' cursors. */
export function timeIdPage<T extends { pageKey: string; id: string }>(
  read: readonly T[],
  size: number,
  cursor: TimeIdCursor | undefined,
): TimeIdPage<T> {
  const more = read.length > size;
  const rows = read.slice(0, size);
  const backwards = cursor?.direction === 'newer';
  if (backwards) {
    rows.reverse();
  }
  // Forward, more rows mean older ones; having come from a cursor means newer ones. Going back, the reverse.
  const hasOlder = backwards ? true : more;
  const hasNewer = backwards ? more : cursor !== undefined;
  const at = (row: T | undefined, direction: TimeIdCursor['direction']): TimeIdCursor | undefined =>
    row ? { at: row.pageKey, id: row.id, direction } : undefined;
  return {
    rows,
    older: hasOlder ? at(rows.at(-1), 'older') : undefined,
    newer: hasNewer ? at(rows[0], 'newer') : undefined,
  };
}
