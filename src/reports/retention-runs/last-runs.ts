import type { Db } from '../../kernel/db';
import type { RetentionRemoval, RetentionRunRecord } from '../../event/retention-runs';

export interface RetentionRun extends RetentionRunRecord {
  readonly finishedAt: Date;
}

/**
 * The newest `limit` retention runs, newest first, each with only what it removed from, or left alone of, the chains
 * and practices `visible` says the reader may see (a run's outcome and terms are the same for every reader).
 */
export async function lastRetentionRuns(
  db: Db,
  visible: (tenant: string) => boolean,
  limit: number,
): Promise<RetentionRun[]> {
  const rows = await db.query<{
    started_at: Date;
    finished_at: Date;
    outcome: RetentionRun['outcome'];
    removed: RetentionRemoval[] | string;
    skipped: RetentionRun['skipped'] | string;
    terms: RetentionRun['terms'] | string;
    problem: string | null;
  }>(
    `SELECT started_at, finished_at, outcome, removed, skipped, terms, problem FROM retention_run
     ORDER BY finished_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  // PGlite hands jsonb back as text.
  const parsed = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
  return rows.map((r) => ({
    startedAt: new Date(r.started_at),
    finishedAt: new Date(r.finished_at),
    outcome: r.outcome,
    removed: parsed(r.removed).filter((x) => visible(x.tenant)),
    skipped: parsed(r.skipped).filter((x) => visible(x.tenant)),
    terms: parsed(r.terms),
    problem: r.problem ?? undefined,
  }));
}
