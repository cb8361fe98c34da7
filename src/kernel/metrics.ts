import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BuildInfo } from './build-info';
import type { ConnectionWaits } from './db';
import { withTimeout, type Dependency } from './outage';
import type { RedisMemory } from './redis-memory';

/**
 * Prometheus metrics of one process. Labels are stage and queue names and the ids of configured destinations (and
 * practices, as `practice-<agb>`): never ids of events or people, never personal data.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly processed = new Counter({
    name: 'jeugdbrug_jobs_processed_total',
    help: 'Jobs finished, by stage and result',
    labelNames: ['stage', 'result'] as const,
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: 'jeugdbrug_jobs_failed_total',
    help: 'Job attempts that failed, by stage, whether they will be retried and (deliver jobs) destination',
    labelNames: ['stage', 'retry', 'destination'] as const,
    registers: [this.registry],
  });
  readonly stageSeconds = new Histogram({
    name: 'jeugdbrug_stage_duration_seconds',
    help: 'Time spent in each pipeline stage',
    labelNames: ['stage'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'jeugdbrug_events_received_total',
    help: 'HIS events received, by receipt status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly httpSeconds = new Histogram({
    name: 'jeugdbrug_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern (never the path) and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly auditVerifyOk = new Gauge({
    name: 'jeugdbrug_audit_verify_ok',
    help:
      'Result of the last verification of each audit chain in this process (the signer checks every chain each ' +
      'AUDIT_SIGN_INTERVAL_MS): 1 intact, 0 broken; 0 too while any process has found it broken, until a whole ' +
      'verification finds it intact',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly auditVerifyTime = new Gauge({
    name: 'jeugdbrug_audit_verify_timestamp_seconds',
    help: 'When this process last verified each audit chain, on schedule or when asked (Unix time)',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'jeugdbrug_auth_failures_total',
    help:
      'Refused credentials (API and console sign-in), by reason: missing (none sent), malformed (the header), ' +
      'api-key (unknown, revoked or tampered), jwt (untrusted, bad signature or claims), jwt-expired',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly sourceUp = new Gauge({
    name: 'jeugdbrug_metrics_source_up',
    help:
      'Whether this scrape could read the figures kept in the store (postgres: events, dead letters, destinations, ' +
      'audit chains; redis: queue jobs): 1, or 0 when it did not answer within a second and its figures are left out',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly connectionWaitSeconds = new Histogram({
    name: 'jeugdbrug_db_connection_wait_seconds',
    help:
      "Time callers waited for a PostgreSQL connection, by pool (main: the process's pool; workers: the share of it " +
      'the workers of a ROLE=all process may hold); a wait that timed out counts with its full wait',
    labelNames: ['pool'] as const,
    // Up to the 5 s a caller waits before it fails (db.ts).
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly connectionWaitTimeouts = new Counter({
    name: 'jeugdbrug_db_connection_wait_timeouts_total',
    help: 'Waits for a PostgreSQL connection that timed out (a 503, or a job retried), by pool',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  private readonly sources: readonly { source: MetricsSource; gauges: readonly SourceGauge[] }[];
  private readonly onSourceFailed: MetricsOptions['onSourceFailed'];

  constructor(opts: MetricsOptions) {
    // Node.js and process defaults (CPU, memory, event loop lag, GC, handles) under their standard names.
    collectDefaultMetrics({ register: this.registry });
    if (opts.build) {
      // The *_build_info pattern of Prometheus's own exporters: always 1, the build in its labels, so a query can
      // join it to any other series of the process (`* on(instance) group_left(version, commit)`) or count versions
      // running at once during a rolling upgrade.
      new Gauge({
        name: 'jeugdbrug_build_info',
        help:
          'Always 1: the version (package.json), git commit (unknown when the build did not say), Node.js and ' +
          'ROLE of the process',
        labelNames: ['version', 'commit', 'node', 'role'] as const,
        registers: [this.registry],
      }).set(
        {
          version: opts.build.version,
          commit: opts.build.commit,
          node: process.version,
          ...(opts.role === undefined ? {} : { role: opts.role }),
        },
        1,
      );
    }
    const queueJobs: SourceGauge = {
      gauge: new Gauge({
        name: 'jeugdbrug_queue_jobs',
        help: `Jobs per queue and state ${SAME_IN_EVERY_PROCESS('Redis')}`,
        labelNames: ['queue', 'state'] as const,
        registers: [this.registry],
      }),
      read: async () =>
        (await opts.queueDepths()).map((d) => ({ labels: { queue: d.queue, state: d.state }, value: d.count })),
    };
    this.sources = [
      ...(opts.figures ? [{ source: 'postgres' as const, gauges: figureGauges(this.registry, opts.figures) }] : []),
      {
        source: 'redis',
        gauges: [queueJobs, ...(opts.redisMemory ? redisMemoryGauges(this.registry, opts.redisMemory) : [])],
      },
    ];
    this.onSourceFailed = opts.onSourceFailed;
    const waits = opts.connectionWaits;
    if (waits) {
      new Gauge({
        name: 'jeugdbrug_db_connections_waiting',
        help: 'Callers (requests, jobs) waiting for a PostgreSQL connection at scrape time, by pool',
        labelNames: ['pool'] as const,
        registers: [this.registry],
        collect() {
          for (const { pool, count } of waits.waiting()) {
            this.set({ pool }, count);
          }
        },
      });
      for (const { pool } of waits.waiting()) {
        // Present from the start, so a rate over them has a first sample.
        this.connectionWaitSeconds.zero({ pool });
        this.connectionWaitTimeouts.inc({ pool }, 0);
      }
      waits.onEnded(({ pool, seconds, timedOut }) => {
        this.connectionWaitSeconds.observe({ pool }, seconds);
        if (timedOut) {
          this.connectionWaitTimeouts.inc({ pool });
        }
      });
    }
  }

  /**
   * The Prometheus text. The figures kept in PostgreSQL and Redis are read first, each store bounded by
   * SOURCE_ANSWER_MS: a store that fails or does not answer in time has its figures left out (not kept at their last
   * value, which would hide the outage from an alert) and `jeugdbrug_metrics_source_up` 0; everything else (process,
   * HTTP, job counters) is served all the same, so a scrape never fails or hangs on a dependency.
   */
  async scrape(): Promise<string> {
    await Promise.all(this.sources.map((s) => this.readSource(s.source, s.gauges)));
    return this.registry.metrics();
  }

  private async readSource(source: MetricsSource, gauges: readonly SourceGauge[]): Promise<void> {
    try {
      const readings = await withTimeout(
        Promise.all(gauges.map((g) => g.read())),
        SOURCE_ANSWER_MS,
        DEPENDENCY_OF[source],
        `metrics from ${source}`,
      );
      gauges.forEach(({ gauge }, i) => {
        // Emptied first, so a state or destination that is gone disappears instead of keeping its last value.
        gauge.reset();
        for (const { labels, value } of readings[i] ?? []) {
          gauge.set(labels, value);
        }
      });
      this.sourceUp.set({ source }, 1);
    } catch (err) {
      for (const { gauge } of gauges) {
        gauge.reset();
      }
      this.sourceUp.set({ source }, 0);
      this.onSourceFailed?.(DEPENDENCY_OF[source], err);
    }
  }

  private api: ApiGauges | undefined;

  /**
   * The gauges only an API process keeps (`ROLE=api` or `all`), registered when the API is set up: a worker's
   * `/metrics` leaves them out rather than showing 0 for figures it does not keep.
   */
  apiGauges(): ApiGauges {
    return (this.api ??= {
      intakeQueueJobs: new Gauge({
        name: 'jeugdbrug_intake_queue_jobs',
        help:
          'Unfinished map jobs at the last sample of the intake guard of this API process: POST /his/v1/events ' +
          'answers 429 while it is at jeugdbrug_intake_queue_limit',
        registers: [this.registry],
      }),
      intakeQueueLimit: new Gauge({
        name: 'jeugdbrug_intake_queue_limit',
        help: 'MAX_QUEUE_DEPTH of this API process: the unfinished map jobs at which it refuses HIS events with 429',
        registers: [this.registry],
      }),
      intakeRefused: new Counter({
        name: 'jeugdbrug_intake_refused_total',
        help:
          'Requests that bring data in (route: his-events, referral-status, trajectory-events) refused without ' +
          'storing it, by reason: queue-full (429, MAX_QUEUE_DEPTH), database (503, PostgreSQL away), database-busy ' +
          '(503, no connection of the pool came free), redis (503), other (503, e.g. a JWT issuer key set unreachable)',
        labelNames: ['route', 'reason'] as const,
        registers: [this.registry],
      }),
      apiKeysFileInvalid: new Gauge({
        name: 'jeugdbrug_api_keys_file_invalid',
        help:
          '1 while the API key file this API process last read was unreadable (an edit with an error): the keys ' +
          'loaded before it stay in force, a revocation in that edit is not; else 0',
        registers: [this.registry],
      }),
    });
  }

  /** Chains a whole verification found broken in this process: a cheaper check does not set them back to 1. */
  private readonly brokenChains = new Set<string>();

  /**
   * Records a chain verification's verdict: a whole one (the API's verify request, the scheduled full verification)
   * or a partial one (`scheduled`): the signer's check against the newest signed checkpoint in each signing round,
   * which reads only the rows since it, and the retention run's of the rows it purges. A broken chain found by a whole verification stays 0 until a
   * whole one passes: the signing round's check does not see an old row changed without its hash.
   */
  recordAuditVerify(tenant: string, ok: boolean, opts: { scheduled?: boolean } = {}): void {
    if (!opts.scheduled) {
      if (ok) {
        this.brokenChains.delete(tenant);
      } else {
        this.brokenChains.add(tenant);
      }
    } else if (ok && this.brokenChains.has(tenant)) {
      return;
    }
    this.auditVerifyOk.set({ tenant }, ok ? 1 : 0);
    this.auditVerifyTime.set({ tenant }, Date.now() / 1000);
  }

  /**
   * A chain another process's verification (or this one's, earlier) found broken, as audit_chain_integrity says: 0
   * until a whole verification finds it intact, without claiming this process verified it now.
   */
  recordAuditKnownBroken(tenant: string): void {
    this.brokenChains.add(tenant);
    this.auditVerifyOk.set({ tenant }, 0);
  }

  /** Times `fn` into the stage histogram. */
  async time<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const end = this.stageSeconds.startTimer({ stage });
    try {
      return await fn();
    } finally {
      end();
    }
  }
}

/**
 * Figures read from PostgreSQL at scrape time, so every API process reports the same truth whichever process did the
 * work. Labels are states, destination ids and audit chain tenants (practice AGB codes): never personal data.
 */
export interface OperationsFigures {
  eventsByState(): Promise<{ state: string; count: number }[]>;
  deadLetters(): Promise<{ destination: string; count: number }[]>;
  destinationHealth(): Promise<{ destination: string; pausedBy: PauseCause | null; consecutiveFailures: number }[]>;
  auditChains(): Promise<{ tenant: string; length: number }[]>;
  /** Per chain, its last whole verification on schedule: when it ended (Unix seconds) and whether the chain was intact. */
  auditFullVerifications(): Promise<{ tenant: string; verifiedAt: number; ok: boolean }[]>;
  /** Per configured destination, how long its oldest pending delivery has waited since its round began (0: none). */
  pendingDeliveryAges(): Promise<{ destination: string; seconds: number }[]>;
  /**
   * The destinations no longer configured that still hold pending deliveries: how many, and how long the oldest has
   * waited (seconds).
   */
  unconfiguredPendingDeliveries(): Promise<{ destination: string; count: number; seconds: number }[]>;
  /** How long the event waiting longest for its decision (received or mapped) has been in that state (0: none). */
  undecidedEventAge(): Promise<number>;
}

/**
 * The metrics of an API process: its intake guard's last sample and limit, the intake it refused, and whether its API
 * key file is unreadable.
 */
export interface ApiGauges {
  readonly intakeQueueJobs: Gauge;
  readonly intakeQueueLimit: Gauge;
  readonly intakeRefused: Counter<'route' | 'reason'>;
  readonly apiKeysFileInvalid: Gauge;
}

/** Who paused a destination: an operator (planned), or the product after failures in a row (an outage). */
export const PAUSE_CAUSES = ['operator', 'auto'] as const;
export type PauseCause = (typeof PAUSE_CAUSES)[number];

/** A store read at scrape time, as `jeugdbrug_metrics_source_up` names it. */
export type MetricsSource = 'postgres' | 'redis';

const DEPENDENCY_OF: Readonly<Record<MetricsSource, Dependency>> = { postgres: 'database', redis: 'redis' };

/** How long a scrape waits for each store: well inside Prometheus's scrape timeout (10 s by default). */
export const SOURCE_ANSWER_MS = 1000;

export interface MetricsOptions {
  /** Which build this process is: `jeugdbrug_build_info`; absent, that metric is left out. */
  readonly build?: BuildInfo;
  /**
   * The process's ROLE, a label of `jeugdbrug_build_info`: the alert JeugdbrugNoWorker pages when no process reports
   * one that runs workers. Absent, the label is left out.
   */
  readonly role?: string;
  /** Jobs per queue and state, read from Redis at scrape time. */
  readonly queueDepths: () => Promise<{ queue: string; state: string; count: number }[]>;
  /**
   * Redis's memory and eviction policy, read at scrape time; undefined when the server will not say (its gauges are
   * then left out). Absent, there are none.
   */
  readonly redisMemory?: () => Promise<RedisMemory | undefined>;
  /** Figures read from PostgreSQL at scrape time; absent, there are none. */
  readonly figures?: OperationsFigures;
  /** The database's waits for a connection; absent, no connection metrics. */
  readonly connectionWaits?: ConnectionWaits;
  /** Told when a store failed a scrape or did not answer it in time. */
  readonly onSourceFailed?: (dependency: Dependency, err: unknown) => void;
}

/** A gauge set at scrape time from what `read` returns. */
interface SourceGauge {
  readonly gauge: Gauge<string>;
  read(): Promise<readonly { labels: Record<string, string>; value: number }[]>;
}

/** A read that the gauges of one scrape share: started by the first that asks, answered to all until it settles. */
function sharedWhilePending<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= read().finally(() => {
      pending = undefined;
    }));
}

function figureGauges(registry: Registry, figures: OperationsFigures): SourceGauge[] {
  // Three gauges read the destinations' health; a scrape reads it once. Likewise two the full verifications, and two
  // the destinations no longer configured.
  const destinationHealth = sharedWhilePending(() => figures.destinationHealth());
  const fullVerifications = sharedWhilePending(() => figures.auditFullVerifications());
  const unconfigured = sharedWhilePending(() => figures.unconfiguredPendingDeliveries());
  return [
    gaugeOf(registry, 'jeugdbrug_events', 'Events in the inbox by state', 'state', async () =>
      (await figures.eventsByState()).map((r) => [r.state, r.count]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_dead_letters',
      'Dead letters waiting for an operator, by destination (practice-<agb>: status updates and trajectory events to a practice)',
      'destination',
      async () => (await figures.deadLetters()).map((r) => [r.destination, r.count]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_destination_up',
      'Whether deliveries to the destination run: 1, or 0 while it is paused (after failures or by an operator; also while half-open, one trial delivery going out)',
      'destination',
      async () => (await destinationHealth()).map((r) => [r.destination, r.pausedBy === null ? 1 : 0]),
    ),
    // Beside destination_up, which is 0 for both: a planned pause is no outage, and an alert pages on `by="auto"`.
    sharedGauge(
      registry,
      'jeugdbrug_destination_paused',
      'Whether the destination is paused, by whom: by="operator" (planned, e.g. the receiver’s maintenance) or ' +
        'by="auto" (after failures in a row: the receiver is failing); 1 for the one that paused it, else 0',
      ['destination', 'by'],
      async () =>
        (await destinationHealth()).flatMap((r) =>
          PAUSE_CAUSES.map((by) => ({ labels: { destination: r.destination, by }, value: r.pausedBy === by ? 1 : 0 })),
        ),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_destination_consecutive_failures',
      'Failed delivery attempts in a row per destination (it pauses at its threshold)',
      'destination',
      async () => (await destinationHealth()).map((r) => [r.destination, r.consecutiveFailures]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_audit_chain_length',
      'Rows in each audit hash chain (its head sequence number)',
      'tenant',
      async () => (await figures.auditChains()).map((r) => [r.tenant, r.length]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_audit_full_verify_ok',
      'Result of the last scheduled whole verification of each audit chain (every row from its genesis or retention ' +
        'checkpoint, and every signed checkpoint; AUDIT_FULL_VERIFY_INTERVAL_MS): 1 intact, 0 broken',
      'tenant',
      async () => (await fullVerifications()).map((r) => [r.tenant, r.ok ? 1 : 0]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_audit_full_verify_timestamp_seconds',
      'When the last scheduled whole verification of each audit chain ended (Unix time)',
      'tenant',
      async () => (await fullVerifications()).map((r) => [r.tenant, r.verifiedAt]),
    ),
    gaugeOf(
      registry,
      'jeugdbrug_oldest_pending_delivery_age_seconds',
      'How long the oldest delivery still to go to the destination (pending: waiting, retrying, or held by a pause) ' +
        'has waited since its round began (its decision, or the replay or redelivery that sent it again); ' +
        '0 when none waits; also of a destination no longer configured whose deliveries still wait',
      'destination',
      async () => {
        const [ages, gone] = await Promise.all([figures.pendingDeliveryAges(), unconfigured()]);
        return [...ages, ...gone].map((r) => [r.destination, r.seconds]);
      },
    ),
    gaugeOf(
      registry,
      'jeugdbrug_unconfigured_destination_pending_deliveries',
      'Pending deliveries to a destination no longer in CONFIG_DIR (removed or renamed while they waited): nothing ' +
        'sends them until it is configured again; a series only for such a destination',
      'destination',
      async () => (await unconfigured()).map((r) => [r.destination, r.count]),
    ),
    sharedGauge(
      registry,
      'jeugdbrug_oldest_undecided_event_age_seconds',
      'How long the event waiting longest for the map stage (received or mapped, not yet decided) has been in that ' +
        'state; 0 when none waits',
      [],
      async () => [{ labels: {}, value: await figures.undecidedEventAge() }],
    ),
  ];
}

/**
 * Redis's memory against its maxmemory, and its eviction policy (README, "Redis"): a paused destination's backlog
 * holds about 1 KB a delivery, which MAX_QUEUE_DEPTH does not cap, so an alert must see Redis fill before it is full.
 */
function redisMemoryGauges(registry: Registry, read: () => Promise<RedisMemory | undefined>): SourceGauge[] {
  const memory = sharedWhilePending(read);
  const redisGauge = (name: string, help: string, labelNames: readonly string[], value: SourceGauge['read']) => ({
    gauge: new Gauge({ name, help: `${help} ${SAME_IN_EVERY_PROCESS('Redis')}`, labelNames, registers: [registry] }),
    read: value,
  });
  const one = (pick: (m: RedisMemory) => number) => async () => {
    const m = await memory();
    return m ? [{ labels: {}, value: pick(m) }] : [];
  };
  return [
    redisGauge(
      'jeugdbrug_redis_memory_used_bytes',
      "Memory Redis uses (INFO memory used_memory; a cluster's fullest primary)",
      [],
      one((m) => m.usedBytes),
    ),
    redisGauge(
      'jeugdbrug_redis_memory_max_bytes',
      "Redis's maxmemory, at which it refuses writes (noeviction); 0 when none is set",
      [],
      one((m) => m.maxBytes),
    ),
    redisGauge(
      'jeugdbrug_redis_maxmemory_policy',
      'Always 1, the maxmemory-policy of Redis in its label: BullMQ needs noeviction (an evicted key is a lost job)',
      ['policy'],
      async () => {
        const m = await memory();
        return m ? [{ labels: { policy: m.policy }, value: 1 }] : [];
      },
    ),
  ];
}

/**
 * The end of the help text of a gauge read from a shared store at scrape time. Every process that serves /metrics
 * reports the same value, so dashboards and alerts take `max` or `min` over processes, never `sum` (the metrics test
 * holds docker/grafana-dashboard.json and docker/prometheus-alerts.yaml to that).
 */
const SAME_IN_EVERY_PROCESS = (store: string): string =>
  `(read from ${store} at scrape time: the same in every process)`;

/** A gauge read from PostgreSQL at scrape time (one query per scrape). */
function sharedGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: SourceGauge['read'],
): SourceGauge {
  return {
    gauge: new Gauge({
      name,
      help: `${help} ${SAME_IN_EVERY_PROCESS('PostgreSQL')}`,
      labelNames,
      registers: [registry],
    }),
    read,
  };
}

/** A gauge with one label, read from PostgreSQL at scrape time (one query per scrape). */
function gaugeOf(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => Promise<[string, number][]>,
): SourceGauge {
  return sharedGauge(registry, name, help, [label], async () =>
    (await read()).map(([value, count]) => ({ labels: { [label]: value }, value: count })),
  );
}
