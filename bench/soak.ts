/**
 * `npm run soak -- --minutes 30 --rate 200`: the product as deployed (its own processes, the PostgreSQL server, a
 * Redis server of its own with AOF and `noeviction`) under a steady open-loop load from a stand-in HIS, delivering
 * to a stand-in municipality. Every `--sample-s` seconds it records throughput, ingest and end-to-end latency
 * (p50/p99), the product's resident memory, its event-loop lag, queue depths and Redis memory; at the end it writes
 * `<out>/<label>.csv`, `.svg` (a chart of them) and `.json` (the summary).
 *
 * `--slow-receiver`: the municipality answers each delivery only after `--slow-ms`, so the deliver queue grows;
 * when it holds `--backlog` jobs (or `--minutes` have passed) the receiver recovers, the load stops (or continues
 * at `--recover-rate`), and the run measures how long the backlog takes to drain.
 *
 * The product runs as docker/compose.yaml deploys it: one `ROLE=api` process (`--role all` to let it work jobs
 * too) and `--workers` (2) `ROLE=worker` processes. "product RSS" and the event-loop lag are the HTTP process's;
 * the workers' resident memory is summed in its own column.
 *
 * Not part of `npm test`. Options: --minutes, --rate, --sample-s, --role, --workers,
 * --slow-receiver, --slow-ms, --backlog, --recover-rate, --drain-minutes, --out, --label.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { idempotencyKeyOf } from '../src/event/idempotency-key';
import { buildAgreement, buildDestination, buildReferralEvent } from '../tests/helpers/builders';
import { exited, freePort, spawnProduct, writeConfigDir } from '../tests/helpers/product-process';
import { spawnRedisServer, waitForRedis } from '../tests/helpers/redis-server';
import { cleanupTestEnv, createTestEnv, dropSchema } from '../tests/helpers/test-runtime';
import { BENCH_ENV } from './deployment';
import { renderChart } from './soak-chart';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '200' },
    'sample-s': { type: 'string', default: '10' },
    role: { type: 'string', default: 'api' },
    workers: { type: 'string', default: '2' },
    'slow-receiver': { type: 'boolean', default: false },
    'slow-ms': { type: 'string', default: '4000' },
    backlog: { type: 'string', default: '100000' },
    'recover-rate': { type: 'string', default: '0' },
    'drain-minutes': { type: 'string', default: '60' },
    out: { type: 'string', default: 'docs/soak' },
    label: { type: 'string' },
  },
});
const MINUTES = Number(args.minutes);
const RATE = Number(args.rate);
const SAMPLE_MS = Number(args['sample-s']) * 1000;
const WORKERS = Number(args.workers);
/** The role of the process that serves HTTP: `api` (beside the workers, as docker/compose.yaml runs) or `all`. */
const ROLE = args.role === 'all' ? 'all' : 'api';
const SLOW = args['slow-receiver'] ?? false;
const SLOW_MS = Number(args['slow-ms']);
const BACKLOG = Number(args.backlog);
const RECOVER_RATE = Number(args['recover-rate']);
const DRAIN_MS = Number(args['drain-minutes']) * 60_000;
const OUT = path.resolve(args.out ?? 'docs/soak');
const LABEL = args.label ?? (SLOW ? `backlog-${RATE}per-s` : `soak-${MINUTES}min-${RATE}per-s`);
/** Sends in flight at most; beyond it a send is counted as skipped, so a stalled API cannot exhaust the harness. */
const MAX_IN_FLIGHT = 1000;
const DESTINATION = 'gm0226';

const log = (msg: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Percentile of a sorted array (nearest rank). */
function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN);
}

function rssMb(pid: number | undefined): number {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Number(/(\d+)/.exec(line ?? '')?.[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** The stand-in municipality: stores each idempotency key once, answers at once or after `slowMs`. */
class Municipality {
  slowMs = 0;
  readonly deliveredAt = new Map<string, number>();
  duplicates = 0;
  private server: http.Server | undefined;
  readonly onStored: ((key: string, at: number) => void)[] = [];

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const answer = () => {
          const key = String(req.headers['idempotency-key'] ?? '');
          const at = performance.now();
          if (this.deliveredAt.has(key)) {
            this.duplicates++;
          } else {
            this.deliveredAt.set(key, at);
            this.onStored.forEach((f) => f(key, at));
          }
          res.writeHead(200, { 'content-type': 'application/fhir+json' });
          res.end('{"resourceType":"Bundle","type":"transaction-response"}');
        };
        if (this.slowMs > 0) {
          setTimeout(answer, this.slowMs);
        } else {
          answer();
        }
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/fhir`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
}

interface Sample {
  t_s: number;
  phase: string;
  offered_per_s: number;
  accepted_per_s: number;
  refused_429_per_s: number;
  errors_per_s: number;
  skipped_per_s: number;
  ingest_p50_ms: number;
  ingest_p99_ms: number;
  delivered_per_s: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  product_rss_mb: number;
  workers_rss_mb: number;
  event_loop_lag_p99_ms: number;
  map_depth: number;
  deliver_depth: number;
  redis_used_mb: number;
}

/** Parses `name{labels} value` lines of the Prometheus text format. */
function metricLines(text: string): { name: string; labels: string; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(l);
      return { name: m?.[1] ?? '', labels: m?.[2] ?? '', value: Number(m?.[3]) };
    });
}

async function startRedis(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawnRedisServer(port, dir);
  await waitForRedis(port);
  return { port, child };
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  const municipality = new Municipality();
  const receiverUrl = await municipality.start();
  const redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-soak-redis-'));
  const redis = await startRedis(redisDir);
  const testEnv = createTestEnv({
    ...BENCH_ENV,
    LOG_LEVEL: 'info',
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    // One API key stands in for many practices here, each of which would have its own bucket.
    RATE_LIMIT_PER_S: '100000',
    RATE_LIMIT_BURST: '100000',
  });
  const configDir = path.join(testEnv.dataDir, 'config');
  writeConfigDir(configDir, {
    agreements: [buildAgreement()],
    destinations: [buildDestination(receiverUrl)],
  });
  const port = await freePort();
  const env = Object.fromEntries(
    Object.entries({ ...testEnv.env, CONFIG_DIR: configDir, PORT: String(port) }).filter(([, v]) => v !== ''),
  );
  const products: ChildProcess[] = [spawnProduct({ ...env, ROLE }, path.join(testEnv.dataDir, 'product.log'))];
  for (let i = 0; i < WORKERS; i++) {
    products.push(spawnProduct({ ...env, ROLE: 'worker', PORT: '0' }, path.join(testEnv.dataDir, `worker-${i}.log`)));
  }
  const base = `http://127.0.0.1:${port}`;
  const redisClient = new Redis({ port: redis.port });
  let failed = false;
  try {
    for (
      let i = 0;
      !(await fetch(`${base}/health/ready`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    ) {
      if (i > 600 || products[0]?.exitCode !== null) {
        throw new Error(`the product did not become ready; see ${testEnv.dataDir}/product.log`);
      }
      await sleep(100);
    }
    log(`product ready at ${base} (ROLE=${ROLE}${WORKERS ? ` + ${WORKERS} ROLE=worker` : ''}), Redis :${redis.port}`);
    await run(base, testEnv.keys.practice, municipality, redisClient, products);
  } catch (err) {
    failed = true;
    log(`failed: ${(err as Error).message}; data kept in ${testEnv.dataDir}`);
  } finally {
    redisClient.disconnect();
    for (const p of products) {
      p.kill('SIGTERM');
    }
    await Promise.race([Promise.all(products.map(exited)), sleep(30_000)]);
    products.forEach((p) => p.kill('SIGKILL'));
    await municipality.stop();
    redis.child.kill('SIGTERM');
    await exited(redis.child);
    fs.rmSync(redisDir, { recursive: true, force: true });
    if (failed) {
      await dropSchema(testEnv.schema);
    } else {
      await cleanupTestEnv(testEnv).catch(() => undefined);
    }
  }
  process.exit(failed ? 1 : 0);
}

async function run(
  base: string,
  key: string,
  municipality: Municipality,
  redisClient: Redis,
  products: ChildProcess[],
): Promise<void> {
  const t0 = performance.now();
  const sentAt = new Map<string, number>();
  let window = {
    offered: 0,
    accepted: 0,
    refused: 0,
    errors: 0,
    skipped: 0,
    ingest: [] as number[],
    e2e: [] as number[],
    delivered: 0,
  };
  const allIngest: number[] = [];
  const allE2e: number[] = [];
  municipality.onStored.push((k, at) => {
    window.delivered++;
    const s = sentAt.get(k);
    if (s !== undefined) {
      window.e2e.push(at - s);
      sentAt.delete(k);
    }
  });
  let inFlight = 0;
  let lastError = '';
  const sendOne = async () => {
    window.offered++;
    if (inFlight >= MAX_IN_FLIGHT) {
      window.skipped++;
      return;
    }
    inFlight++;
    const start = performance.now();
    try {
      const res = await fetch(`${base}/his/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(buildReferralEvent()),
      });
      const body = (await res.json()) as { receipts?: { id?: string }[] };
      const ms = performance.now() - start;
      if (res.status === 202) {
        window.accepted++;
        window.ingest.push(ms);
        const id = body.receipts?.[0]?.id;
        if (id) {
          sentAt.set(idempotencyKeyOf(id, DESTINATION), start);
        }
      } else if (res.status === 429) {
        window.refused++;
      } else {
        window.errors++;
        lastError = `HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`;
      }
    } catch (err) {
      window.errors++;
      lastError = (err as Error).message;
    } finally {
      inFlight--;
    }
  };

  let rate = RATE;
  let phase = SLOW ? 'fill' : 'load';
  // Open loop: every 50 ms, the sends that are due by now, however long earlier ones take.
  let due = 0;
  let sent = 0;
  let lastTick = performance.now();
  const sender = setInterval(() => {
    const now = performance.now();
    due += ((now - lastTick) / 1000) * rate;
    lastTick = now;
    while (sent < Math.floor(due)) {
      sent++;
      void sendOne();
    }
  }, 50);

  const samples: Sample[] = [];
  let lastSample = performance.now();
  const sample = async (): Promise<Sample> => {
    const now = performance.now();
    const secs = (now - lastSample) / 1000;
    lastSample = now;
    const w = window;
    window = { offered: 0, accepted: 0, refused: 0, errors: 0, skipped: 0, ingest: [], e2e: [], delivered: 0 };
    const ingest = [...w.ingest].sort((a, b) => a - b);
    const e2e = [...w.e2e].sort((a, b) => a - b);
    allIngest.push(...w.ingest);
    allE2e.push(...w.e2e);
    const metrics = await fetch(`${base}/metrics`)
      .then((r) => r.text())
      .then(metricLines, () => []);
    const depth = (q: (name: string) => boolean) =>
      metrics
        .filter((m) => m.name === 'jeugdbrug_queue_jobs' && /state="(waiting|active|delayed)"/.test(m.labels))
        .filter((m) => q(/queue="([^"]+)"/.exec(m.labels)?.[1] ?? ''))
        .reduce((a, m) => a + m.value, 0);
    const lag = metrics.find((m) => m.name === 'nodejs_eventloop_lag_p99_seconds')?.value ?? NaN;
    const usedMemory = Number(/used_memory:(\d+)/.exec(await redisClient.info('memory'))?.[1]);
    const s: Sample = {
      t_s: Math.round((now - t0) / 1000),
      phase,
      offered_per_s: w.offered / secs,
      accepted_per_s: w.accepted / secs,
      refused_429_per_s: w.refused / secs,
      errors_per_s: w.errors / secs,
      skipped_per_s: w.skipped / secs,
      ingest_p50_ms: pct(ingest, 50),
      ingest_p99_ms: pct(ingest, 99),
      delivered_per_s: w.delivered / secs,
      e2e_p50_ms: pct(e2e, 50),
      e2e_p99_ms: pct(e2e, 99),
      product_rss_mb: rssMb(products[0]?.pid),
      workers_rss_mb: products.slice(1).reduce((a, p) => a + rssMb(p.pid), 0),
      event_loop_lag_p99_ms: lag * 1000,
      map_depth: depth((q) => q === 'map'),
      deliver_depth: depth((q) => q.startsWith('deliver.')),
      redis_used_mb: usedMemory / 1048576,
    };
    samples.push(s);
    if (w.errors > 0) {
      log(`last error: ${lastError}`);
    }
    log(
      `${s.phase} t=${s.t_s}s accepted ${s.accepted_per_s.toFixed(0)}/s (429 ${s.refused_429_per_s.toFixed(0)}, err ${s.errors_per_s.toFixed(0)}, skipped ${s.skipped_per_s.toFixed(0)}) ` +
        `ingest p99 ${s.ingest_p99_ms.toFixed(0)} ms, delivered ${s.delivered_per_s.toFixed(0)}/s e2e p99 ${s.e2e_p99_ms.toFixed(0)} ms, ` +
        `rss ${s.product_rss_mb.toFixed(0)} MB, lag p99 ${s.event_loop_lag_p99_ms.toFixed(0)} ms, map ${s.map_depth} deliver ${s.deliver_depth}, redis ${s.redis_used_mb.toFixed(0)} MB`,
    );
    return s;
  };

  const summary: Record<string, unknown> = {
    label: LABEL,
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt: new Date().toISOString(),
    cpus: os.cpus().length,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(1))),
    rate: RATE,
    role: ROLE,
    workers: WORKERS,
  };
  const loadMs = MINUTES * 60_000;
  let recoveredAt: number | undefined;
  if (SLOW) {
    municipality.slowMs = SLOW_MS;
  }
  for (;;) {
    await sleep(Math.max(0, SAMPLE_MS - (performance.now() - lastSample)));
    const s = await sample();
    const elapsed = performance.now() - t0;
    if (phase === 'load' && elapsed >= loadMs) {
      break;
    }
    if (phase === 'fill' && (s.deliver_depth >= BACKLOG || elapsed >= loadMs)) {
      phase = 'drain';
      municipality.slowMs = 0;
      rate = RECOVER_RATE;
      recoveredAt = performance.now();
      summary.backlogReachedAtS = s.t_s;
      log(`receiver recovers at t=${s.t_s}s with ${s.deliver_depth} deliver jobs queued`);
      continue;
    }
    if (phase === 'drain') {
      // Drained when the municipality holds every accepted event (the queues may still hold no-op jobs the
      // reconciler re-added for deliveries that finished while it was looking).
      if (sentAt.size === 0) {
        summary.drainS = Math.round((performance.now() - (recoveredAt ?? 0)) / 1000);
        break;
      }
      if (performance.now() - (recoveredAt ?? 0) > DRAIN_MS) {
        summary.drainS = null;
        summary.drainNote = `not drained within ${DRAIN_MS / 60_000} min`;
        break;
      }
    }
  }
  clearInterval(sender);

  const steady = samples.filter((s) => s.phase === 'load' && s.t_s > 60);
  const sorted = (xs: number[]) => xs.filter(Number.isFinite).sort((a, b) => a - b);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const fill = samples.filter((s) => s.phase === 'fill');
  Object.assign(summary, {
    minutes: Math.round(((performance.now() - t0) / 60_000) * 10) / 10,
    loadAverageAtEnd: os.loadavg().map((l) => Number(l.toFixed(1))),
    accepted: Math.round(samples.reduce((a, s) => a + s.accepted_per_s, 0) * (SAMPLE_MS / 1000)),
    duplicatesAtReceiver: municipality.duplicates,
    ingestP50Ms: Math.round(pct(sorted(allIngest), 50)),
    ingestP99Ms: Math.round(pct(sorted(allIngest), 99)),
    e2eP50Ms: Math.round(pct(sorted(allE2e), 50)),
    e2eP99Ms: Math.round(pct(sorted(allE2e), 99)),
    rssStartMb: Math.round(samples[0]?.product_rss_mb ?? NaN),
    rssEndMb: Math.round(samples.at(-1)?.product_rss_mb ?? NaN),
    rssPeakMb: Math.round(Math.max(...samples.map((s) => s.product_rss_mb))),
    workersRssStartMb: Math.round(samples[0]?.workers_rss_mb ?? NaN),
    workersRssEndMb: Math.round(samples.at(-1)?.workers_rss_mb ?? NaN),
    workersRssPeakMb: Math.round(Math.max(...samples.map((s) => s.workers_rss_mb))),
    eventLoopLagP99MedianMs: Math.round(pct(sorted(samples.map((s) => s.event_loop_lag_p99_ms)), 50)),
    eventLoopLagP99MaxMs: Math.round(Math.max(...samples.map((s) => s.event_loop_lag_p99_ms))),
    peakMapDepth: Math.max(...samples.map((s) => s.map_depth)),
    peakDeliverDepth: Math.max(...samples.map((s) => s.deliver_depth)),
    peakRedisMb: Math.round(Math.max(...samples.map((s) => s.redis_used_mb))),
    ...(steady.length
      ? {
          steadyAcceptedPerS: Math.round(mean(steady.map((s) => s.accepted_per_s))),
          steadyDeliveredPerS: Math.round(mean(steady.map((s) => s.delivered_per_s))),
        }
      : {}),
    ...(fill.length
      ? {
          fillIngestP99MsMax: Math.round(Math.max(...fill.map((s) => s.ingest_p99_ms).filter(Number.isFinite))),
          fillIngestP99MsMedian: Math.round(pct(sorted(fill.map((s) => s.ingest_p99_ms)), 50)),
          fillAcceptedPerS: Math.round(mean(fill.map((s) => s.accepted_per_s))),
        }
      : {}),
  });
  const columns = Object.keys(samples[0] ?? {}) as (keyof Sample)[];
  const csv = [
    columns.join(','),
    ...samples.map((s) =>
      columns
        .map((c) => {
          const v = s[c];
          return typeof v === 'number' ? Number(v.toFixed(1)) : v;
        })
        .join(','),
    ),
  ].join('\n');
  fs.writeFileSync(path.join(OUT, `${LABEL}.csv`), `${csv}\n`);
  fs.writeFileSync(path.join(OUT, `${LABEL}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  const t = samples.map((s) => s.t_s);
  const col = (c: keyof Sample) => samples.map((s) => s[c] as number);
  fs.writeFileSync(
    path.join(OUT, `${LABEL}.svg`),
    renderChart(`jeugdbrug soak: ${String(summary.command)}`, t, [
      {
        title: 'Throughput',
        unit: 'events/s',
        series: [
          { label: 'accepted (202)', values: col('accepted_per_s') },
          { label: 'delivered', values: col('delivered_per_s') },
          { label: 'refused (429)', values: col('refused_429_per_s') },
        ],
      },
      {
        title: 'Ingest latency, POST → 202',
        unit: 'ms',
        series: [
          { label: 'p50', values: col('ingest_p50_ms') },
          { label: 'p99', values: col('ingest_p99_ms') },
        ],
      },
      {
        title: 'End-to-end latency, POST → stored by receiver',
        unit: 'ms',
        series: [
          { label: 'p50', values: col('e2e_p50_ms') },
          { label: 'p99', values: col('e2e_p99_ms') },
        ],
      },
      {
        title: 'Memory',
        unit: 'MB',
        series: [
          { label: `${ROLE} process RSS`, values: col('product_rss_mb') },
          { label: 'Redis used_memory', values: col('redis_used_mb') },
          ...(WORKERS ? [{ label: 'workers RSS (sum)', values: col('workers_rss_mb') }] : []),
        ],
      },
      {
        title: `Event-loop lag p99 (${ROLE} process)`,
        unit: 'ms',
        series: [{ label: 'lag p99', values: col('event_loop_lag_p99_ms') }],
      },
      {
        title: 'Queue depth (waiting + active + delayed)',
        unit: 'jobs',
        series: [
          { label: 'map', values: col('map_depth') },
          { label: 'deliver', values: col('deliver_depth') },
        ],
      },
    ]),
  );
  log(`wrote ${path.join(OUT, LABEL)}.{csv,svg,json}`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

void main();
