import { OperationOutcomeError } from '@medplum/core';
import type { Logger } from 'pino';
import { queueFull } from '../kernel/fhir/outcomes';
import { errorFields } from '../kernel/logger';
import type { ApiGauges } from '../kernel/metrics';
import type { QueueSet } from './queues';

/** The job states that still take room in Redis and still have work ahead of them. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Thrown at the queue limit: the HTTP layer answers 429 with `retryAfterSeconds` as Retry-After. */
class QueueFullError extends OperationOutcomeError {
  constructor(
    readonly depth: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      queueFull(
        `The map queue holds ${depth} unfinished jobs, at or above its limit (MAX_QUEUE_DEPTH): jeugdbrug does ` +
          `not keep up with intake; nothing was stored: send the events again after ${retryAfterSeconds} s`,
      ),
    );
  }
}

/**
 * Backpressure for the HIS: refuses new events while the `map` queue holds `maxDepth` unfinished jobs or more, so
 * that intake which jeugdbrug's own workers do not keep up with (too few workers, PostgreSQL slow) makes the HIS
 * wait instead of Redis growing until it is out of memory.
 *
 * Only the map queue counts. The deliver queues wait on one municipality each and the feedback queue on the
 * practices' systems; their rows are durable in PostgreSQL, and refusing every practice's events would not make a
 * receiver that is down or paused drain any sooner (README, "Backpressure").
 *
 * The depth is sampled at most every `refreshMs` in the background, so a request never waits for Redis here; the
 * queue may overshoot the limit by what arrives within one interval. When Redis does not answer the last sample
 * stands: PostgreSQL stores events without Redis, and the reconciler queues them once it is back. The start and the
 * end of a spell of refusals are logged once each (warn, info), not every refused request.
 */
export class QueueDepthGuard {
  private depth = 0;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private sampling: Promise<void> | undefined;
  /** Since when (ms since the epoch) and how many requests were refused, while refusing. */
  private refusing: { since: number; requests: number } | undefined;

  constructor(
    private readonly queues: QueueSet,
    private readonly maxDepth: number,
    private readonly retryAfterSeconds: number,
    private readonly log: Logger,
    private readonly metrics: Pick<ApiGauges, 'intakeQueueJobs' | 'intakeQueueLimit'>,
    private readonly refreshMs = 1000,
  ) {
    metrics.intakeQueueLimit.set(maxDepth);
  }

  /** The error to answer with when the last sample is at or above the limit; starts a new sample when it is old. */
  refusal(): QueueFullError | undefined {
    if (performance.now() - this.sampledAt >= this.refreshMs) {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }
    if (this.depth < this.maxDepth) {
      return undefined;
    }
    if (!this.refusing) {
      this.refusing = { since: Date.now(), requests: 0 };
      this.log.warn(
        { depth: this.depth, limit: this.maxDepth, retryAfterS: this.retryAfterSeconds },
        'intake refused: the map queue is at MAX_QUEUE_DEPTH',
      );
    }
    this.refusing.requests++;
    return new QueueFullError(this.depth, this.retryAfterSeconds);
  }

  private async sample(): Promise<void> {
    try {
      const counts = await this.queues.map.getJobCounts(...UNFINISHED);
      this.depth = Object.values(counts).reduce((a, b) => a + b, 0);
      this.sampledAt = performance.now();
      this.metrics.intakeQueueJobs.set(this.depth);
    } catch (err) {
      this.log.warn(errorFields(err), 'queue depth not sampled; keeping the last sample');
      return;
    }
    if (this.refusing && this.depth < this.maxDepth) {
      this.log.info(
        { depth: this.depth, refusedRequests: this.refusing.requests, refusedForMs: Date.now() - this.refusing.since },
        'intake accepted again',
      );
      this.refusing = undefined;
    }
  }
}
