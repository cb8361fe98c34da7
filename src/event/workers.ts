import { DelayedError, Worker, type Job } from 'bullmq';
import type { Destination } from '../contracts/destination';
import { bullmqTelemetryOption } from '../kernel/telemetry';
import type { PipelineContext } from './context';
import { processDeliverJob } from './deliver';
import { DestinationHealthMonitor } from './destination-health-monitor';
import { processFeedbackJob } from './feedback-deliver';
import { processMapJob } from './map';
import {
  deliverQueueName,
  deliveryBackoffMs,
  FEEDBACK_QUEUE,
  MAP_QUEUE,
  TRAJECTORY_JOB,
  type DeliverJobData,
  type FeedbackJobData,
  type MapJobData,
  type TrajectoryJobData,
} from './queues';
import { processTrajectoryJob } from './trajectory-events';
import { errorFields, unexpectedErrorFields } from '../kernel/logger';
import { isConnectionWaitTimeout } from '../kernel/outage';
import { markConnectionWait, mayWaitForConnections } from './connection-waits';

/**
 * The longest a receiver's Retry-After may hold a job back. Beyond this a misconfigured receiver (Retry-After in
 * milliseconds, or a date years ahead) would park deliveries out of anyone's sight.
 */
const MAX_RETRY_AFTER_MS = 24 * 3600_000;

/** BullMQ keeps the thrown error in process, so the delivery error's Retry-After is readable here. */
function retryAfterOf(err: Error | undefined): number | undefined {
  const ms = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** Errors of ours whose messages are written to be logged: ids, statuses, codes. */
const OWN_ERRORS = new Set(['RetryableDeliveryError', 'PermanentDeliveryError', 'UnrecordedAcceptanceError']);

/**
 * How a failed job's error is logged: ours with their message; anything else (a database error, a bug in a mapping)
 * by class, code and stack frames only, as an unexpected error of the API is (`unexpectedErrorFields`).
 */
function failureFields(err: Error): Record<string, unknown> {
  return OWN_ERRORS.has(err.name) ? errorFields(err) : unexpectedErrorFields(err);
}

/**
 * The trace id every job's payload carries (queues.ts), so that a failed attempt's line is found with the rest of its
 * event's lines. A job BullMQ could not read has none.
 */
function traceOf(job: Job | undefined): { traceId?: string } {
  const traceId = (job?.data as { traceId?: unknown } | undefined)?.traceId;
  return typeof traceId === 'string' ? { traceId } : {};
}

/**
 * Starts the map worker, one deliver worker per destination (each with that destination's retry policy and rate
 * limit), and the feedback worker; plus the destination health monitor (pause/resume and probes), which stops
 * when the workers close. Returns the workers for an orderly close.
 */
export function startWorkers(ctx: PipelineContext): Worker[] {
  const { config, queues, metrics, log } = ctx;
  const common = {
    connection: queues.connection,
    // A crashed worker's active jobs go back to the queue once their lock expires and the stall check runs.
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
    maxStalledCount: 3,
    ...bullmqTelemetryOption(),
  };
  const instrument =
    <T>(stage: string, fn: (job: Job<T>) => Promise<string>) =>
    async (job: Job<T>, token?: string) => {
      let result: string;
      try {
        result = await metrics.time(stage, () => fn(job));
      } catch (err) {
        if (
          token !== undefined &&
          isConnectionWaitTimeout(err) &&
          mayWaitForConnections(job, config.JOB_CONNECTION_WAIT_MAX_MS)
        ) {
          await waitForConnections(job, token, err);
        }
        throw err;
      }
      metrics.processed.inc({ stage, result });
      return result;
    };
  /**
   * A job that got no database connection in time (every one in use under a bulk load) failed for want of the
   * process's own connections, not through its event or its destination: it looks again in 2 to 10 s (spread, so the
   * jobs that waited together do not all come back at once), and spends none of its attempts on it (BullMQ's
   * moveToDelayed skips the attempt), so a bulk load's busy pool turns no delivery into a dead letter and leaves no map
   * job to the reconciler. Only for JOB_CONNECTION_WAIT_MAX_MS per attempt, though (connection-waits.ts): a database
   * that never frees a connection would keep the job coming back for ever, so after that the wait fails the attempt
   * as any error does. The outage log asks the server and logs `dependency busy` once a minute.
   */
  const waitForConnections = async (job: Job, token: string, err: unknown): Promise<never> => {
    ctx.outages.noticed(err);
    await markConnectionWait(job);
    await job.moveToDelayed(Date.now() + 2000 + Math.floor(Math.random() * 8000), token);
    throw new DelayedError();
  };
  const backoff = (baseMs: number, maxMs: number) => (attemptsMade: number, _type?: string, err?: Error) =>
    deliveryBackoffMs(attemptsMade, baseMs, maxMs, retryAfterOf(err));
  const deliverWorker = (d: Destination) =>
    new Worker<DeliverJobData, string>(
      deliverQueueName(d.id),
      instrument<DeliverJobData>('deliver', (job) => processDeliverJob(ctx, job)),
      {
        ...common,
        prefix: queues.prefixFor(deliverQueueName(d.id)),
        concurrency: config.DELIVER_CONCURRENCY,
        // Jobs start at the destination's rate (counted in Redis, across processes), so they do not fill the worker
        // slots only to wait; the limit itself is held when the request leaves (send-window.ts).
        ...(d.rateLimit ? { limiter: { max: d.rateLimit.max, duration: d.rateLimit.durationMs } } : {}),
        settings: {
          backoffStrategy: backoff(
            d.retry?.backoffBaseMs ?? config.DELIVERY_BACKOFF_BASE_MS,
            d.retry?.backoffMaxMs ?? config.DELIVERY_BACKOFF_MAX_MS,
          ),
        },
      },
    );
  const workers: Worker[] = [
    new Worker<MapJobData, string>(
      MAP_QUEUE,
      instrument<MapJobData>('map', (job) => processMapJob(ctx, job.data)),
      { ...common, prefix: queues.prefixFor(MAP_QUEUE), concurrency: config.MAP_CONCURRENCY },
    ),
    ...ctx.registry.destinations.map(deliverWorker),
    new Worker<FeedbackJobData | TrajectoryJobData, string>(
      FEEDBACK_QUEUE,
      instrument<FeedbackJobData | TrajectoryJobData>('feedback', (job) =>
        job.name === TRAJECTORY_JOB
          ? processTrajectoryJob(ctx, job as Job<TrajectoryJobData>)
          : processFeedbackJob(ctx, job as Job<FeedbackJobData>),
      ),
      {
        ...common,
        prefix: queues.prefixFor(FEEDBACK_QUEUE),
        concurrency: config.DELIVER_CONCURRENCY,
        settings: { backoffStrategy: backoff(config.DELIVERY_BACKOFF_BASE_MS, config.DELIVERY_BACKOFF_MAX_MS) },
      },
    ),
  ];
  // A job in flight across a Redis outage ends within its lock's time or a delivery's timeout after it.
  const interruptedJobWindowMs = 2 * Math.max(config.JOB_LOCK_MS, config.DELIVERY_TIMEOUT_MS);
  // Failures of deliver jobs per destination (configured ids, never personal data), so they split per municipality.
  const destinationOf = new Map(ctx.registry.destinations.map((d) => [deliverQueueName(d.id), d.id]));
  for (const w of workers) {
    const queue = w.name;
    const stage = queue === MAP_QUEUE ? 'map' : queue === FEEDBACK_QUEUE ? 'feedback' : 'deliver';
    const destination = destinationOf.get(queue);
    // Every queue's series from the start, at 0: a panel of failures says 0 instead of "No data", and a rate has a
    // first sample before the first failure.
    for (const retry of ['true', 'false']) {
      metrics.failed.inc({ stage, retry, ...(destination ? { destination } : {}) }, 0);
    }
    w.on('failed', (job, err) => {
      const retry =
        err.name !== 'PermanentDeliveryError' &&
        err.name !== 'UnrecoverableError' &&
        !!job &&
        job.attemptsMade < (job.opts.attempts ?? 1);
      metrics.failed.inc({ stage, retry: String(retry), ...(destination ? { destination } : {}) });
      log.warn(
        { queue, jobId: job?.id, ...traceOf(job), attempt: job?.attemptsMade, ...failureFields(err), retry },
        'job failed',
      );
      // A job that failed because PostgreSQL (or Redis) is away: the process's outage, logged once when it starts
      // and once when it ends, as the API logs it, so an alert on that line sees a worker-only outage too.
      ctx.outages.noticed(err);
    });
    // Redis away makes every worker's connections fail several times a second: that is one outage, logged once.
    // The jobs it interrupted fail to end when it is over (their keys or locks are gone): its consequence, at warn.
    w.on('error', (err) => {
      if (ctx.outages.connectionError('redis', err)) {
        return;
      }
      if (ctx.outages.jobInterrupted(err, interruptedJobWindowMs)) {
        // Often the job had finished (BullMQ's moveToFinished found its key gone): say what is true either way.
        log.warn(
          { queue, ...errorFields(err) },
          "Redis lost a job's key or lock in an outage; its outcome is in PostgreSQL",
        );
        return;
      }
      log.error({ queue, ...errorFields(err) }, 'worker error');
    });
  }
  // The monitor's life follows the workers': runtime.ts closes workers on shutdown, and this stops it with them.
  const monitor = new DestinationHealthMonitor(ctx).start();
  workers[0]?.once('closing', () => {
    void monitor.stop();
  });
  return workers;
}
