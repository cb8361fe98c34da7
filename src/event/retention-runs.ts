import type { Db } from '../kernel/db';

/**
 * One retention run as kept in `retention_run` (migration 089), for the auditor: a run was only a log line before,
 * and an auditor could not tell from the console that retention runs, nor what it removed.
 */
export interface RetentionRunRecord {
  readonly startedAt: Date;
  /**
   * `done`: everything due was removed; `chains-skipped`: a chain was left alone (it does not verify, or its purge's
   * AuditEvent could not be written: `skipped` says which and why); `failed`: the run stopped with an error
   * (`problem`), what it removed before that is in `removed`.
   */
  readonly outcome: 'done' | 'chains-skipped' | 'failed';
  /** What was removed, by kind: the content of finished events per practice, or audit rows per chain. */
  readonly removed: readonly RetentionRemoval[];
  readonly skipped: readonly { readonly tenant: string; readonly reason: string }[];
  /** The terms the run applied, in days. */
  readonly terms: {
    readonly inboxPayloadRetentionDays: number;
    readonly referralIdentityRetentionDays: number;
    readonly auditRetentionDays: number;
  };
  readonly problem?: string | undefined;
}

export interface RetentionRemoval {
  /**
   * `content`: payloads and receivers' answers of finished events and status updates; `audit`: audit rows; `runs`:
   * the records of earlier runs (`retention_run`) older than the audit log is kept (`pruneRetentionRuns`).
   */
  readonly kind: 'content' | 'audit' | 'runs';
  /** The practice (AGB code) whose content, or the chain whose rows, were removed; `system` for runs. */
  readonly tenant: string;
  readonly rows: number;
}

/** Keeps what one run did. */
export async function recordRetentionRun(db: Db, run: RetentionRunRecord): Promise<void> {
  await db.query(
    `INSERT INTO retention_run (started_at, outcome, removed, skipped, terms, problem)
     VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6)`,
    [
      run.startedAt.toISOString(),
      run.outcome,
      JSON.stringify(run.removed),
      JSON.stringify(run.skipped),
      JSON.stringify(run.terms),
      run.problem ?? null,
    ],
  );
}

/**
 * Deletes the records of runs finished before `before` (the audit log's cutoff): a run's record says what its purges
 * did, which their AuditEvents in the chains say too, so it is kept as long as those are, and no longer. Returns how
 * many were deleted.
 */
export async function pruneRetentionRuns(db: Db, before: Date): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `WITH gone AS (DELETE FROM retention_run WHERE finished_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
    [before.toISOString()],
  );
  return rows[0]?.n ?? 0;
}
