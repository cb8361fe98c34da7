import type { Db } from '../kernel/db';

/**
 * How many events the inbox holds in each state, for /metrics. The inbox's triggers (migration 019) add a row of
 * changes to `inbox_state_count` for every statement that changes a count, so reading the counts costs a few rows per
 * state however long the history is, where counting the inbox itself read every event ever received.
 */

/** The events per state (states without events left out), summed from the recorded changes. */
export async function eventStateCounts(db: Db): Promise<{ state: string; count: number }[]> {
  const rows = await db.query<{ state: string; n: number }>(
    'SELECT state, sum(n)::float8 AS n FROM inbox_state_count GROUP BY state HAVING sum(n) <> 0 ORDER BY state',
  );
  return rows.map((r) => ({ state: r.state, count: r.n }));
}

/**
 * Replaces the recorded changes with one row per state, so the rows a scrape sums stay few: run from the
 * reconciler's round. Safe beside writers and beside another process folding at the same moment: each change row is
 * deleted by one fold only (a second waits for the first and then finds it gone), and a fold's delete and insert
 * commit together, so a reader sums either the changes or their fold, never both or neither.
 */
export async function foldEventStateCounts(db: Db): Promise<void> {
  await db.query(
    `WITH folded AS (DELETE FROM inbox_state_count RETURNING state, n)
     INSERT INTO inbox_state_count (state, n) SELECT state, sum(n) FROM folded GROUP BY state HAVING sum(n) <> 0`,
  );
}
