import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { errorFields } from '../kernel/logger';
import type { OutageLog } from '../kernel/outage';
import { receiptedEvents, type ReceiptedTable } from '../audit/receipts';
import type { PipelineContext } from './context';
import { moveEventLogged } from './event-log';
import {
  addressOldReferrals,
  sealPlainFeedbackReasons,
  moveTrajectoryEvent,
  staleEventsToMap,
  stalePendingDeliveries,
  stalePendingFeedback,
  stalePendingTrajectoryEvents,
  unacknowledgedEvents,
  unacknowledgedTrajectoryEvents,
  type EventToMap,
  type TrajectoryEventToSend,
} from './event-store';
import { foldEventStateCounts } from './state-counts';
import { deliverJobId, feedbackJobId, mapJobId, trajectoryJobId } from './queues';
import { NOT_ACKNOWLEDGED } from './states';

/**
 * How many job lookups, or new jobs, go to Redis at once: a round over a large backlog takes a few round trips, not
 * thousands, and none of them a long one.
 */
const CHECKS_AT_ONCE = 100;

/**
 * Re-enqueues every event, delivery, status update and trajectory event that is not finished and has no live job: covers Redis
 * losing its data, a crash between a commit and an enqueue, and jobs that exhausted their attempts while the
 * database was away. Rows touched within the grace period are left alone; their job is probably on its way.
 * A row whose job still waits behind a long backlog has a live job and gets none: job ids are derived from the row.
 */
export async function reconcileOnce(ctx: PipelineContext, graceMs = ctx.config.RECONCILE_GRACE_MS): Promise<number> {
  // Not a re-enqueue, but periodic in every worker process as this round is: keeps /metrics' event counts cheap.
  await foldEventStateCounts(ctx.db);
  // Referrals an older release's API stored during a rolling upgrade become addressable (README, "Upgrading").
  const addressed = await addressOldReferrals(ctx.db);
  if (addressed > 0) {
    ctx.log.info({ referrals: addressed }, 'referrals stored by an older release made addressable');
  }
  // Free-text reasons an older release stored in plain text are encrypted (migration 040).
  const sealed = await sealPlainFeedbackReasons(ctx.db, ctx.cipher);
  if (sealed > 0) {
    ctx.log.info({ statusUpdates: sealed }, 'free-text reasons stored in plain text by an older release encrypted');
  }
  const events = await eventsToMap(ctx, graceMs);
  await inChunks(events, (chunk) => ctx.queues.enqueueMap(chunk.map((r) => ({ inboxId: r.id, traceId: r.trace_id }))));
  const configured = [...ctx.queues.deliver.keys()];
  const deliveries = await withoutJob(await stalePendingDeliveries(ctx.db, graceMs, configured), (d) => {
    const queue = ctx.queues.deliver.get(d.destination);
    return queue ? [queue, deliverJobId(d.id, d.round)] : undefined;
  });
  await inChunks(deliveries, (chunk) =>
    ctx.queues.enqueueDelivers(chunk.map((d) => ({ delivery: d, traceId: d.trace_id }))),
  );
  const feedback = await withoutJob(await stalePendingFeedback(ctx.db, graceMs), (f) => [
    ctx.queues.feedback,
    feedbackJobId(f.id, f.round),
  ]);
  for (const f of feedback) {
    await ctx.queues.enqueueFeedback(f, f.trace_id);
  }
  const trajectories = await trajectoriesToSend(ctx, graceMs);
  for (const t of trajectories) {
    await ctx.queues.enqueueTrajectory(t, t.trace_id);
  }
  const requeued = events.length + deliveries.length + feedback.length + trajectories.length;
  if (requeued > 0) {
    ctx.log.info({ requeued }, 'reconciler re-enqueued work');
  }
  return requeued;
}

/**
 * Logs a failed round: PostgreSQL or Redis away is the process's outage, logged once when it starts and once when it
 * ends (OutageLog), not a warning every RECONCILE_INTERVAL_MS for as long as it lasts; any other error is a warning.
 */
export function logReconcileFailure(ctx: { readonly log: Logger; readonly outages: OutageLog }, err: unknown): void {
  if (!ctx.outages.seen(err)) {
    ctx.log.warn(errorFields(err), 'reconcile failed');
  }
}

/** The events to queue a map job for: see `receiptedOrHeld`. */
async function eventsToMap(ctx: PipelineContext, graceMs: number): Promise<EventToMap[]> {
  const jobOf = (r: EventToMap): [Queue, string] => [ctx.queues.map, mapJobId(r.id)];
  return receiptedOrHeld(ctx, {
    table: 'inbox',
    stale: await withoutJob(await staleEventsToMap(ctx.db, graceMs), jobOf),
    held: await unacknowledgedEvents(ctx.db),
    hold: (r) =>
      moveEventLogged(ctx, { eventId: r.id, traceId: r.trace_id, stage: 'reconcile' }, 'unacknowledged', {
        reason: NOT_ACKNOWLEDGED,
      }),
    jobOf,
  });
}

/** The municipalities' trajectory events to queue a job for: see `receiptedOrHeld`. */
async function trajectoriesToSend(ctx: PipelineContext, graceMs: number): Promise<TrajectoryEventToSend[]> {
  // Trajectory events travel on the feedback queue, under their own job ids.
  const jobOf = (t: TrajectoryEventToSend): [Queue, string] => [ctx.queues.feedback, trajectoryJobId(t.id, t.round)];
  return receiptedOrHeld(ctx, {
    table: 'trajectory_event',
    stale: await withoutJob(await stalePendingTrajectoryEvents(ctx.db, graceMs), jobOf),
    held: await unacknowledgedTrajectoryEvents(ctx.db),
    hold: async (t) => (await moveTrajectoryEvent(ctx.db, t.id, 'unacknowledged')) !== undefined,
    jobOf,
  });
}

/**
 * Of the stale rows without a job and the held ones, those to queue a job for: the stale ones whose receipt is on
 * record, and the held ones whose receipt was recorded since and that have no job (a resend whose job Redis did not
 * take). A stale one without its receipt was stored by a request that failed after the insert, so its sender was
 * answered 503 or not at all: it is held (`unacknowledged`, for the sender and the operator to see) instead of
 * processed, until it is sent again. Only rows without a job are asked about, so receipts cost nothing on the normal
 * path.
 */
async function receiptedOrHeld<R extends { id: string; tenant: string }>(
  ctx: PipelineContext,
  rows: {
    table: ReceiptedTable;
    stale: readonly R[];
    held: readonly R[];
    hold: (row: R) => Promise<boolean>;
    jobOf: (row: R) => [Queue, string];
  },
): Promise<R[]> {
  const receipted = await receiptedEvents(ctx.db, [...rows.stale, ...rows.held], rows.table);
  let holds = 0;
  for (const r of rows.stale.filter((e) => !receipted.has(e.id))) {
    holds += Number(await rows.hold(r));
  }
  if (holds > 0) {
    ctx.log.warn({ held: holds, table: rows.table }, 'events stored without their receipt held until sent again');
  }
  const released = await withoutJob(
    rows.held.filter((e) => receipted.has(e.id)),
    rows.jobOf,
  );
  return [...rows.stale.filter((e) => receipted.has(e.id)), ...released];
}

/** Adds the jobs CHECKS_AT_ONCE at a time: each `addBulk` has REDIS_ANSWER_MS to answer, which thousands could exceed. */
async function inChunks<R>(rows: readonly R[], add: (chunk: readonly R[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHECKS_AT_ONCE) {
    await add(rows.slice(i, i + CHECKS_AT_ONCE));
  }
}

/** The rows whose job is gone (or failed for good), looked up CHECKS_AT_ONCE at a time; rows without a queue are left out. */
async function withoutJob<R>(rows: readonly R[], jobOf: (row: R) => [Queue, string] | undefined): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < rows.length; i += CHECKS_AT_ONCE) {
    const chunk = rows.slice(i, i + CHECKS_AT_ONCE);
    const needs = await Promise.all(
      chunk.map((row) => {
        const job = jobOf(row);
        return job ? needsJob(...job) : Promise.resolve(false);
      }),
    );
    out.push(...chunk.filter((_, k) => needs[k]));
  }
  return out;
}

/** True when the job is gone, or failed for good while its row still waits (its id must be freed first). */
async function needsJob(queue: Queue, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job) {
    return true;
  }
  if ((await job.getState()) === 'failed') {
    await job.remove();
    return true;
  }
  return false;
}
