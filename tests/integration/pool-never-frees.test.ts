import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * A worker whose database never hands out a connection: its one pooled connection is held by a transaction that never
 * ends. A job that got no connection in time is retried without spending an attempt, but only for a while
 * (JOB_CONNECTION_WAIT_MAX_MS): after that a wait is a failed attempt like any other, so the retry limit ends the
 * job instead of it coming back every few seconds for ever.
 */
describe('a job whose database never frees a connection', () => {
  let app: TestApp | undefined;
  let release = (): void => undefined;
  let held: Promise<void> | undefined;

  afterAll(async () => {
    release();
    await held?.catch(() => undefined);
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  }, 60_000);

  it('waits without spending an attempt at first, then spends its attempts and fails', async () => {
    app = await startTestApp({
      receiverUrl: 'http://127.0.0.1:9/',
      env: {
        ROLE: 'worker',
        DATABASE_POOL_SIZE: '1',
        DELIVERY_MAX_ATTEMPTS: '2',
        JOB_CONNECTION_WAIT_MAX_MS: '1000',
      },
    });
    const { ctx } = app.rt;
    held = ctx.db.transaction(() => new Promise<void>((resolve) => (release = resolve)));

    const queue = ctx.queues.getDeliverQueue('gm0226');
    // No delivery row is needed: the job's first statement already waits for the connection that never comes.
    const job = await queue.add('deliver', { deliveryId: randomUUID(), traceId: randomUUID() });
    const seen: { state: string; attemptsMade: number }[] = [];
    const look = async (): Promise<Job | undefined> => {
      const now = await queue.getJob(job.id!);
      if (now) {
        const step = { state: await now.getState(), attemptsMade: now.attemptsMade };
        const last = seen[seen.length - 1];
        if (last?.state !== step.state || last.attemptsMade !== step.attemptsMade) {
          seen.push(step);
        }
      }
      return now;
    };
    await waitFor(
      'the job to fail for good',
      async () => (await look()) && seen[seen.length - 1]!.state === 'failed',
      90_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the job went through ${JSON.stringify(seen)}`);
    });
    const failed = (await queue.getJob(job.id!))!;
    expect({
      attemptsMade: failed.attemptsMade,
      state: await failed.getState(),
      failedReason: failed.failedReason,
    }).toEqual({
      attemptsMade: 2,
      state: 'failed',
      failedReason: expect.stringContaining('timeout exceeded when trying to connect'),
    });
    // Each attempt began with a wait that spent nothing (delayed, its attempts unchanged).
    expect(seen).toEqual(
      expect.arrayContaining([
        { state: 'delayed', attemptsMade: 0 },
        { state: 'delayed', attemptsMade: 1 },
      ]),
    );
  }, 120_000);
});
