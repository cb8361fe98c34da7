import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Destination } from '../contracts/destination';
import type { DeliveryRow } from './delivery-store';
import {
  FEEDBACK_QUEUE,
  feedbackJobId,
  type FeedbackJobData,
  deliverJobId,
  deliverJobOptions,
  deliverQueueName,
  MAP_JOB_OPTIONS,
  MAP_QUEUE,
  mapJobId,
  type DeliverJobData,
  type MapJobData,
} from './queues';

/**
 * The BullMQ queues of this deployment: `map`, one `deliver.<destination>` per destination (so a destination can
 * be paused and rate-limited on its own), and `feedback` (status updates back to practices).
 */
export class QueueSet {
  readonly map: Queue<MapJobData>;
  readonly deliver = new Map<string, Queue<DeliverJobData>>();
  readonly feedback: Queue<FeedbackJobData>;

  constructor(
    readonly connection: ConnectionOptions,
    readonly prefix: string,
    destinations: readonly Destination[],
    deliveryMaxAttempts: number,
  ) {
    this.map = new Queue<MapJobData>(MAP_QUEUE, { connection, prefix, defaultJobOptions: MAP_JOB_OPTIONS });
    for (const d of destinations) {
      this.deliver.set(
        d.id,
        new Queue<DeliverJobData>(deliverQueueName(d.id), {
          connection,
          prefix,
          // A destination may allow more or fewer attempts than the deployment's default.
          defaultJobOptions: deliverJobOptions(d.retry?.maxAttempts ?? deliveryMaxAttempts),
        }),
      );
    }
    this.feedback = new Queue<FeedbackJobData>(FEEDBACK_QUEUE, {
      connection,
      prefix,
      defaultJobOptions: deliverJobOptions(deliveryMaxAttempts),
    });
  }

  async enqueueMap(items: readonly MapJobData[]): Promise<void> {
    if (items.length > 0) {
      await this.map.addBulk(items.map((data) => ({ name: 'map', data, opts: { jobId: mapJobId(data.inboxId) } })));
    }
  }

  /** Adds the deliver job for the delivery's current round; a no-op when that job already exists. */
  async enqueueDeliver(delivery: Pick<DeliveryRow, 'id' | 'destination' | 'round'>, traceId: string): Promise<void> {
    const queue = this.getDeliverQueue(delivery.destination);
    const opts: JobsOptions = { jobId: deliverJobId(delivery.id, delivery.round) };
    await queue.add('deliver', { deliveryId: delivery.id, traceId }, opts);
  }

  /**
   * Removes a replayed item's previous round from BullMQ's failed set. Replay adds a job with a new id, so without
   * this the old failed job stays and every `failed` count overstates the dead letters for a month (removeOnFail).
   */
  async removeFailedRound(kind: 'deliver' | 'feedback', item: { id: string; round: number; destination?: string }) {
    const queue = kind === 'feedback' ? this.feedback : this.getDeliverQueue(item.destination ?? '');
    const jobId = kind === 'feedback' ? feedbackJobId(item.id, item.round - 1) : deliverJobId(item.id, item.round - 1);
    const job = await queue.getJob(jobId);
    if (job && (await job.isFailed())) {
      await job.remove();
    }
  }

  /** Adds the feedback job for the status update's current round; a no-op when that job already exists. */
  async enqueueFeedback(feedback: { id: string; round: number }, traceId: string): Promise<void> {
    await this.feedback.add(
      'feedback',
      { feedbackId: feedback.id, traceId },
      { jobId: feedbackJobId(feedback.id, feedback.round) },
    );
  }

  getDeliverQueue(destinationId: string): Queue<DeliverJobData> {
    const q = this.deliver.get(destinationId);
    if (!q) {
      throw new Error(`No deliver queue for destination ${destinationId}`);
    }
    return q;
  }

  all(): Queue[] {
    return [this.map, ...this.deliver.values(), this.feedback];
  }

  /** Job counts per queue and state, for /metrics and the admin API. */
  async depths(): Promise<{ queue: string; state: string; count: number }[]> {
    const out: { queue: string; state: string; count: number }[] = [];
    for (const q of this.all()) {
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
      for (const [state, count] of Object.entries(counts)) {
        out.push({ queue: q.name, state, count });
      }
    }
    return out;
  }

  /** Answers whether Redis replies, for the readiness check. */
  async ping(): Promise<void> {
    await this.map.getJobCounts('waiting');
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
