import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { idempotencyKeyOf } from '../src/event/idempotency-key';
import { MAP_JOB_OPTIONS } from '../src/event/queues';
import { buildDestination, buildReferralEvent } from '../tests/helpers/builders';
import { TestReceiver } from '../tests/helpers/receiver';
import { TEST_REDIS_URL } from '../tests/helpers/test-runtime';
import { waitFor } from '../tests/helpers/wait-for';
import {
  cpuSeconds,
  peakRssMb,
  spawnBenchProcess,
  startDeployment,
  writeSyscalls,
  type Deployment,
} from './deployment';
import { postJson, type Answer } from './http-client';
import { deleteQueueKeys, uniqueQueuePrefix } from './queue-keys';
import { runStandalone, type BenchResult } from './result';
import { measureReadySeconds } from './startup';

/**
 * End-to-end figures of the product as deployed: its own processes (bench/deployment.ts) on PostgreSQL and Redis,
 * driven over HTTP by this process, delivering to a stand-in receiver in this process. The no-op BullMQ ceiling
 * runs the same way (bench/noop-stages.ts in its own process) in the same run, so the ratio compares like with like.
 */

/**
 * At most `events` events, but no more than the warm-up rate sustains for about `targetSeconds` (at least
 * `minEvents`), so the whole run stays within a few minutes while the pipeline is far below its target.
 */
const THROUGHPUT = {
  warmup: 500,
  events: 10_000,
  minEvents: 1000,
  targetSeconds: 30,
  batchSize: 100,
  inFlight: 4,
} as const;
/**
 * After a warm-up of 200 events, 10 s at the rate whose latencies are reported apart (`…_first_10_s`), then the 30 s
 * the figures are taken from, offered without a pause between them.
 */
const LATENCY = { warmup: 200, settleSeconds: 10, ratePerSecond: 200, seconds: 30 } as const;
/** A quarter of the target rate, for the shape of the curve: how the latency grows below the knee. */
const LIGHT_LATENCY = { ...LATENCY, ratePerSecond: 50, seconds: 20 } as const;
const describeLoad = (load: typeof LATENCY | typeof LIGHT_LATENCY): string =>
  `${load.ratePerSecond} events/s for ${load.settleSeconds} s, then ${load.seconds} s`;
// Bounded, but long enough for 8,000 events to drain on a loaded machine.
const DRAIN_TIMEOUT_MS = 600_000;
const DESTINATION_ID = buildDestination('http://127.0.0.1/').id;

/** Keep-alive connections for the load generator: a new TCP connection per POST would measure the client. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** POSTs whose connection failed and that were sent again; reported, since they add to the latencies. */
let resentPosts = 0;

function post(d: Deployment, body: string): Promise<Answer> {
  return postJson(agent, `${d.url}/his/v1/events`, d.testEnv.keys.practice, body);
}

/**
 * POSTs events (an array, or one event on its own) and returns the inbox id of each; every one must be accepted.
 * A POST whose connection is reset is sent again: the event ids make that safe, and the events then come back as
 * duplicates of the first attempt.
 */
async function submit(d: Deployment, events: readonly unknown[]): Promise<string[]> {
  const body = JSON.stringify(events.length === 1 ? events[0] : events);
  for (let attempt = 1; ; attempt++) {
    let res: Answer;
    try {
      res = await post(d, body);
    } catch (err) {
      if (attempt >= 3) {
        throw err;
      }
      resentPosts++;
      continue;
    }
    if (res.status !== 202) {
      throw new Error(`POST /his/v1/events answered ${res.status}: ${res.body.slice(0, 300)}`);
    }
    const { receipts } = JSON.parse(res.body) as { receipts: { status: string; id?: string }[] };
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
async function submitAll(d: Deployment, batches: readonly unknown[][], inFlight: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let batch = batches[next++]; batch; batch = batches[next++]) {
      ids.push(...(await submit(d, batch)));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ids;
}

const keyOf = (inboxId: string): string => idempotencyKeyOf(inboxId, DESTINATION_ID);

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

/** The product's own metrics (Prometheus text) from the API process. */
async function metricsText(d: Deployment): Promise<string> {
  const res = await fetch(`${d.url}/metrics`);
  return res.text();
}

/** Samples of `jeugdbrug_stage_duration_seconds` for one stage: cumulative buckets, sum and count. */
function stageSamples(
  text: string,
  stage: string,
): { buckets: { le: number; count: number }[]; sum: number; count: number } {
  const buckets: { le: number; count: number }[] = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const m = /^jeugdbrug_stage_duration_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || !m[2]!.includes(`stage="${stage}"`)) {
      continue;
    }
    const value = Number(m[3]);
    if (m[1] === 'bucket') {
      const le = /le="([^"]+)"/.exec(m[2]!)?.[1] ?? '+Inf';
      buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: value });
    } else if (m[1] === 'sum') {
      sum = value;
    } else {
      count = value;
    }
  }
  return { buckets: buckets.sort((a, b) => a.le - b.le), sum, count };
}

/** Mean time per job of each stage, from the product's own histogram. */
async function stageMeans(d: Deployment): Promise<string> {
  const text = await metricsText(d);
  return ['map', 'deliver', 'policy']
    .map((stage) => {
      const { sum, count } = stageSamples(text, stage);
      return `${stage} ${((1000 * sum) / Math.max(1, count)).toFixed(1)} ms/job`;
    })
    .join(', ');
}

/** The median of a stage's duration in ms, interpolated within the bucket where it falls. */
async function stageMedianMs(d: Deployment, stage: string): Promise<number> {
  const { buckets } = stageSamples(await metricsText(d), stage);
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

async function withDeployment<T>(workers: number, fn: (d: Deployment, r: TestReceiver) => Promise<T>): Promise<T> {
  const receiver = await new TestReceiver().start();
  try {
    const d = await startDeployment(receiver.url, { workers });
    try {
      return await fn(d, receiver);
    } catch (err) {
      throw new Error(`${(err as Error).message} (logs in ${d.testEnv.dataDir})`, { cause: err });
    } finally {
      await d.stop();
    }
  } finally {
    await receiver.stop();
  }
}

/** CPU seconds used so far by all the deployment's product processes together. */
const productCpuSeconds = (d: Deployment): number => d.processes.reduce((sum, p) => sum + cpuSeconds(p.pid), 0);

/**
 * Events per second from the first POST until the receiver stored the last of them; the product's CPU time per
 * event over the same run (all its processes); the API's peak RSS.
 */
async function measureThroughput(
  workers: number,
): Promise<{ perSecond: number; cpuMsPerEvent: number; rssMb: number }> {
  return withDeployment(workers, async (d, receiver) => {
    // Warm-up: JIT, connection pools, the first audit chain head; not measured, but it sizes the run.
    const warmupStarted = Date.now();
    await waitForStored(receiver, (await submitAll(d, buildBatches(THROUGHPUT.warmup, 100), 1)).map(keyOf));
    const warmupRate = THROUGHPUT.warmup / ((Date.now() - warmupStarted) / 1000);
    const total = Math.min(
      THROUGHPUT.events,
      Math.max(THROUGHPUT.minEvents, Math.round((warmupRate * THROUGHPUT.targetSeconds) / 100) * 100),
    );
    const batches = buildBatches(total, THROUGHPUT.batchSize);
    const cpuBefore = productCpuSeconds(d);
    const started = Date.now();
    const ids = await submitAll(d, batches, THROUGHPUT.inFlight);
    const storedAt = await waitForStored(receiver, ids.map(keyOf));
    const seconds = (Math.max(...storedAt) - started) / 1000;
    const cpuMsPerEvent = (1000 * (productCpuSeconds(d) - cpuBefore)) / ids.length;
    const means = workers === 0 ? `; stage means: ${await stageMeans(d)}` : '';
    progress(
      `  ${ids.length} events in ${seconds.toFixed(1)} s, product CPU ${cpuMsPerEvent.toFixed(2)} ms/event, ` +
        `${resentPosts} POSTs resent${means}`,
    );
    return { perSecond: ids.length / seconds, cpuMsPerEvent, rssMb: peakRssMb(d.api.pid) };
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

/** Write system calls made so far by all the deployment's product processes together. */
const productWriteSyscalls = (d: Deployment): number => d.processes.reduce((sum, p) => sum + writeSyscalls(p.pid), 0);

/** Latencies of one open-loop run, the events of its first `settleSeconds` apart from the rest. */
interface LatencyRun {
  /** The events offered after the first `settleSeconds`: the figures' sample. */
  latencies: number[];
  /** The events of the first `settleSeconds`, right after start-up and the warm-up. */
  settlingLatencies: number[];
  cpuMsPerEvent: number;
  policyMedianMs: number;
  rssMb: number;
}

/**
 * Offers one event per POST at a fixed rate (open loop: a slow answer does not delay the next send) for
 * `settleSeconds` and then `seconds` more without a pause, and returns each event's latency from the start of its POST
 * until the receiver stored it, in ms, and the product's CPU time per event over the events after the first
 * `settleSeconds` (from the first of them sent until the last is stored). The first seconds at the rate are kept
 * apart because they measure a product still warming up, which a running deployment has done long before
 * (bench/README.md, "Latency at 200/s").
 */
async function measureLatencies(load: typeof LATENCY | typeof LIGHT_LATENCY): Promise<LatencyRun> {
  return withDeployment(0, async (d, receiver) => {
    await waitForStored(receiver, (await submitAll(d, buildBatches(load.warmup, 1), 4)).map(keyOf));
    const settling = load.ratePerSecond * load.settleSeconds;
    const measured = load.ratePerSecond * load.seconds;
    const total = settling + measured;
    const events = Array.from({ length: total }, () => buildReferralEvent());
    const intervalMs = 1000 / load.ratePerSecond;
    // By place in the sending order: when the event's POST started, and the key it is stored under.
    const sentAt: number[] = [];
    const keys: string[] = [];
    const sends: Promise<void>[] = [];
    let cpuBefore = 0;
    let writesBefore = 0;
    const sendOne = async (index: number): Promise<void> => {
      sentAt[index] = Date.now();
      const [id] = await submit(d, [events[index]]);
      keys[index] = keyOf(id!);
    };
    const started = performance.now();
    let measuredFrom = started;
    while (sends.length < total) {
      // Catch up on every send that is due, so timer jitter does not lower the offered rate.
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (sends.length < due) {
        if (sends.length === settling) {
          cpuBefore = productCpuSeconds(d);
          writesBefore = productWriteSyscalls(d);
          measuredFrom = performance.now();
        }
        sends.push(sendOne(sends.length));
      }
      await sleep(1);
    }
    const offered = measured / ((performance.now() - measuredFrom) / 1000);
    const lastSentAt = Date.now();
    await Promise.all(sends);
    const storedAt = await waitForStored(receiver, keys);
    const cpuMsPerEvent = (1000 * (productCpuSeconds(d) - cpuBefore)) / measured;
    const writesPerEvent = (productWriteSyscalls(d) - writesBefore) / measured;
    // When the pipeline cannot keep up with the offered rate, the backlog drains after the last send: the latencies
    // then grow with the run's length, and this says by how much it fell behind.
    const drainedAfter = (Math.max(...storedAt) - lastSentAt) / 1000;
    progress(
      `  offered ${offered.toFixed(0)} events/s, the last stored ${drainedAfter.toFixed(1)} s after the last send, ` +
        `product CPU ${cpuMsPerEvent.toFixed(2)} ms/event, ${writesPerEvent.toFixed(1)} write system calls/event, ` +
        `${resentPosts} POSTs resent; stage means: ${await stageMeans(d)}`,
    );
    const all = storedAt.map((at, i) => at - sentAt[i]!);
    return {
      latencies: all.slice(settling),
      settlingLatencies: all.slice(0, settling),
      cpuMsPerEvent,
      policyMedianMs: await stageMedianMs(d, 'policy'),
      rssMb: peakRssMb(d.api.pid),
    };
  });
}

/**
 * The reference ceiling: the no-op stages (bench/noop-stages.ts) in their own process with the product's
 * concurrency and job options; this process adds the map jobs in bulks as the API would and runs the receiver.
 * Then the same stages' CPU time per event when the map jobs come one at a time at the latency run's rate, as the
 * API adds them for one event per POST: what the two BullMQ hops alone cost the product's process at 200/s.
 */
async function measureCeiling(): Promise<{ perSecond: number; cpuMsPerEventAt200: number }> {
  const receiver = await new TestReceiver().start();
  const prefix = uniqueQueuePrefix('benchceil');
  const stages = await spawnBenchProcess('bench/noop-stages.ts', {
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    RECEIVER_URL: receiver.url,
  });
  const mapQueue = new Queue<{ id: string }>('map', {
    connection: { url: TEST_REDIS_URL, maxRetriesPerRequest: null },
    prefix,
    defaultJobOptions: MAP_JOB_OPTIONS,
  });
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
    return total / ((Math.max(...storedAt) - started) / 1000);
  };
  const runAtRate = async (ratePerSecond: number, seconds: number): Promise<number> => {
    const ids = Array.from({ length: ratePerSecond * seconds }, () => `noop-${++seq}`);
    const adds: Promise<unknown>[] = [];
    const cpuBefore = cpuSeconds(stages.child.pid);
    const started = performance.now();
    while (adds.length < ids.length) {
      const due = Math.min(ids.length, Math.floor((performance.now() - started) / (1000 / ratePerSecond)) + 1);
      while (adds.length < due) {
        const id = ids[adds.length]!;
        adds.push(mapQueue.add('map', { id }, { jobId: `map-${id}` }));
      }
      await sleep(1);
    }
    await Promise.all(adds);
    await waitForStored(receiver, ids);
    return (1000 * (cpuSeconds(stages.child.pid) - cpuBefore)) / ids.length;
  };
  try {
    await run(THROUGHPUT.warmup);
    const perSecond = await run(THROUGHPUT.events);
    const cpuMsPerEventAt200 = await runAtRate(LATENCY.ratePerSecond, 10);
    progress(`  ceiling CPU ${cpuMsPerEventAt200.toFixed(2)} ms/event with map jobs added one at a time at 200/s`);
    return { perSecond, cpuMsPerEventAt200 };
  } finally {
    await mapQueue.close();
    await stages.stop();
    await receiver.stop();
    await deleteQueueKeys(prefix);
  }
}

/** Log lines on stderr so `--json` output on stdout stays machine-readable. */
function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/**
 * End-to-end pipeline figures (the product in its own processes, real PostgreSQL and Redis, a local receiver
 * answering 200), the no-op BullMQ ceiling next to them, and the time for `npm start` to become ready.
 */
export async function benchPipeline(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  progress('ceiling (no-op BullMQ stages in their own process)…');
  const { perSecond: ceiling, cpuMsPerEventAt200: ceilingCpuMsPerEvent } = await measureCeiling();
  results.push({ name: 'pipeline.ceiling_events_per_s', value: ceiling, unit: 'events/s' });
  results.push({ name: 'pipeline.ceiling_cpu_ms_at_200', value: ceilingCpuMsPerEvent, unit: 'ms' });
  progress(`throughput, ROLE=all (up to ${THROUGHPUT.events} events, batches of ${THROUGHPUT.batchSize})…`);
  const all = await measureThroughput(0);
  results.push({ name: 'pipeline.events_per_s', value: all.perSecond, unit: 'events/s' });
  results.push({ name: 'pipeline.ratio', value: all.perSecond / ceiling, unit: 'ratio' });
  results.push({ name: 'pipeline.cpu_ms_per_event', value: all.cpuMsPerEvent, unit: 'ms' });
  progress(`latency, ROLE=all (${describeLoad(LIGHT_LATENCY)})…`);
  const lightRun = await measureLatencies(LIGHT_LATENCY);
  const light = lightRun.latencies.sort((a, b) => a - b);
  results.push({ name: 'pipeline.p50_ms_at_50', value: percentile(light, 50), unit: 'ms' });
  results.push({ name: 'pipeline.p99_ms_at_50', value: percentile(light, 99), unit: 'ms' });
  results.push({ name: 'pipeline.cpu_ms_at_50', value: lightRun.cpuMsPerEvent, unit: 'ms' });
  progress(`latency, ROLE=all (${describeLoad(LATENCY)})…`);
  const { latencies, settlingLatencies, cpuMsPerEvent, policyMedianMs, rssMb } = await measureLatencies(LATENCY);
  latencies.sort((a, b) => a - b);
  results.push({ name: 'pipeline.p50_ms_at_200', value: percentile(latencies, 50), unit: 'ms' });
  results.push({ name: 'pipeline.p99_ms_at_200', value: percentile(latencies, 99), unit: 'ms' });
  settlingLatencies.sort((a, b) => a - b);
  results.push({ name: 'pipeline.p99_ms_at_200_first_10_s', value: percentile(settlingLatencies, 99), unit: 'ms' });
  results.push({ name: 'pipeline.cpu_ms_at_200', value: cpuMsPerEvent, unit: 'ms' });
  // The policy step (load this child's consents, decide) as the pipeline runs it, at 200 events/s offered.
  results.push({ name: 'policy.added_ms_p50', value: policyMedianMs, unit: 'ms' });
  results.push({ name: 'pipeline.rss_mb', value: Math.max(all.rssMb, lightRun.rssMb, rssMb), unit: 'MB' });
  progress('throughput, 1 ROLE=api + 2 ROLE=worker processes…');
  results.push({
    name: 'pipeline.events_per_s_2_workers',
    value: (await measureThroughput(2)).perSecond,
    unit: 'events/s',
  });
  progress('start-up (npm start, embedded PGlite)…');
  results.push({ name: 'startup.ready_s', value: await measureReadySeconds(), unit: 's' });
  return results;
}

// `npx tsx bench/pipeline.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchPipeline);
}
