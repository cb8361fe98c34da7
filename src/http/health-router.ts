import { pingDb } from '../kernel/db';
import { Router } from 'express';
import type { PipelineContext } from '../event/context';
import { withTimeout, type Dependency } from '../kernel/outage';

/** How long readiness waits for each dependency's answer. */
const READY_ANSWER_MS = 1000;

/**
 * Liveness: the process answers (restart it when not). Readiness: it can do its work (send it traffic when so), asked
 * of PostgreSQL and Redis within a second each. An API process (`ROLE=api` or `all`) needs PostgreSQL to accept an
 * event, and only PostgreSQL: without Redis it still answers 202 (the reconciler queues the events once Redis is
 * back), so Redis away makes it `degraded`, still ready, instead of taking it out of the load balancer. A worker
 * (`ROLE=worker`) can do nothing without either. An API process whose API key file became unreadable is `degraded`
 * with `apiKeys: "invalid"`: it keeps the keys it had, so a revocation in that edit is not in effect.
 */
export function healthRouter(ctx: PipelineContext, apiKeysFileValid: () => boolean = () => true): Router {
  const router = Router();
  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    const [database, redis] = await Promise.all([
      answers(ctx, 'database', () => pingDb(ctx.db)),
      answers(ctx, 'redis', () => ctx.queues.ping()),
    ]);
    const ready = database && (redis || ctx.config.ROLE !== 'worker');
    // An unreadable API key file leaves the keys loaded before in force: degraded, still taking traffic.
    const keysValid = apiKeysFileValid();
    const status = !ready ? 'unavailable' : redis && keysValid ? 'ok' : 'degraded';
    res.status(ready ? 200 : 503).json({ status, database, redis, ...(keysValid ? {} : { apiKeys: 'invalid' }) });
  });
  return router;
}

/** Whether the dependency answered in time; a readiness probe reports a failure (and its outage), it throws none. */
function answers(ctx: PipelineContext, dependency: Dependency, ping: () => Promise<unknown>): Promise<boolean> {
  return withTimeout(ping(), READY_ANSWER_MS, dependency, 'readiness ping').then(
    () => true,
    (err: unknown) => {
      ctx.outages.down(dependency, err);
      return false;
    },
  );
}
