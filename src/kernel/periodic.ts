import type { Logger } from 'pino';
import { errorFields } from './logger';

/**
 * Runs `task` now and then every `intervalMs`, one run at a time (a run that takes longer than the interval delays
 * the next; it never overlaps it). A failed run is logged with `failure` and retried at the next tick. Returns a stop
 * function that clears the timers, lets a run in progress finish, and starts no new one, so shutdown can close the
 * database after it. The timers do not keep the process alive.
 */
export function startPeriodic(
  intervalMs: number,
  task: () => Promise<unknown>,
  log: Logger,
  failure: string,
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = (): void => {
    running = running
      .then(() => (stopped ? undefined : task()))
      .catch((err: unknown) => log.warn(errorFields(err), failure));
  };
  const first = setTimeout(run, 0);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}
