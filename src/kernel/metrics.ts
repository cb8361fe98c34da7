import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one process. Labels are stage and queue names: never ids or personal data. */
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
    help: 'Job attempts that failed, by stage and whether they will be retried',
    labelNames: ['stage', 'retry'] as const,
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
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly httpSeconds = new Histogram({
    name: 'jeugdbrug_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern (never the path) and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly auditVerifyOk = new Gauge({
    name: 'jeugdbrug_audit_verify_ok',
    help: 'Result of the last verification of each audit chain run by this process: 1 intact, 0 broken',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly auditVerifyTime = new Gauge({
    name: 'jeugdbrug_audit_verify_timestamp_seconds',
    help: 'When this process last verified each audit chain (Unix time)',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });

  constructor(
    collectQueueDepths: () => Promise<{ queue: string; state: string; count: number }[]>,
    figures?: OperationsFigures,
  ) {
    // Node.js and process defaults (CPU, memory, event loop lag, GC, handles) under their standard names.
    collectDefaultMetrics({ register: this.registry });
    if (figures) {
      registerFigures(this.registry, figures);
    }
    this.queueJobs = new Gauge({
      name: 'jeugdbrug_queue_jobs',
      help: 'Jobs per queue and state, read from Redis at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        for (const d of await collectQueueDepths()) {
          this.set({ queue: d.queue, state: d.state }, d.count);
        }
      },
    });
  }

  /** Records a chain verification's verdict (the API's verify request, the retention run). */
  recordAuditVerify(tenant: string, ok: boolean): void {
    this.auditVerifyOk.set({ tenant }, ok ? 1 : 0);
    this.auditVerifyTime.set({ tenant }, Date.now() / 1000);
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
  destinationHealth(): Promise<{ destination: string; paused: boolean; consecutiveFailures: number }[]>;
  auditChains(): Promise<{ tenant: string; length: number }[]>;
}

function registerFigures(registry: Registry, figures: OperationsFigures): void {
  // One query per figure per scrape; each gauge starts empty so a state or destination that is gone disappears.
  new Gauge({
    name: 'jeugdbrug_events',
    help: 'Events in the inbox by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await figures.eventsByState()) {
        this.set({ state: r.state }, r.count);
      }
    },
  });
  new Gauge({
    name: 'jeugdbrug_dead_letters',
    help: 'Dead letters waiting for an operator, by destination (practice-<agb> for feedback to a practice)',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await figures.deadLetters()) {
        this.set({ destination: r.destination }, r.count);
      }
    },
  });
  const health = async () => figures.destinationHealth();
  new Gauge({
    name: 'jeugdbrug_destination_up',
    help: 'Whether deliveries to the destination run: 1, or 0 while it is paused (after failures or by an operator)',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await health()) {
        this.set({ destination: r.destination }, r.paused ? 0 : 1);
      }
    },
  });
  new Gauge({
    name: 'jeugdbrug_destination_consecutive_failures',
    help: 'Failed delivery attempts in a row per destination (it pauses at its threshold)',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await health()) {
        this.set({ destination: r.destination }, r.consecutiveFailures);
      }
    },
  });
  new Gauge({
    name: 'jeugdbrug_audit_chain_length',
    help: 'Rows in each audit hash chain (its head sequence number)',
    labelNames: ['tenant'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await figures.auditChains()) {
        this.set({ tenant: r.tenant }, r.length);
      }
    },
  });
}
