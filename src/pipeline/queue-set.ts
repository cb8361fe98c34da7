import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Destination } from '../delivery/destination';
import { queuePrefix } from '../kernel/redis-client';
import type { DeliveryRow } from '../store/deliveries';
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
    /** A hash tag per queue instead of one for all (QUEUE_TAG_PER_QUEUE): queues spread over a cluster's shards. */
    readonly tagPerQueue = false,
  ) {
    this.map = new Queue<MapJobData>(MAP_QUEUE, {
      connection,
      prefix: this.prefixFor(MAP_QUEUE),
      defaultJobOptions: MAP_JOB_OPTIONS,
    });
    for (const d of destinations) {
      this.deliver.set(
        d.id,
        new Queue<DeliverJobData>(deliverQueueName(d.id), {
          connection,
          prefix: this.prefixFor(deliverQueueName(d.id)),
          // A destination may allow more or fewer attempts than the deployment's default.
          defaultJobOptions: deliverJobOptions(d.retry?.maxAttempts ?? deliveryMaxAttempts),
        }),
      );
    }
    this.feedback = new Queue<FeedbackJobData>(FEEDBACK_QUEUE, {
      connection,
      prefix: this.prefixFor(FEEDBACK_QUEUE),
      defaultJobOptions: deliverJobOptions(deliveryMaxAttempts),
    });
  }

  /** The key prefix of one queue (the same for all unless each queue has its own hash tag). */
  prefixFor(queueName: string): string {
    return queuePrefix(this.prefix, queueName, this.tagPerQueue);
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
