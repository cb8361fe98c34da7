import { z } from 'zod';
import { keysetOrder, keysetPage, type KeysetPage, type PageDirection } from '../kernel/keyset-page';
import type { SqlParams } from '../kernel/sql-params';
import { decodePageToken, encodePageToken, tokenMoment } from './fhir-search/page-token';

/**
 * Keyset paging (`kernel/keyset-page.ts`) of a list shown newest first by (time, id), with the opaque tokens of its
 * cursors.
 */

/** Where a page starts: just older (or, going back, just newer) than the row with this time and id. */
export interface TimeIdCursor {
  /** The row's time exactly, as `exactTimeSql` writes it. */
  readonly at: string;
  readonly id: string;
  readonly direction: PageDirection;
}

/** One page, newest first, with the cursors of its neighbours when there are any. */
export type TimeIdPage<T> = KeysetPage<T, TimeIdCursor>;

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

/** The condition and order that read one page from a cursor (`keysetOrder`), by `columns.time` and `columns.id`. */
export function timeIdKeyset(
  cursor: TimeIdCursor | undefined,
  columns: { time: string; id: string },
  q: SqlParams,
): { where: string; orderBy: string } {
  const values = cursor && [q.add(cursor.at, 'timestamptz'), q.add(cursor.id, 'uuid')];
  return keysetOrder(cursor?.direction, [columns.time, columns.id], values);
}

/** The `size + 1` rows `timeIdKeyset` read, as a page newest first with its neighbours' cursors (`keysetPage`). */
export function timeIdPage<T extends { pageKey: string; id: string }>(
  read: readonly T[],
  size: number,
  cursor: TimeIdCursor | undefined,
): TimeIdPage<T> {
  return keysetPage(read, size, cursor, (row, direction) => ({ at: row.pageKey, id: row.id, direction }));
}
