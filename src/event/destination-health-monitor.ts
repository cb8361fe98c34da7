import { SYSTEM_WORKER } from '../audit/audit-events';
import { getAdapter } from '../../mappings/municipality/index';
import { DEFAULT_PROBE_INTERVAL_MS, type Destination } from '../contracts/destination';
import type { PipelineContext } from './context';
import { resumeDestination } from './destination-health';
import {
  claimProbe,
  listDestinationStates,
  recordProbeResult,
  tryGetDestinationState,
  type DestinationStateRow,
} from './event-store';
import { errorFields } from '../kernel/logger';

/** The monitor looks at least this often, and never more often than the shortest probe interval needs. */
const MAX_TICK_MS = 5000;
const MIN_TICK_MS = 100;

/**
 * Runs in every worker process: keeps each deliver queue's paused flag in line with `destination_state` (the
 * record), and probes automatically paused destinations, resuming them when the probe succeeds. The probe of a
 * destination is claimed in PostgreSQL (`last_probe_at`), so however many worker processes run, one probe per
 * interval goes out.
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
      const state = byId.get(destination.id);
      await this.syncQueue(destination, state);
      if (state?.paused_by === 'auto') {
        await this.probe(destination);
      }
    }
  }

  private async syncQueue(destination: Destination, state: DestinationStateRow | undefined): Promise<void> {
    const queue = this.ctx.queues.getDeliverQueue(destination.id);
    const queuePaused = await queue.isPaused();
    if (state?.paused_by && !queuePaused) {
      await queue.pause();
      this.ctx.log.info({ destination: destination.id }, 'queue paused again to match the recorded pause');
    } else if (!state?.paused_by && queuePaused) {
      // Read again: a pause may have been recorded (and the queue paused) since the round started.
      const fresh = await tryGetDestinationState(this.ctx.db, destination.id);
      if (!fresh?.paused_by) {
        await queue.resume();
        this.ctx.log.info({ destination: destination.id }, 'queue resumed to match the recorded state');
      }
    }
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
      await resumeDestination(this.ctx, destination.id, 'auto', {
        ...SYSTEM_WORKER,
        accessPoint: 'jeugdbrug-worker/probe',
      });
    }
  }
}
