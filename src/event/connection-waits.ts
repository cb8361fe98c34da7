import type { Job } from 'bullmq';

/**
 * Kept in a job's data while it waits for database connections without spending an attempt: the attempt it waits
 * in (BullMQ's `attemptsMade` then) and when that attempt's first wait began. Numbers only, nothing of the event.
 */
interface ConnectionWaitMark {
  readonly attempt: number;
  readonly since: number;
}

interface MarkedData {
  readonly connectionWait?: ConnectionWaitMark;
}

/** When the current run of `job` began: BullMQ sets `processedOn` each time it hands the job to a worker. */
function runStartedAt(job: Job): number {
  return job.processedOn ?? Date.now();
}

/** The wait mark of `job`'s current attempt; one left from an earlier attempt does not count. */
function currentMark(job: Job): ConnectionWaitMark | undefined {
  const mark = (job.data as MarkedData | undefined)?.connectionWait;
  return mark?.attempt === job.attemptsMade ? mark : undefined;
}

/**
 * Whether a job of this run that gets no database connection in time may wait for one once more without spending an
 * attempt: while its current attempt has waited less than `maxWaitMs` since its first such wait. Beyond that (a
 * database that never frees a connection) the wait is a failed attempt like any other, so the retry limit and dead
 * letters apply rather than a job that comes back every few seconds for ever. Measured from the run's start, so the
 * deliver job's decision (deliver.ts) and the worker's (workers.ts) agree whenever each is made.
 */
export function mayWaitForConnections(job: Job, maxWaitMs: number): boolean {
  const since = currentMark(job)?.since ?? runStartedAt(job);
  return runStartedAt(job) - since < maxWaitMs;
}

/** Notes in the job's data that its current attempt began waiting, unless an earlier wait of it already did. */
export async function markConnectionWait(job: Job): Promise<void> {
  if (currentMark(job) === undefined) {
    const connectionWait: ConnectionWaitMark = { attempt: job.attemptsMade, since: runStartedAt(job) };
    await job.updateData({ ...(job.data as object), connectionWait });
  }
}
