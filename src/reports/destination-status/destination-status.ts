import { DEFAULT_PAUSE_AFTER_FAILURES, type Destination } from '../../contracts/destination';
import type { PipelineContext } from '../../event/context';
import { tryGetDestinationState, type PausedBy } from '../../event/event-store';

export interface DestinationStatus {
  readonly id: string;
  readonly municipality: string;
  readonly adapter: string;
  readonly paused: boolean;
  readonly pausedBy: PausedBy | null;
  readonly pausedAt: Date | null;
  readonly pauseReason: string | null;
  /**
   * Who paused it (or gave the reason it has), as the audit trail names the principal: `api-key:<id>`,
   * `jwt:<issuer>#<subject>`, `system/worker`. Null while running, and for a pause recorded before it was kept.
   */
  readonly pausedByPrincipal: string | null;
  /**
   * Paused automatically, and a probe succeeded since: one trial delivery goes out, and the destination resumes when
   * it is accepted (or stays paused when it fails). `paused` stays true meanwhile.
   */
  readonly halfOpen: boolean;
  readonly halfOpenAt: Date | null;
  /** Whether the queue itself is paused in Redis (should agree with `paused` within a monitor tick). */
  readonly queuePaused: boolean;
  readonly consecutiveFailures: number;
  readonly pauseAfterFailures: number;
  readonly lastFailureAt: Date | null;
  readonly lastError: string | null;
  readonly lastProbeAt: Date | null;
  readonly lastProbeResult: string | null;
  readonly rateLimit: Destination['rateLimit'] | null;
  readonly jobs: Record<string, number>;
  readonly deliveries: Record<string, number>;
}

/** Everything an operator wants to know about one destination: its health, its queue and its deliveries. */
export async function getDestinationStatus(ctx: PipelineContext, destination: Destination): Promise<DestinationStatus> {
  const queue = ctx.queues.getDeliverQueue(destination.id);
  const [state, queuePaused, jobs, deliveryRows] = await Promise.all([
    tryGetDestinationState(ctx.db, destination.id),
    ctx.queues.timed(queue.isPaused(), 'queue paused'),
    ctx.queues.timed(queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed'), 'queue counts'),
    ctx.db.query<{ state: string; count: string }>(
      'SELECT state, count(*) AS count FROM delivery WHERE destination = $1 GROUP BY state',
      [destination.id],
    ),
  ]);
  return {
    id: destination.id,
    municipality: destination.municipality,
    adapter: destination.adapter,
    paused: !!state?.paused_by,
    pausedBy: state?.paused_by ?? null,
    pausedAt: state?.paused_at ?? null,
    pauseReason: state?.pause_reason ?? null,
    pausedByPrincipal: state?.paused_by_principal ?? null,
    halfOpen: !!state?.half_open_at,
    halfOpenAt: state?.half_open_at ?? null,
    queuePaused,
    consecutiveFailures: state?.consecutive_failures ?? 0,
    pauseAfterFailures: destination.pauseAfterFailures ?? DEFAULT_PAUSE_AFTER_FAILURES,
    lastFailureAt: state?.last_failure_at ?? null,
    lastError: state?.last_error ?? null,
    lastProbeAt: state?.last_probe_at ?? null,
    lastProbeResult: state?.last_probe_result ?? null,
    rateLimit: destination.rateLimit ?? null,
    jobs,
    deliveries: Object.fromEntries(deliveryRows.map((r) => [r.state, Number(r.count)])),
  };
}
