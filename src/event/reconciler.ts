import type { Queue } from 'bullmq';
import type { PipelineContext } from './context';
import {
  staleEventsToMap,
  stalePendingDeliveries,
  stalePendingFeedback,
  stalePendingTrajectoryEvents,
} from './event-store';
import { deliverJobId, feedbackJobId, mapJobId, trajectoryJobId } from './queues';

/**
 * Re-enqueues every event, delivery and status update that is not finished and has no live job: covers Redis
 * losing its data, a crash between a commit and an enqueue, and jobs that exhausted their attempts while the
 * database was away. Rows touched within the grace period are left alone; their job is probably on its way.
 */
export async function reconcileOnce(ctx: PipelineContext, graceMs = ctx.config.RECONCILE_GRACE_MS): Promise<number> {
  let requeued = 0;
  for (const r of await staleEventsToMap(ctx.db, graceMs)) {
    if (await needsJob(ctx.queues.map, mapJobId(r.id))) {
      await ctx.queues.enqueueMap([{ inboxId: r.id, traceId: r.trace_id }]);
      requeued++;
    }
  }
  for (const d of await stalePendingDeliveries(ctx.db, graceMs)) {
    const queue = ctx.queues.deliver.get(d.destination);
    if (queue && (await needsJob(queue, deliverJobId(d.id, d.round)))) {
      await ctx.queues.enqueueDeliver(d, d.trace_id);
      requeued++;
    }
  }
  for (const f of await stalePendingFeedback(ctx.db, graceMs)) {
    if (await needsJob(ctx.queues.feedback, feedbackJobId(f.id, f.round))) {
      await ctx.queues.enqueueFeedback(f, f.trace_id);
      requeued++;
    }
  }
  for (const t of await stalePendingTrajectoryEvents(ctx.db, graceMs)) {
    if (await needsJob(ctx.queues.feedback, trajectoryJobId(t.id, t.round))) {
      await ctx.queues.enqueueTrajectory(t, t.trace_id);
      requeued++;
    }
  }
  if (requeued > 0) {
    ctx.log.info({ requeued }, 'reconciler re-enqueued work');
  }
  return requeued;
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
