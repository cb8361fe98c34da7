import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { Destination } from '../contracts/destination';
import { errorFields } from '../kernel/logger';
import { isOutageError, redisAnswer, type OutageLog } from '../kernel/outage';
import { queuePrefix } from '../kernel/redis-client';
import { bullmqTelemetryOption } from '../kernel/telemetry';
import type { DeliveryRow } from './event-store';

/** Queue names and job payloads, in one place. Payloads hold ids and a trace id: never patient data. */
export const MAP_QUEUE = 'map';
export const deliverQueueName = (destinationId: string): string => `deliver.${destinationId}`;

export interface MapJobData {
  readonly inboxId: string;
  readonly traceId: string;
}

export interface DeliverJobData {
  readonly deliveryId: string;
  readonly traceId: string;
}

/** The `feedback` queue: a municipality's status updates on referrals, on their way back to the practice's HIS. */
export const FEEDBACK_QUEUE = 'feedback';

export interface FeedbackJobData {
  readonly feedbackId: string;
  readonly traceId: string;
}

/**
 * A municipality's trajectory event on its way to the practice's HIS: the same `feedback` queue (job name
 * `trajectory`), so it has the same retry policy, dead letters and worker as status updates.
 */
export const TRAJECTORY_JOB = 'trajectory';
export interface TrajectoryJobData {
  readonly trajectoryEventId: string;
  readonly traceId: string;
}

/** Job ids are derived, so the reconciler re-adding a job that still exists is a no-op. */
export const mapJobId = (inboxId: string): string => `map-${inboxId}`;
export const deliverJobId = (deliveryId: string, round: number): string => `deliver-${deliveryId}-${round}`;
export const feedbackJobId = (feedbackId: string, round: number): string => `feedback-${feedbackId}-${round}`;
export const trajectoryJobId = (id: string, round: number): string => `trajectory-${id}-${round}`;

/**
 * Map jobs: failures here are our own (database or Redis briefly away), not the receiver's. 5 attempts at
 * 1, 2, 4, 8 s: about 15 seconds, after which the reconciler picks the event up again on its next round.
 */
export const MAP_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Deliver jobs, retried with the `delivery` backoff (see deliveryBackoffMs). With the defaults (15 attempts,
 * 30 s doubling to at most 1 h, ±20 % jitter) a receiver may be away for about 8 hours before the delivery
 * becomes a dead letter.
 */
export function deliverJobOptions(maxAttempts: number): DefaultJobOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: 'delivery' },
    removeOnComplete: true,
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** Exponential backoff with ±20 % jitter, capped; a receiver's Retry-After wins when it asks for longer. */
export function deliveryBackoffMs(attemptsMade: number, baseMs: number, maxMs: number, retryAfterMs?: number): number {
  const exp = Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), maxMs);
  const jittered = Math.round(exp * (0.8 + Math.random() * 0.4));
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}

/**
 * Runs an enqueue whose work is already durable in PostgreSQL: when Redis does not answer in time it is left to the
 * reconciler (and to ioredis, which still sends the queued command once Redis is back; job ids make that a no-op).
 * Such a failure is counted into the Redis outage (`OutageLog.deferred`: its end line says how many), not logged at
 * warn each: under load that would be a line per accepted event for as long as Redis is away. At debug, with the ids.
 */
export async function enqueueOrDefer(
  ctx: { readonly log: Logger; readonly outages: OutageLog },
  enqueue: Promise<void>,
  ids: Record<string, string>,
): Promise<void> {
  try {
    await enqueue;
  } catch (err) {
    if (!isOutageError(err)) {
      throw err;
    }
    ctx.log.debug({ ...ids, ...errorFields(err) }, 'enqueue failed; the reconciler will retry');
    ctx.outages.deferred('redis', err);
  }
}

/**
 * Adds jobs to a queue in one round trip: one job as itself, several in one `addBulk`. The same script adds a job
 * either way (a job id that exists is a no-op), but `addBulk` sends its jobs through an ioredis pipeline, which copies
 * every script BullMQ defines onto itself when it is made: measured in this process (a scratch loop, 3,000 adds a run,
 * 7 December 2026), 175-290 µs of CPU per job added alone through `addBulk`, 78-88 µs through `add`. At a steady
 * rate of one event per request, most grouped adds hold one job.
 */
async function addJobs<T>(queue: Queue<T>, jobs: Parameters<Queue<T>['addBulk']>[0]): Promise<void> {
  const [only] = jobs;
  if (jobs.length === 1 && only) {
    await queue.add(only.name, only.data, only.opts);
  } else {
    await queue.addBulk(jobs);
  }
}

/** Runs a Lua script: what our own Redis keys need beyond plain commands. */
interface ScriptClient {
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** BullMQ's client with the `eval` it forwards. */
type QueueRedisClient = Awaited<ReturnType<Queue['getBackend']>['connection']['client']> & ScriptClient;

/**
 * The BullMQ queues of this deployment: `map`, one `deliver.<destination>` per destination (so a destination can
 * be paused and rate-limited on its own), and `feedback` (status updates and trajectory events to practices).
 */
export class QueueSet {
  readonly map: Queue<MapJobData>;
  readonly deliver = new Map<string, Queue<DeliverJobData>>();
  readonly feedback: Queue<FeedbackJobData | TrajectoryJobData>;

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
      ...bullmqTelemetryOption(),
    });
    for (const d of destinations) {
      this.deliver.set(
        d.id,
        new Queue<DeliverJobData>(deliverQueueName(d.id), {
          connection,
          prefix: this.prefixFor(deliverQueueName(d.id)),
          // A destination may allow more or fewer attempts than the deployment's default.
          defaultJobOptions: deliverJobOptions(d.retry?.maxAttempts ?? deliveryMaxAttempts),
          ...bullmqTelemetryOption(),
        }),
      );
    }
    this.feedback = new Queue<FeedbackJobData | TrajectoryJobData>(FEEDBACK_QUEUE, {
      connection,
      prefix: this.prefixFor(FEEDBACK_QUEUE),
      defaultJobOptions: deliverJobOptions(deliveryMaxAttempts),
      ...bullmqTelemetryOption(),
    });
    // A queue passes on its connection's errors. The connection is the process's one client, whose own listener
    // reports them (runtime.ts: an outage to the OutageLog, once); a queue without a listener of its own would have BullMQ print each as a multi-line dump on
    // stderr, between the JSON log lines, for as long as Redis is away.
    for (const q of this.all()) {
      q.on('error', () => undefined);
    }
  }

  /**
   * Bounds a Redis call by REDIS_ANSWER_MS: a DependencyUnavailableError (503) instead of a hanging request.
   * Everything a request enqueues is already durable in PostgreSQL; the reconciler re-adds what did not arrive.
   */
  timed<T>(call: Promise<T>, what: string): Promise<T> {
    return redisAnswer(call, what);
  }

  /**
   * The process's ioredis client behind BullMQ (Redis or Cluster), for the few keys of our own beside the queues (the
   * sent-once notes, the send windows). BullMQ's proxy forwards `eval`, which its type does not declare.
   */
  redisClient(): Promise<QueueRedisClient> {
    return this.map.getBackend().connection.client as Promise<QueueRedisClient>;
  }

  /** The key prefix of one queue (the same for all unless each queue has its own hash tag). */
  prefixFor(queueName: string): string {
    return queuePrefix(this.prefix, queueName, this.tagPerQueue);
  }

  async enqueueMap(items: readonly MapJobData[]): Promise<void> {
    if (items.length > 0) {
      await this.timed(
        addJobs(
          this.map,
          items.map((data) => ({ name: 'map', data, opts: { jobId: mapJobId(data.inboxId) } })),
        ),
        'enqueue map',
      );
    }
  }

  /** Adds the deliver job for the delivery's current round; a no-op when that job already exists. */
  async enqueueDeliver(delivery: Pick<DeliveryRow, 'id' | 'destination' | 'round'>, traceId: string): Promise<void> {
    await this.enqueueDelivers([{ delivery, traceId }]);
  }

  /** `enqueueDeliver` for several deliveries: one `addBulk` per destination. */
  async enqueueDelivers(
    items: readonly { delivery: Pick<DeliveryRow, 'id' | 'destination' | 'round'>; traceId: string }[],
  ): Promise<void> {
    const byDestination = new Map<string, (typeof items)[number][]>();
    for (const item of items) {
      const list = byDestination.get(item.delivery.destination);
      if (list) {
        list.push(item);
      } else {
        byDestination.set(item.delivery.destination, [item]);
      }
    }
    await Promise.all(
      [...byDestination].map(([destination, ofDestination]) =>
        this.timed(
          addJobs(
            this.getDeliverQueue(destination),
            ofDestination.map(({ delivery, traceId }) => ({
              name: 'deliver',
              data: { deliveryId: delivery.id, traceId },
              opts: { jobId: deliverJobId(delivery.id, delivery.round) },
            })),
          ),
          'enqueue deliver',
        ),
      ),
    );
  }

  /**
   * Removes a replayed item's previous round from BullMQ's failed set. Replay adds a job with a new id, so without
   * this the old failed job stays and every `failed` count overstates the dead letters for a month (removeOnFail).
   */
  async removeFailedRound(
    kind: 'deliver' | 'feedback' | 'trajectory',
    item: { id: string; round: number; destination?: string },
  ): Promise<void> {
    const queue = kind === 'deliver' ? this.getDeliverQueue(item.destination ?? '') : this.feedback;
    const jobId =
      kind === 'deliver'
        ? deliverJobId(item.id, item.round - 1)
        : kind === 'feedback'
          ? feedbackJobId(item.id, item.round - 1)
          : trajectoryJobId(item.id, item.round - 1);
    const remove = async () => {
      const job = await queue.getJob(jobId);
      if (job && (await job.isFailed())) {
        await job.remove();
      }
    };
    // Called while an operator's replay request waits: a Redis that does not answer must not hold it.
    await this.timed(remove(), 'remove the failed round');
  }

  /** Adds the feedback job for the status update's current round; a no-op when that job already exists. */
  async enqueueFeedback(feedback: { id: string; round: number }, traceId: string): Promise<void> {
    await this.timed(
      this.feedback.add(
        'feedback',
        { feedbackId: feedback.id, traceId },
        { jobId: feedbackJobId(feedback.id, feedback.round) },
      ),
      'enqueue feedback',
    );
  }

  /** Adds the job delivering a trajectory event to the practice (current round); a no-op when it already exists. */
  async enqueueTrajectory(event: { id: string; round: number }, traceId: string): Promise<void> {
    await this.timed(
      this.feedback.add(
        TRAJECTORY_JOB,
        { trajectoryEventId: event.id, traceId },
        { jobId: trajectoryJobId(event.id, event.round) },
      ),
      'enqueue trajectory',
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

  /**
   * The shared stage queues (`map`, and `feedback` back to practices) and the deliver queues of these destinations:
   * what an operator scoped to their municipalities sees. A stage queue's jobs are ids only, of every practice and
   * municipality, so it is not split by scope: it is shown whole, as a total.
   */
  ofDestinations(destinations: readonly Pick<Destination, 'id'>[]): Queue[] {
    return [this.map, ...destinations.map((d) => this.getDeliverQueue(d.id)), this.feedback];
  }

  /** Job counts per queue and state, for /metrics and the admin API (the given queues; all by default). */
  async depths(queues: readonly Queue[] = this.all()): Promise<{ queue: string; state: string; count: number }[]> {
    const out: { queue: string; state: string; count: number }[] = [];
    for (const q of queues) {
      const counts = await this.timed(q.getJobCounts('waiting', 'active', 'delayed', 'failed'), 'queue depths');
      for (const [state, count] of Object.entries(counts)) {
        out.push({ queue: q.name, state, count });
      }
    }
    return out;
  }

  /** Answers whether Redis replies, for the readiness check. */
  async ping(): Promise<void> {
    await this.timed(this.map.getJobCounts('waiting'), 'ping');
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
