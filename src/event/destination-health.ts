import { operatorAction, type AuditActor } from '../audit/audit-events';
import { DEFAULT_PAUSE_AFTER_FAILURES, type Destination } from '../contracts/destination';
import { isDestinationFailure } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';

/**
 * Destination health: a count of consecutive failed attempts and a pause flag, in PostgreSQL (`destination_state`).
 * A destination failing `pauseAfterFailures` times in a row is paused (`queue.pause()`, which every worker process
 * obeys), so its jobs wait instead of burning their attempts; a periodic probe resumes it once the receiver answers
 * again (destination-health-monitor.ts). An operator may pause and resume too; a probe never resumes an operator's
 * pause. PostgreSQL is the record: if Redis loses the queue's paused flag, the monitor sets it again.
 */

export type PausedBy = 'auto' | 'operator';

export interface DestinationStateRow {
  destination: string;
  consecutive_failures: number;
  paused_by: PausedBy | null;
  paused_at: Date | null;
  pause_reason: string | null;
  last_failure_at: Date | null;
  last_error: string | null;
  last_probe_at: Date | null;
  last_probe_result: string | null;
  updated_at: Date;
}

/** The audit chain of a destination's pause and resume events: they concern no single practice. */
export const destinationAuditTenant = (destinationId: string): string => `destination/${destinationId}`;

export async function tryGetDestinationState(
  ctx: Pick<PipelineContext, 'db'>,
  destinationId: string,
): Promise<DestinationStateRow | undefined> {
  const [row] = await ctx.db.query<DestinationStateRow>('SELECT * FROM destination_state WHERE destination = $1', [
    destinationId,
  ]);
  return row;
}

/** A delivered attempt ends a run of failures. Writes nothing when there was none (the common case). */
export async function recordDestinationSuccess(ctx: Pick<PipelineContext, 'db'>, destinationId: string): Promise<void> {
  await ctx.db.query(
    `UPDATE destination_state SET consecutive_failures = 0, updated_at = now()
     WHERE destination = $1 AND consecutive_failures > 0`,
    [destinationId],
  );
}

/**
 * Counts a failed attempt against the destination when it says something about the destination rather than the
 * message (see `isDestinationFailure`), and pauses the destination when the count reaches its threshold.
 * Returns true when this call paused it.
 */
export async function recordDestinationFailure(
  ctx: PipelineContext,
  destination: Destination,
  err: { name: string; message: string; status?: number | undefined },
): Promise<boolean> {
  if (!isDestinationFailure(err)) {
    return false;
  }
  const [row] = await ctx.db.query<{ consecutive_failures: number; paused_by: PausedBy | null }>(
    `INSERT INTO destination_state (destination, consecutive_failures, last_failure_at, last_error)
     VALUES ($1, 1, now(), $2)
     ON CONFLICT (destination) DO UPDATE SET consecutive_failures = destination_state.consecutive_failures + 1,
       last_failure_at = now(), last_error = $2, updated_at = now()
     RETURNING consecutive_failures, paused_by`,
    [destination.id, err.message.slice(0, 500)],
  );
  const threshold = destination.pauseAfterFailures ?? DEFAULT_PAUSE_AFTER_FAILURES;
  if (!row || threshold === 0 || row.paused_by !== null || row.consecutive_failures < threshold) {
    return false;
  }
  return pauseDestination(
    ctx,
    destination.id,
    'auto',
    `${row.consecutive_failures} consecutive failures, last: ${err.message.slice(0, 200)}`,
    { userId: 'system/worker', accessPoint: 'jeugdbrug-worker' },
  );
}

/**
 * Pauses a destination: records who paused it and why, pauses its queue for every worker process, and audits it.
 * An automatic pause never overrides an existing one; an operator's pause takes over an automatic one (so that
 * no probe resumes it). Returns false when nothing changed.
 */
export async function pauseDestination(
  ctx: PipelineContext,
  destinationId: string,
  by: PausedBy,
  reason: string,
  actor: AuditActor,
): Promise<boolean> {
  const changed = await ctx.db.query(
    by === 'auto'
      ? `UPDATE destination_state SET paused_by = 'auto', paused_at = now(), pause_reason = $2, last_probe_at = now(),
           updated_at = now()
         WHERE destination = $1 AND paused_by IS NULL RETURNING destination`
      : `INSERT INTO destination_state (destination, paused_by, paused_at, pause_reason) VALUES ($1, 'operator', now(), $2)
         ON CONFLICT (destination) DO UPDATE SET paused_by = 'operator', pause_reason = $2, updated_at = now(),
           paused_at = CASE WHEN destination_state.paused_by IS NULL THEN now() ELSE destination_state.paused_at END
         WHERE destination_state.paused_by IS DISTINCT FROM 'operator' RETURNING destination`,
    [destinationId, reason],
  );
  // Pause the queue even when the row said paused already: Redis may have lost the flag.
  await ctx.queues.getDeliverQueue(destinationId).pause();
  if (changed.length === 0) {
    return false;
  }
  ctx.log.warn({ destination: destinationId, by }, 'destination paused');
  await ctx.audit.append(
    destinationAuditTenant(destinationId),
    operatorAction({ actor, action: 'pause', target: `destination/${destinationId}` }),
  );
  return true;
}

/**
 * Resumes a destination and starts its failure count afresh. `auto` (a successful probe) resumes only an automatic
 * pause; an operator resumes any. Returns false when nothing changed.
 */
export async function resumeDestination(
  ctx: PipelineContext,
  destinationId: string,
  by: PausedBy,
  actor: AuditActor,
): Promise<boolean> {
  const changed = await ctx.db.query(
    `UPDATE destination_state SET paused_by = NULL, paused_at = NULL, pause_reason = NULL, consecutive_failures = 0,
       updated_at = now()
     WHERE destination = $1 AND ${by === 'auto' ? `paused_by = 'auto'` : 'paused_by IS NOT NULL'} RETURNING destination`,
    [destinationId],
  );
  if (changed.length === 0) {
    return false;
  }
  await ctx.queues.getDeliverQueue(destinationId).resume();
  ctx.log.info({ destination: destinationId, by }, 'destination resumed');
  await ctx.audit.append(
    destinationAuditTenant(destinationId),
    operatorAction({ actor, action: 'resume', target: `destination/${destinationId}` }),
  );
  return true;
}

export interface DestinationStatus {
  readonly id: string;
  readonly municipality: string;
  readonly adapter: string;
  readonly paused: boolean;
  readonly pausedBy: PausedBy | null;
  readonly pausedAt: Date | null;
  readonly pauseReason: string | null;
  /** Whether the queue itself is paused in Redis (should agree with `paused` within a monitor tick). */
  readonly queuePaused: boolean;
  readonly consecutiveFailures: number;
  readonly pauseAfterFailures: number;
  readonly lastFailureAt: Date | null;
  readonly lastError: string | null;
  readonly lastProbeAt: Date | null;
  readonly lastProbeResult: string | null;
  readonly rateLimit: Destination['rateLimit'] | null;
  readonly jobs: Record<string, number>;
  readonly deliveries: Record<string, number>;
}

/** Everything an operator wants to know about one destination. */
export async function getDestinationStatus(ctx: PipelineContext, destination: Destination): Promise<DestinationStatus> {
  const queue = ctx.queues.getDeliverQueue(destination.id);
  const [state, queuePaused, jobs, deliveryRows] = await Promise.all([
    tryGetDestinationState(ctx, destination.id),
    queue.isPaused(),
    queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed'),
    ctx.db.query<{ state: string; count: string }>(
      'SELECT state, count(*) AS count FROM delivery WHERE destination = $1 GROUP BY state',
      [destination.id],
    ),
  ]);
  return {
    id: destination.id,
    municipality: destination.municipality,
    adapter: destination.adapter,
    paused: !!state?.paused_by,
    pausedBy: state?.paused_by ?? null,
    pausedAt: state?.paused_at ?? null,
    pauseReason: state?.pause_reason ?? null,
    queuePaused,
    consecutiveFailures: state?.consecutive_failures ?? 0,
    pauseAfterFailures: destination.pauseAfterFailures ?? DEFAULT_PAUSE_AFTER_FAILURES,
    lastFailureAt: state?.last_failure_at ?? null,
    lastError: state?.last_error ?? null,
    lastProbeAt: state?.last_probe_at ?? null,
    lastProbeResult: state?.last_probe_result ?? null,
    rateLimit: destination.rateLimit ?? null,
    jobs,
    deliveries: Object.fromEntries(deliveryRows.map((r) => [r.state, Number(r.count)])),
  };
}
