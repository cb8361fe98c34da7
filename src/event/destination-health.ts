import { operatorAction, type AuditActor } from '../audit/audit-events';
import { DEFAULT_PAUSE_AFTER_FAILURES, type Destination } from '../contracts/destination';
import { countDestinationFailure, recordPause, recordResume, type PausedBy } from './event-store';
import { isDestinationFailure } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';
import { stageStatements } from './stage-groups';

/**
 * Destination health: a count of consecutive failed attempts and a pause flag, in PostgreSQL (`destination_state`).
 * A destination failing `pauseAfterFailures` times in a row is paused (`queue.pause()`, which every worker process
 * obeys), so its jobs wait instead of burning their attempts; a periodic probe resumes it once the receiver answers
 * again (destination-health-monitor.ts). An operator may pause and resume too; a probe never resumes an operator's
 * pause. PostgreSQL is the record: if Redis loses the queue's paused flag, the monitor sets it again.
 */

/** The audit chain of a destination's pause and resume events: they concern no single practice. */
const destinationAuditTenant = (destinationId: string): string => `destination/${destinationId}`;

/** A delivered attempt ends a run of failures. Writes nothing when there was none (the common case). */
export async function recordDestinationSuccess(ctx: Pick<PipelineContext, 'db'>, destinationId: string): Promise<void> {
  // Grouped: one statement for the deliveries that succeed at about the same moment.
  await stageStatements(ctx.db).resetDestinationFailures(destinationId);
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
  const row = await countDestinationFailure(ctx.db, destination.id, err.message);
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
  const changed = await recordPause(ctx.db, destinationId, by, reason);
  // Pause the queue even when the row said paused already: Redis may have lost the flag.
  await ctx.queues.timed(ctx.queues.getDeliverQueue(destinationId).pause(), 'pause queue');
  if (!changed) {
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
  if (!(await recordResume(ctx.db, destinationId, by))) {
    return false;
  }
  await ctx.queues.timed(ctx.queues.getDeliverQueue(destinationId).resume(), 'resume queue');
  ctx.log.info({ destination: destinationId, by }, 'destination resumed');
  await ctx.audit.append(
    destinationAuditTenant(destinationId),
    operatorAction({ actor, action: 'resume', target: `destination/${destinationId}` }),
  );
  return true;
}
