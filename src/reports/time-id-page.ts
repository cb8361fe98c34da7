/**
 * Exact moments of rows, for bounds and page boundaries that must fall between two rows and not within one.
 */

/** A moment as `exactTimeSql` writes it: microseconds, UTC. */
export const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * A timestamp column as exact text (microseconds, UTC). A JavaScript Date keeps milliseconds only: a page boundary
 * or an "up to" bound cut to them would skip the rows within the lost microseconds, or count them twice.
 */
export function exactTimeSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
