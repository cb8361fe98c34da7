import { pingDb } from '../kernel/db';
import { Router } from 'express';
import type { PipelineContext } from '../event/context';
import { withTimeout } from '../kernel/outage';

/** How long readiness waits for each dependency's answer. */
const READY_ANSWER_MS = 1000;

/** Liveness (the process answers) and readiness (PostgreSQL and Redis answer within a second). */
export function healthRouter(ctx: PipelineContext): Router {
  const router = Router();
  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    const [database, redis] = await Promise.all([
      answers(withTimeout(pingDb(ctx.db), READY_ANSWER_MS, 'database', 'readiness ping')),
      answers(withTimeout(ctx.queues.ping(), READY_ANSWER_MS, 'redis', 'readiness ping')),
    ]);
    const ok = database && redis;
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', database, redis });
  });
  return router;
}

/** Whether the dependency answered in time; a readiness probe reports a failure, it does not throw one. */
function answers(ping: Promise<unknown>): Promise<boolean> {
  return ping.then(
    () => true,
    () => false,
  );
}
