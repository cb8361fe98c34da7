import { OperationOutcomeError } from '@medplum/core';
import type { Logger } from 'pino';
import { queueFull } from '../kernel/fhir/outcomes';
import { errorFields } from '../kernel/logger';
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
        `The work queues hold ${depth} unfinished jobs, at or above their limit (MAX_QUEUE_DEPTH); ` +
          `nothing was stored: send the events again after ${retryAfterSeconds} s`,
      ),
    );
  }
}

/**
 * Backpressure for the HIS: refuses new events while the queues together hold `maxDepth` unfinished jobs or
 * more, so a receiver that is slow or away makes the HIS wait instead of Redis growing until it is out of memory
 * (with `noeviction` every write would then fail, not just new events). All queues count together because they
 * share one Redis's memory.
 *
 * The depth is sampled at most every `refreshMs` in the background, so a request never waits for Redis here; the
 * queues may overshoot the limit by what arrives within one interval. When Redis does not answer the last sample
 * stands: PostgreSQL stores events without Redis, and the reconciler queues them once it is back.
 */
export class QueueDepthGuard {
  private depth = 0;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private sampling: Promise<void> | undefined;

  constructor(
    private readonly queues: QueueSet,
    private readonly maxDepth: number,
    private readonly retryAfterSeconds: number,
    private readonly log: Logger,
    private readonly refreshMs = 1000,
  ) {}

  /** The error to answer with when the last sample is at or above the limit; starts a new sample when it is old. */
  refusal(): QueueFullError | undefined {
    if (performance.now() - this.sampledAt >= this.refreshMs) {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }
    return this.depth >= this.maxDepth ? new QueueFullError(this.depth, this.retryAfterSeconds) : undefined;
  }

  private async sample(): Promise<void> {
    try {
      const counts = await Promise.all(this.queues.all().map((q) => q.getJobCounts(...UNFINISHED)));
      this.depth = counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
      this.sampledAt = performance.now();
    } catch (err) {
      this.log.warn(errorFields(err), 'queue depth not sampled; keeping the last sample');
    }
  }
}
