import { operatorAction, type AuditActor } from '../audit/audit-events';
import { DEFAULT_PAUSE_AFTER_FAILURES, type Destination } from '../contracts/destination';
import {
  countDestinationFailure,
  recordHalfOpen,
  recordPause,
  recordResume,
  recordTrialFailure,
  releaseTrialDelivery,
  type PausedBy,
} from './event-store';
import { isDestinationFailure } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';
import { stageStatements } from './stage-groups';

/**
 * Destination health: a count of consecutive failed attempts and a pause flag, in PostgreSQL (`destination_state`).
 * A destination failing `pauseAfterFailures` times in a row is paused (`queue.pause()`, which every worker process
 * obeys), so its jobs wait instead of burning their attempts. A periodic probe (destination-health-monitor.ts) that
 * succeeds does not resume it: a probe asks less than a delivery does (a FHIR server may serve its CapabilityStatement
 * while its transactions fail), and releasing every waiting job at once would cost each an attempt at every probe.
 * It makes the destination half-open, as a circuit breaker does: the queue runs, one delivery claims the trial
 * (`claimTrialDelivery`) and goes out, the others go back to wait without spending an attempt. The trial accepted
 * resumes the destination; the trial failed (by the destination, see `isDestinationFailure`) keeps it paused until
 * the next probe; a trial that ended otherwise (a 422 about its message, a cancellation) hands the claim on.
 * An operator may pause and resume too; a probe never resumes an operator's pause. PostgreSQL is the record: if
 * Redis loses the queue's paused flag, the monitor sets it again.
 */

/** The audit chain of a destination's pause and resume events: they concern no single practice. */
const destinationAuditTenant = (destinationId: string): string => `destination/${destinationId}`;

/**
 * A delivered attempt ends a run of failures. Writes nothing when there was none (the common case). Delivered while
 * the destination was half-open (the trial), it resumes the destination.
 */
export async function recordDestinationSuccess(
  ctx: PipelineContext,
  destinationId: string,
  halfOpen: boolean,
): Promise<void> {
  if (halfOpen) {
    await resumeDestination(ctx, destinationId, 'auto', TRIAL_ACTOR);
    return;
  }
  // Grouped: one statement for the deliveries that succeed at about the same moment.
  await stageStatements(ctx.db).resetDestinationFailures(destinationId);
}

const TRIAL_ACTOR: AuditActor = { userId: 'system/worker', accessPoint: 'jeugdbrug-worker/trial-delivery' };

/**
 * A successful probe of an automatically paused destination: half-open. The queue runs again so that one job comes
 * to claim the trial; the others it takes meanwhile go back to wait (deliver.ts). Returns false when it was not
 * paused automatically, or half-open already.
 */
export async function openForTrial(ctx: PipelineContext, destinationId: string): Promise<boolean> {
  if (!(await recordHalfOpen(ctx.db, destinationId))) {
    return false;
  }
  await ctx.queues.timed(ctx.queues.getDeliverQueue(destinationId).resume(), 'resume queue');
  ctx.log.info({ destination: destinationId }, 'destination half-open: one trial delivery before the rest');
  return true;
}

/**
 * Hands a trial claim on when its delivery ended without a verdict on the destination (neither accepted nor failed
 * by the destination): the queue runs again, and the next job claims it. A claim the trial's success or failure
 * ended already is not there to release.
 */
export async function handOnTrial(ctx: PipelineContext, destinationId: string, deliveryId: string): Promise<void> {
  if (await releaseTrialDelivery(ctx.db, destinationId, { deliveryId })) {
    await ctx.queues.timed(ctx.queues.getDeliverQueue(destinationId).resume(), 'resume queue');
  }
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
  if (!row) {
    return false;
  }
  const reason = `${row.consecutive_failures} consecutive failures, last: ${err.message.slice(0, 200)}`;
  if (row.half_open) {
    // The trial failed: paused as before, without an audited resume and pause, until a later probe succeeds.
    if (!(await recordTrialFailure(ctx.db, destination.id, reason))) {
      return false;
    }
    await ctx.queues.timed(ctx.queues.getDeliverQueue(destination.id).pause(), 'pause queue');
    ctx.log.warn({ destination: destination.id }, 'trial delivery failed: destination stays paused');
    return true;
  }
  const threshold = destination.pauseAfterFailures ?? DEFAULT_PAUSE_AFTER_FAILURES;
  if (threshold === 0 || row.paused_by !== null || row.consecutive_failures < threshold) {
    return false;
  }
  return pauseDestination(ctx, destination.id, 'auto', reason, {
    userId: 'system/worker',
    accessPoint: 'jeugdbrug-worker',
  });
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
  const changed = await recordPause(ctx.db, destinationId, by, reason, actor.userId);
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
 * Resumes a destination and starts its failure count afresh. `auto` (a trial delivery accepted) resumes only a
 * half-open automatic pause; an operator resumes any. Returns false when nothing changed.
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
