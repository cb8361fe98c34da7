import { getAdapter } from '../../mappings/municipality/index';
import { DEFAULT_PROBE_INTERVAL_MS, type Destination } from '../contracts/destination';
import type { PipelineContext } from './context';
import { openForTrial } from './destination-health';
import {
  claimProbe,
  listDestinationStates,
  recordProbeResult,
  releaseTrialDelivery,
  tryGetDestinationState,
  type DestinationStateRow,
} from './event-store';
import { errorFields } from '../kernel/logger';

/** The monitor looks at least this often, and never more often than the shortest probe interval needs. */
const MAX_TICK_MS = 5000;
const MIN_TICK_MS = 100;

/**
 * Runs in every worker process: keeps each deliver queue's paused flag in line with `destination_state` (the
 * record), and probes automatically paused destinations, making them half-open (one trial delivery, see
 * destination-health.ts) when the probe succeeds. The probe of a destination is claimed in PostgreSQL
 * (`last_probe_at`), so however many worker processes run, one probe per interval goes out. A trial whose worker went
 * away (its claim older than a probe interval and a delivery's timeout) is handed on.
 */
export class DestinationHealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private stopped = false;
  readonly tickMs: number;

  constructor(private readonly ctx: PipelineContext) {
    const shortest = Math.min(
      ...ctx.registry.destinations.map((d) => d.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS),
      MAX_TICK_MS,
    );
    this.tickMs = Math.max(MIN_TICK_MS, shortest);
  }

  start(): this {
    if (this.ctx.registry.destinations.length > 0) {
      this.schedule();
    }
    return this;
  }

  /** Stops ticking and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inflight;
  }

  private schedule(): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => {
      this.inflight = this.tick()
        .catch((err: Error) => {
          // PostgreSQL or Redis away is the process's outage, logged once (OutageLog), not a line every tick.
          if (!this.ctx.outages.seen(err)) {
            this.ctx.log.warn(errorFields(err), 'destination health check failed');
          }
        })
        .finally(() => {
          this.inflight = undefined;
          this.schedule();
        });
    }, this.tickMs);
    // Never the reason a process stays alive.
    this.timer.unref();
  }

  /** One round over every destination; public so tests can drive it. */
  async tick(): Promise<void> {
    const rows = await listDestinationStates(this.ctx.db);
    const byId = new Map(rows.map((r) => [r.destination, r]));
    for (const destination of this.ctx.registry.destinations) {
      if (this.stopped) {
        return;
      }
      let state = byId.get(destination.id);
      if (state?.trial_delivery && (await this.handOnStaleTrial(destination))) {
        state = await tryGetDestinationState(this.ctx.db, destination.id);
      }
      await this.syncQueue(destination, state);
      if (state?.paused_by === 'auto' && !state.half_open_at) {
        await this.probe(destination);
      }
    }
  }

  private async syncQueue(destination: Destination, state: DestinationStateRow | undefined): Promise<void> {
    const queue = this.ctx.queues.getDeliverQueue(destination.id);
    const queuePaused = await queue.isPaused();
    if (!queueRuns(state) && !queuePaused) {
      await queue.pause();
      this.ctx.log.info({ destination: destination.id }, 'queue paused again to match the recorded pause');
    } else if (queueRuns(state) && queuePaused) {
      // Read again: a pause may have been recorded (and the queue paused) since the round started.
      if (queueRuns(await tryGetDestinationState(this.ctx.db, destination.id))) {
        await queue.resume();
        this.ctx.log.info({ destination: destination.id }, 'queue resumed to match the recorded state');
      }
    }
  }

  /** A trial claimed longer ago than a delivery can take and a probe interval: its worker went away. */
  private async handOnStaleTrial(destination: Destination): Promise<boolean> {
    const staleMs =
      (destination.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS) +
      (destination.timeoutMs ?? this.ctx.config.DELIVERY_TIMEOUT_MS);
    const released = await releaseTrialDelivery(this.ctx.db, destination.id, { staleMs });
    if (released) {
      this.ctx.log.warn({ destination: destination.id }, 'trial delivery took too long: handed to the next job');
    }
    return released;
  }

  private async probe(destination: Destination): Promise<void> {
    const interval = destination.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    if (!(await claimProbe(this.ctx.db, destination.id, interval))) {
      return;
    }
    const timeoutMs = destination.timeoutMs ?? this.ctx.config.DELIVERY_TIMEOUT_MS;
    const result = await getAdapter(destination.adapter).probe(destination, timeoutMs);
    await recordProbeResult(this.ctx.db, destination.id, `${result.up ? 'up' : 'down'}: ${result.detail}`);
    this.ctx.log.info(
      { destination: destination.id, up: result.up, detail: result.detail },
      'probed paused destination',
    );
    if (result.up) {
      await openForTrial(this.ctx, destination.id);
    }
  }
}

/**
 * Whether the destination's queue should run: when it is not paused, and when it is half-open with its trial not
 * yet claimed (a job must come to claim it). While a claimed trial is under way the others wait behind the flag.
 */
function queueRuns(state: DestinationStateRow | undefined): boolean {
  return !state?.paused_by || (state.half_open_at !== null && state.trial_delivery === null);
}
