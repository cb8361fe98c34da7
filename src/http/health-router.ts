import { pingDb } from '../kernel/db';
import { Router } from 'express';
import type { PipelineContext } from '../event/context';

/** Liveness (the process answers) and readiness (PostgreSQL and Redis answer within a second). */
export function healthRouter(ctx: PipelineContext): Router {
  const router = Router();
  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    const [database, redis] = await Promise.all([check(() => pingDb(ctx.db)), check(() => ctx.queues.ping())]);
    const ok = database && redis;
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', database, redis });
  });
  return router;
}

async function check(fn: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), 1000);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
