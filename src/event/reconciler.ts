import type { Queue } from 'bullmq';
import type { PipelineContext } from './context';
import { reconcileFeedbackOnce } from './feedback';
import { deliverJobId, mapJobId } from './queues';

/**
 * Re-enqueues every event that is not in a terminal state and has no live job: covers Redis losing its data, a
 * crash between a commit and an enqueue, and jobs that exhausted their attempts while the database was away.
 * Rows touched within the grace period are left alone; their job is probably on its way.
 */
export async function reconcileOnce(ctx: PipelineContext, graceMs = ctx.config.RECONCILE_GRACE_MS): Promise<number> {
  let requeued = 0;
  const stale = `now() - ($1::int * interval '1 millisecond')`;
  const toMap = await ctx.db.query<{ id: string; trace_id: string }>(
    `SELECT id, trace_id FROM inbox WHERE state IN ('received', 'mapped') AND updated_at < ${stale} ORDER BY updated_at LIMIT 5000`,
    [graceMs],
  );
  for (const r of toMap) {
    if (await needsJob(ctx.queues.map, mapJobId(r.id))) {
      await ctx.queues.enqueueMap([{ inboxId: r.id, traceId: r.trace_id }]);
      requeued++;
    }
  }
  const toDeliver = await ctx.db.query<{ id: string; destination: string; round: number; trace_id: string }>(
    `SELECT d.id, d.destination, d.round, i.trace_id FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.state = 'pending' AND d.updated_at < ${stale} ORDER BY d.updated_at LIMIT 5000`,
    [graceMs],
  );
  for (const d of toDeliver) {
    const queue = ctx.queues.deliver.get(d.destination);
    if (queue && (await needsJob(queue, deliverJobId(d.id, d.round)))) {
      await ctx.queues.enqueueDeliver(d, d.trace_id);
      requeued++;
    }
  }
  requeued += await reconcileFeedbackOnce(ctx, graceMs);
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
