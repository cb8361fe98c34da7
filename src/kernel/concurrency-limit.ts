/**
 * At most `max` tasks at once in this process, and `maxWaiting` more waiting their turn, first come first served;
 * beyond that `run` throws what `refuse` makes without starting the task. For work that is heavy on a shared resource
 * (a year's monitoring report is seconds of PostgreSQL), so that many asked at once cannot slow everything else.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly max: number,
    readonly maxWaiting: number,
  ) {}

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for one of the running ones to end. */
  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(task: () => Promise<T>, refuse: () => Error): Promise<T> {
    if (this.active < this.max) {
      this.active++;
    } else if (this.queue.length < this.maxWaiting) {
      // Handed the slot of a task that ends (`release`): `active` counts it already.
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      throw refuse();
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) {
      next();
    } else {
      this.active--;
    }
  }
}
