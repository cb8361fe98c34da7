import { Semaphore } from 'redis-semaphore';
import type { RedisClient } from './redis-client';

/**
 * Why `SharedConcurrencyLimit.run` did not start a task: every slot was taken and as many waited as may (or the wait
 * ran out), or Redis, which holds the slots, did not answer.
 */
export type LimitRefusal = 'busy' | 'redis-unavailable';

/** How long a slot is held at most, how long a task waits for one, and how often it asks. */
export interface SharedLimitTimes {
  /**
   * A slot's lifetime in Redis after it was taken or last renewed: a process that dies while it computes frees its
   * slot after this. redis-semaphore renews it every quarter of this while the task runs, so a task keeps its slot
   * however long it takes, and Redis may miss up to three renewals in a row before the slot is lost.
   */
  readonly slotMs: number;
  /** How long a task waits for a slot before it is refused as `busy`. */
  readonly waitMs: number;
  /** How often a waiting task asks Redis for a slot. */
  readonly retryMs: number;
}

/** A monitoring report is seconds of PostgreSQL; two minutes is far beyond one, a minute's wait a patient client. */
export const MONITORING_REPORT_TIMES: SharedLimitTimes = { slotMs: 120_000, waitMs: 60_000, retryMs: 100 };

/**
 * redis-semaphore's semaphore, but a renewal that Redis does not answer keeps the slot instead of rejecting: the
 * library renews in a timer that no one awaits, so its rejection would be unhandled (and end the process). The slot
 * lives on in Redis until `slotMs` after its last renewal; the next renewal asks again, and one that finds the slot
 * gone (Redis away for longer) calls `onLockLost`.
 */
class RenewedSemaphore extends Semaphore {
  protected override async _refresh(): Promise<boolean> {
    try {
      return await super._refresh();
    } catch {
      return true;
    }
  }
}

/**
 * At most `max` tasks at once across every process that shares `key` on one Redis (a semaphore of redis-semaphore:
 * a sorted set of slot holders, each expiring `slotMs` after it was last renewed, which it is while its task runs),
 * and in this process `maxWaiting` more waiting for a slot; beyond that, or after `waitMs` of waiting, `run` throws
 * what `refuse('busy')` makes without starting the task. While Redis does not answer, nothing can be counted across
 * processes, so the task is not started either: `refuse('redis-unavailable')`. Waiting tasks ask every `retryMs`, not
 * first come first served.
 */
export class SharedConcurrencyLimit {
  private active = 0;
  private queued = 0;

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    readonly max: number,
    readonly maxWaiting: number,
    private readonly times: SharedLimitTimes = MONITORING_REPORT_TIMES,
    /** Told when a running task's slot is gone from Redis (for the operator's log): one more task may start. */
    private readonly onSlotLost: () => void = () => undefined,
  ) {}

  /** Tasks of this process running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks of this process waiting for a slot. */
  get waiting(): number {
    return this.queued;
  }

  async run<T>(task: () => Promise<T>, refuse: (why: LimitRefusal) => Error): Promise<T> {
    const slot = await this.acquire(refuse);
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      // A release that fails (Redis away) leaves the slot to expire after `slotMs`.
      slot.release().catch(() => undefined);
    }
  }

  private semaphore(attempts: number): Semaphore {
    return new RenewedSemaphore(this.redis, this.key, this.max, {
      lockTimeout: this.times.slotMs,
      refreshInterval: this.times.slotMs / 4,
      // Lost only when Redis missed every renewal for `slotMs` (or the slot was removed there): the task, already
      // running, finishes; one more task may start meanwhile elsewhere. The library's default throws, unhandled.
      onLockLost: () => this.onSlotLost(),
      acquireTimeout: this.times.waitMs,
      acquireAttemptsLimit: attempts,
      retryInterval: this.times.retryMs,
    });
  }

  private async acquire(refuse: (why: LimitRefusal) => Error): Promise<Semaphore> {
    const now = this.semaphore(1);
    if (await this.tryAcquire(now, refuse)) {
      return now;
    }
    if (this.queued >= this.maxWaiting) {
      throw refuse('busy');
    }
    this.queued++;
    try {
      const later = this.semaphore(Number.POSITIVE_INFINITY);
      if (await this.tryAcquire(later, refuse)) {
        return later;
      }
    } finally {
      this.queued--;
    }
    throw refuse('busy');
  }

  private async tryAcquire(s: Semaphore, refuse: (why: LimitRefusal) => Error): Promise<boolean> {
    try {
      return await s.tryAcquire();
    } catch {
      throw refuse('redis-unavailable');
    }
  }
}
