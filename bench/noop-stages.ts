import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { configSchema } from '../src/kernel/config';
import { deliverJobOptions } from '../src/event/queues';

/**
 * The reference ceiling's stages, run as their own process the way the product's workers run: the same two BullMQ
 * stages on the same Redis with the product's concurrency, job options, lock and stall settings, but no-op work
 * (map only enqueues the deliver job; deliver only POSTs `{}` to the receiver). Environment: REDIS_URL,
 * QUEUE_PREFIX, RECEIVER_URL. Prints `ready` once both workers listen; stops on SIGTERM.
 */

interface NoopJob {
  readonly id: string;
}

const defaults = configSchema.parse({});
const connection: ConnectionOptions = { url: process.env.REDIS_URL, maxRetriesPerRequest: null };
const prefix = process.env.QUEUE_PREFIX ?? '';
const receiverUrl = process.env.RECEIVER_URL ?? '';

const deliverQueue = new Queue<NoopJob>('deliver.noop', {
  connection,
  prefix,
  defaultJobOptions: deliverJobOptions(defaults.DELIVERY_MAX_ATTEMPTS),
});
const common = {
  connection,
  prefix,
  lockDuration: defaults.JOB_LOCK_MS,
  stalledInterval: defaults.JOB_LOCK_MS,
  maxStalledCount: 3,
};
const workers = [
  new Worker<NoopJob>(
    'map',
    async (job) => {
      await deliverQueue.add('deliver', job.data, { jobId: `deliver-${job.data.id}-0` });
      return 'decided';
    },
    { ...common, concurrency: defaults.MAP_CONCURRENCY },
  ),
  new Worker<NoopJob>(
    'deliver.noop',
    async (job) => {
      const res = await fetch(receiverUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', 'idempotency-key': job.data.id },
        body: '{}',
      });
      await res.text();
      if (!res.ok) {
        throw new Error(`receiver answered ${res.status}`);
      }
      return 'delivered';
    },
    { ...common, concurrency: defaults.DELIVER_CONCURRENCY },
  ),
];
for (const w of workers) {
  w.on('failed', (_job, err) => process.stderr.write(`noop-stages: job failed: ${err.message}\n`));
}

void Promise.all(workers.map((w) => w.waitUntilReady())).then(() => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  void Promise.all([...workers.map((w) => w.close()), deliverQueue.close()]).then(() => process.exit(0));
});
