import { Worker, type Job } from 'bullmq';
import type { PipelineContext } from './context';
import { processDeliverJob } from './deliver-worker';
import { processMapJob } from './map-worker';
import { deliverQueueName, deliveryBackoffMs, MAP_QUEUE, type DeliverJobData, type MapJobData } from './queues';

/** Starts the map worker and one deliver worker per destination; returns them for an orderly close. */
export function startWorkers(ctx: PipelineContext): Worker[] {
  const { config, queues, metrics, log } = ctx;
  const common = {
    connection: queues.connection,
    prefix: queues.prefix,
    // A crashed worker's active jobs go back to the queue once their lock expires and the stall check runs.
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
    maxStalledCount: 3,
  };
  const instrument =
    <T>(stage: string, fn: (job: Job<T>) => Promise<string>) =>
    async (job: Job<T>) => {
      const result = await metrics.time(stage, () => fn(job));
      metrics.processed.inc({ stage, result });
      return result;
    };
  const workers: Worker[] = [
    new Worker<MapJobData, string>(
      MAP_QUEUE,
      instrument<MapJobData>('map', (job) => processMapJob(ctx, job.data)),
      { ...common, concurrency: config.MAP_CONCURRENCY },
    ),
    ...ctx.registry.destinations.map(
      (d) =>
        new Worker<DeliverJobData, string>(
          deliverQueueName(d.id),
          instrument<DeliverJobData>('deliver', (job) => processDeliverJob(ctx, job)),
          {
            ...common,
            concurrency: config.DELIVER_CONCURRENCY,
            settings: {
              backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
                deliveryBackoffMs(
                  attemptsMade,
                  config.DELIVERY_BACKOFF_BASE_MS,
                  config.DELIVERY_BACKOFF_MAX_MS,
                  (err as { retryAfterMs?: number } | undefined)?.retryAfterMs,
                ),
            },
          },
        ),
    ),
  ];
  for (const w of workers) {
    const stage = w.name === MAP_QUEUE ? 'map' : 'deliver';
    w.on('failed', (job, err) => {
      const retry =
        err.name !== 'PermanentDeliveryError' &&
        err.name !== 'UnrecoverableError' &&
        !!job &&
        job.attemptsMade < (job.opts.attempts ?? 1);
      metrics.failed.inc({ stage, retry: String(retry) });
      log.warn(
        { queue: w.name, jobId: job?.id, attempt: job?.attemptsMade, error: err.name, reason: err.message, retry },
        'job failed',
      );
    });
    w.on('error', (err) => log.error({ queue: w.name, error: err.name, reason: err.message }, 'worker error'));
  }
  return workers;
}
