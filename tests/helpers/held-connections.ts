import type pg from 'pg';
import type { Db } from '../../src/kernel/db';
import { waitFor } from './wait-for';

/**
 * Holds `count` connections of `db` in open transactions, as a bulk load's jobs or slow requests would, until the
 * returned function is called. `observer` is a connection outside `db` to the same server (a test's own server:
 * every session of it counts) that sees when all of them are held.
 */
export async function holdConnections(db: Db, count: number, observer: pg.Client): Promise<() => Promise<void>> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const holders = Array.from({ length: count }, () =>
    db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      await held;
    }),
  );
  await waitFor(`${count} connections held in a transaction`, async () => {
    const { rows } = await observer.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND pid <> pg_backend_pid()`,
    );
    return rows[0]?.n === count;
  });
  return async () => {
    release();
    await Promise.all(holders);
  };
}

/** The value of one sample of the Prometheus text, e.g. `jeugdbrug_db_connections_waiting{pool="main"}`. */
export function metricSample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
