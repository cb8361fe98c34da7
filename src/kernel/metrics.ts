import { Counter, Gauge, Histogram, Registry } from 'prom-client';

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

  constructor(collectQueueDepths: () => Promise<{ queue: string; state: string; count: number }[]>) {
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
