import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { configSchema } from '../src/kernel/config';
import { idempotencyKeyOf } from '../src/event/map';
import { deliverJobOptions, MAP_JOB_OPTIONS } from '../src/event/queues';
import { buildReferralEvent } from '../tests/helpers/builders';
import { TestReceiver } from '../tests/helpers/receiver';
import {
  cleanupTestEnv,
  createTestEnv,
  startTestApp,
  TEST_REDIS_URL,
  type TestApp,
} from '../tests/helpers/test-runtime';
import { waitFor } from '../tests/helpers/wait-for';
import { deleteQueueKeys, uniqueQueuePrefix } from './queue-keys';
import type { BenchResult } from './result';
import { measureProductPeakRssMb } from './product-rss';
import { measureReadySeconds } from './startup';

/** The product's own defaults (concurrency, lock duration, attempts), read from the one config schema. */
const PRODUCT_DEFAULTS = configSchema.parse({});

/**
 * createTestEnv tunes retries, locks and the reconciler for failure tests; a benchmark runs with the product's
 * defaults instead (an empty value counts as unset). Logs go to the test's log file, warnings and worse only.
 */
export const BENCH_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  DELIVERY_BACKOFF_BASE_MS: '',
  DELIVERY_BACKOFF_MAX_MS: '',
  DELIVERY_MAX_ATTEMPTS: '',
  DELIVERY_TIMEOUT_MS: '',
  JOB_LOCK_MS: '',
  RECONCILE_INTERVAL_MS: '',
  RECONCILE_GRACE_MS: '',
};

/**
 * At most `events` events, but no more than the warm-up rate sustains for about `targetSeconds` (at least
 * `minEvents`), so the whole run stays within a few minutes while the pipeline is far below its target.
 */
const THROUGHPUT = {
  warmup: 500,
  events: 5000,
  minEvents: 1000,
  targetSeconds: 30,
  batchSize: 100,
  inFlight: 4,
} as const;
const LATENCY = { warmup: 200, ratePerSecond: 200, seconds: 10 } as const;
const DRAIN_TIMEOUT_MS = 120_000;

/** A product instance (ROLE=all, in this process) on its own schema and queue prefix, delivering to `receiver`. */
interface BenchPipeline {
  readonly app: TestApp;
  readonly receiver: TestReceiver;
  /** The idempotency key the receiver will see for an accepted event. */
  readonly keyOf: (inboxId: string) => string;
}

async function withPipeline<T>(env: Record<string, string>, fn: (p: BenchPipeline) => Promise<T>): Promise<T> {
  const receiver = await new TestReceiver().start();
  const testEnv = createTestEnv({ ...BENCH_ENV, ...env });
  let succeeded = false;
  try {
    const app = await startTestApp({ receiverUrl: receiver.url, testEnv });
    try {
      const destination = app.rt.ctx.registry.destinations[0];
      if (!destination) {
        throw new Error('the bench registry has no destination');
      }
      const result = await fn({ app, receiver, keyOf: (inboxId) => idempotencyKeyOf(inboxId, destination.id) });
      succeeded = true;
      return result;
    } catch (err) {
      throw new Error(`${(err as Error).message} (inbox states: ${await inboxStates(app)}; log: ${testEnv.logFile})`, {
        cause: err,
      });
    } finally {
      await app.close();
    }
  } finally {
    await receiver.stop();
    await cleanupTestEnv(testEnv);
    if (succeeded) {
      fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
    }
  }
}

/** Events per inbox state, to tell a stuck stage from a slow one when a run times out. */
async function inboxStates(app: TestApp): Promise<string> {
  try {
    const rows = await app.rt.ctx.db.query<{ state: string; n: string }>(
      'SELECT state, count(*) AS n FROM inbox GROUP BY state ORDER BY state',
    );
    return rows.map((r) => `${r.state} ${r.n}`).join(', ') || 'none';
  } catch (err) {
    return `unknown (${(err as Error).message})`;
  }
}

/** POSTs whose connection failed and that were sent again; reported, since they add to the latencies. */
let resentPosts = 0;

/**
 * POSTs events (an array, or one event on its own) and returns the inbox id of each; every one must be accepted.
 * A POST whose connection is reset (an overloaded server can close a kept-alive socket as it is reused) is sent
 * again: the event ids make that safe, and the events then come back as duplicates of the first attempt.
 */
async function submit(app: TestApp, events: readonly unknown[]): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await app.request('/his/v1/events', { json: events.length === 1 ? events[0] : events });
    } catch (err) {
      if (attempt >= 3) {
        throw err;
      }
      resentPosts++;
      continue;
    }
    if (res.status !== 202) {
      throw new Error(`POST /his/v1/events answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    }
    const { receipts } = (await res.json()) as { receipts: { status: string; id?: string }[] };
    return receipts.map((r) => {
      if (!r.id || !(r.status === 'accepted' || (attempt > 1 && r.status === 'duplicate'))) {
        throw new Error(`an event was not accepted: ${r.status}`);
      }
      return r.id;
    });
  }
}

function buildBatches(total: number, batchSize: number): unknown[][] {
  const batches: unknown[][] = [];
  for (let i = 0; i < total; i += batchSize) {
    batches.push(Array.from({ length: Math.min(batchSize, total - i) }, () => buildReferralEvent()));
  }
  return batches;
}

/** Sends the batches with `inFlight` requests at a time, each lane taking the next batch as soon as it is answered. */
async function submitAll(app: TestApp, batches: readonly unknown[][], inFlight: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let batch = batches[next++]; batch; batch = batches[next++]) {
      ids.push(...(await submit(app, batch)));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ids;
}

/** Waits until the receiver stored every key; returns the `Date.now()` at which each was stored. */
async function waitForStored(receiver: TestReceiver, keys: readonly string[]): Promise<number[]> {
  try {
    await waitFor('deliveries', () => keys.every((k) => receiver.stored.has(k)), DRAIN_TIMEOUT_MS, 20);
  } catch {
    const got = keys.filter((k) => receiver.stored.has(k)).length;
    throw new Error(`only ${got} of ${keys.length} events reached the receiver within ${DRAIN_TIMEOUT_MS / 1000} s`);
  }
  return keys.map((k) => receiver.stored.get(k)!.at);
}

/** Mean time per job of each stage, from the product's own `jeugdbrug_stage_duration_seconds` histogram. */
async function stageMeans(app: TestApp): Promise<string> {
  const { values } = await app.rt.ctx.metrics.stageSeconds.get();
  const of = (suffix: string, stage: string) =>
    values.find((v) => v.metricName === `jeugdbrug_stage_duration_seconds_${suffix}` && v.labels.stage === stage)
      ?.value ?? 0;
  return ['map', 'deliver']
    .map((stage) => `${stage} ${((1000 * of('sum', stage)) / Math.max(1, of('count', stage))).toFixed(1)} ms/job`)
    .join(', ');
}

/**
 * The median of a stage's duration in ms from the product's histogram, interpolated within the bucket where the
 * median falls (buckets are cumulative counts per upper bound, in seconds).
 */
async function stageMedianMs(app: TestApp, stage: string): Promise<number> {
  const { values } = await app.rt.ctx.metrics.stageSeconds.get();
  const buckets = values
    .filter((v) => v.metricName === 'jeugdbrug_stage_duration_seconds_bucket' && v.labels.stage === stage)
    .map((v) => ({ le: Number((v.labels as { le?: string | number }).le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) {
    throw new Error(`no ${stage} samples`);
  }
  let prev = { le: 0, count: 0 };
  for (const b of buckets) {
    if (b.count >= total / 2) {
      const within = b.count === prev.count ? 0 : (total / 2 - prev.count) / (b.count - prev.count);
      return 1000 * (prev.le + within * ((Number.isFinite(b.le) ? b.le : prev.le) - prev.le));
    }
    prev = b;
  }
  return 1000 * prev.le;
}

/** Events per second from the first POST until the receiver stored the last of them. */
async function measureThroughput(): Promise<number> {
  return withPipeline({}, async ({ app, receiver, keyOf }) => {
    // Warm-up: JIT, connection pools, the first audit chain head; not measured, but it sizes the run.
    const warmupStarted = Date.now();
    await waitForStored(receiver, (await submitAll(app, buildBatches(THROUGHPUT.warmup, 100), 1)).map(keyOf));
    const warmupRate = THROUGHPUT.warmup / ((Date.now() - warmupStarted) / 1000);
    const total = Math.min(
      THROUGHPUT.events,
      Math.max(THROUGHPUT.minEvents, Math.round((warmupRate * THROUGHPUT.targetSeconds) / 100) * 100),
    );
    const batches = buildBatches(total, THROUGHPUT.batchSize);
    const started = Date.now();
    const ids = await submitAll(app, batches, THROUGHPUT.inFlight);
    const storedAt = await waitForStored(receiver, ids.map(keyOf));
    const seconds = (Math.max(...storedAt) - started) / 1000;
    progress(
      `  ${ids.length} events in ${seconds.toFixed(1)} s, ${resentPosts} POSTs resent; stage means: ${await stageMeans(app)}`,
    );
    return ids.length / seconds;
  });
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  if (v === undefined) {
    throw new Error('no samples');
  }
  return v;
}

/**
 * Offers one event per POST at a fixed rate (open loop: a slow answer does not delay the next send) and returns
 * each event's latency from the start of its POST until the receiver stored it, in ms.
 */
async function measureLatencies(): Promise<{ latencies: number[]; policyMedianMs: number }> {
  // The product's default rate limit (50 requests/s per principal, burst 500) would refuse an open-loop 200 req/s
  // after a few seconds: here one test key stands in for many practices, each of which has its own bucket.
  return withPipeline({ RATE_LIMIT_PER_S: '1000' }, async ({ app, receiver, keyOf }) => {
    await waitForStored(receiver, (await submitAll(app, buildBatches(LATENCY.warmup, 1), 4)).map(keyOf));
    const total = LATENCY.ratePerSecond * LATENCY.seconds;
    const events = Array.from({ length: total }, () => buildReferralEvent());
    const intervalMs = 1000 / LATENCY.ratePerSecond;
    const sentAt = new Map<string, number>();
    const sends: Promise<void>[] = [];
    const sendOne = async (event: unknown): Promise<void> => {
      const at = Date.now();
      const [id] = await submit(app, [event]);
      sentAt.set(keyOf(id!), at);
    };
    const started = performance.now();
    while (sends.length < total) {
      // Catch up on every send that is due, so timer jitter does not lower the offered rate.
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (sends.length < due) {
        sends.push(sendOne(events[sends.length]));
      }
      await sleep(1);
    }
    const offered = total / ((performance.now() - started) / 1000);
    await Promise.all(sends);
    const keys = [...sentAt.keys()];
    const storedAt = await waitForStored(receiver, keys);
    progress(
      `  offered ${offered.toFixed(0)} events/s, ${resentPosts} POSTs resent so far; stage means: ${await stageMeans(app)}`,
    );
    return {
      latencies: keys.map((k, i) => storedAt[i]! - sentAt.get(k)!),
      policyMedianMs: await stageMedianMs(app, 'policy'),
    };
  });
}

interface NoopJob {
  readonly id: string;
}

/**
 * The reference ceiling: the same two BullMQ stages on the same Redis with the product's concurrency, options and
 * receiver, but no-op work (map enqueues the deliver job; deliver POSTs `{}`). Returns jobs through both per second.
 */
async function measureCeiling(): Promise<number> {
  const receiver = await new TestReceiver().start();
  const prefix = uniqueQueuePrefix('benchceil');
  const connection: ConnectionOptions = { url: TEST_REDIS_URL, maxRetriesPerRequest: null };
  const mapQueue = new Queue<NoopJob>('map', { connection, prefix, defaultJobOptions: MAP_JOB_OPTIONS });
  const deliverQueue = new Queue<NoopJob>('deliver.noop', {
    connection,
    prefix,
    defaultJobOptions: deliverJobOptions(PRODUCT_DEFAULTS.DELIVERY_MAX_ATTEMPTS),
  });
  const common = {
    connection,
    prefix,
    lockDuration: PRODUCT_DEFAULTS.JOB_LOCK_MS,
    stalledInterval: PRODUCT_DEFAULTS.JOB_LOCK_MS,
    maxStalledCount: 3,
  };
  const workers = [
    new Worker<NoopJob>(
      'map',
      async (job) => {
        await deliverQueue.add('deliver', job.data, { jobId: `deliver-${job.data.id}-0` });
        return 'decided';
      },
      { ...common, concurrency: PRODUCT_DEFAULTS.MAP_CONCURRENCY },
    ),
    new Worker<NoopJob>(
      'deliver.noop',
      async (job) => {
        const res = await fetch(receiver.url, {
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
      { ...common, concurrency: PRODUCT_DEFAULTS.DELIVER_CONCURRENCY },
    ),
  ];
  const errors: Error[] = [];
  for (const w of workers) {
    w.on('error', (err) => errors.push(err));
    w.on('failed', (_job, err) => errors.push(err));
  }
  let seq = 0;
  const run = async (total: number): Promise<number> => {
    const ids = Array.from({ length: total }, () => `noop-${++seq}`);
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += THROUGHPUT.batchSize) {
      batches.push(ids.slice(i, i + THROUGHPUT.batchSize));
    }
    let next = 0;
    const started = Date.now();
    const lane = async (): Promise<void> => {
      for (let batch = batches[next++]; batch; batch = batches[next++]) {
        await mapQueue.addBulk(batch.map((id) => ({ name: 'map', data: { id }, opts: { jobId: `map-${id}` } })));
      }
    };
    await Promise.all(Array.from({ length: THROUGHPUT.inFlight }, lane));
    const storedAt = await waitForStored(receiver, ids);
    if (errors.length > 0) {
      throw new Error(`ceiling jobs failed: ${errors[0]?.message ?? ''}`);
    }
    return total / ((Math.max(...storedAt) - started) / 1000);
  };
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    await run(THROUGHPUT.warmup);
    return await run(THROUGHPUT.events);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all([mapQueue.close(), deliverQueue.close()]);
    await receiver.stop();
    await deleteQueueKeys(prefix);
  }
}

/** Peak resident set size of this process, sampled on a timer until `stop()`. */
/** Log lines on stderr so `--json` output on stdout stays machine-readable. */
function progress(message: string): void {
  process.stderr.write(`bench: ${message} [rss ${(process.memoryUsage.rss() / 1024 / 1024).toFixed(0)} MB]\n`);
}

/**
 * End-to-end pipeline figures (ROLE=all in this process, real PostgreSQL and Redis, a local receiver answering
 * 200), the no-op BullMQ ceiling next to them, and the time for `npm start` to become ready.
 */
export async function benchPipeline(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  {
    progress('ceiling (no-op BullMQ stages)…');
    results.push({ name: 'pipeline.ceiling_events_per_s', value: await measureCeiling(), unit: 'events/s' });
    progress(`throughput (up to ${THROUGHPUT.events} events, batches of ${THROUGHPUT.batchSize})…`);
    results.push({ name: 'pipeline.events_per_s', value: await measureThroughput(), unit: 'events/s' });
    progress(`latency (${LATENCY.ratePerSecond} events/s for ${LATENCY.seconds} s)…`);
    const { latencies, policyMedianMs } = await measureLatencies();
    latencies.sort((a, b) => a - b);
    results.push({ name: 'pipeline.p50_ms_at_200', value: percentile(latencies, 50), unit: 'ms' });
    results.push({ name: 'pipeline.p99_ms_at_200', value: percentile(latencies, 99), unit: 'ms' });
    // The policy step (load this child's consents, decide) as the pipeline runs it, at 200 events/s offered.
    results.push({ name: 'policy.added_ms_p50', value: policyMedianMs, unit: 'ms' });
  }
  progress('peak memory of the product process (ROLE=all, 3000 events)…');
  results.push({ name: 'pipeline.rss_mb', value: await measureProductPeakRssMb(BENCH_ENV), unit: 'MB' });
  progress('start-up (npm start, embedded PGlite)…');
  results.push({ name: 'startup.ready_s', value: await measureReadySeconds(), unit: 's' });
  return results;
}
