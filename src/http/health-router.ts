import { pingDb } from '../kernel/db';
import type { Router } from 'express';
import { exactRouter } from './exact-routing';
import type { PipelineContext } from '../event/context';
import { isSlowAnswer, withTimeout, type Dependency } from '../kernel/outage';

/** How long readiness waits for each dependency's answer. */
const READY_ANSWER_MS = 1000;

/**
 * How long readiness waits for a connection of the pool before it also asks the server on a connection of its own:
 * most probes find a connection at once and cost none; a busy pool's answer still comes within READY_ANSWER_MS.
 */
const POOL_PATIENCE_MS = 250;

/**
 * Liveness: the process answers (restart it when not), with its build. Readiness: it can do its work (send it traffic when so), asked
 * of PostgreSQL and Redis within a second each. An API process (`ROLE=api` or `all`) needs PostgreSQL to accept an
 * event, and only PostgreSQL: without Redis it still answers 202 (the reconciler queues the events once Redis is
 * back), so Redis away makes it `degraded`, still ready, instead of taking it out of the load balancer. A worker
 * (`ROLE=worker`) can do nothing without either. An API process whose API key file became unreadable is `degraded`
 * with `apiKeys: "invalid"`: it keeps the keys it had, so a revocation in that edit is not in effect.
 *
 * PostgreSQL is asked through the pool; when every connection of it is in use (a bulk load's requests or jobs), the
 * server is asked on a connection of its own (`Db.pingServer`), as the outage log does: a server that answers there is
 * up and the pool only busy, so the process stays ready (`databasePool: "busy"`); taking it out of the load balancer
 * would only move its load onto the others.
 */
export function healthRouter(ctx: PipelineContext, apiKeysFileValid: () => boolean = () => true): Router {
  const router = exactRouter();
  // The build too: a worker has no /fhir/metadata, and this is what an orchestrator and an operator both ask. It is
  // no more than the public CapabilityStatement says; readiness's answer stays about the dependencies.
  const live = { status: 'ok', version: ctx.build.version, commit: ctx.build.commit };
  router.get('/live', (_req, res) => {
    res.json(live);
  });
  router.get('/ready', async (_req, res) => {
    const [databaseAnswer, redis] = await Promise.all([
      databaseAnswers(ctx),
      answers(ctx, 'redis', () => ctx.queues.ping()),
    ]);
    const database = databaseAnswer !== 'down';
    const ready = database && (redis || ctx.config.ROLE !== 'worker');
    // An unreadable API key file leaves the keys loaded before in force: degraded, still taking traffic.
    const keysValid = apiKeysFileValid();
    const status = !ready ? 'unavailable' : redis && keysValid ? 'ok' : 'degraded';
    res.status(ready ? 200 : 503).json({
      status,
      database,
      redis,
      ...(databaseAnswer === 'busy' ? { databasePool: 'busy' } : {}),
      ...(keysValid ? {} : { apiKeys: 'invalid' }),
    });
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

/**
 * Whether PostgreSQL answers through the pool (`up`), only on a connection of its own because every connection of the
 * pool is in use (`busy`), or not at all (`down`, which also starts its outage in the log). Within READY_ANSWER_MS.
 */
async function databaseAnswers(ctx: PipelineContext): Promise<'up' | 'busy' | 'down'> {
  let server: Promise<unknown> | undefined;
  const ask = setTimeout(() => {
    server = withTimeout(ctx.db.pingServer(), READY_ANSWER_MS - POOL_PATIENCE_MS, 'database', 'readiness ping');
    // Read only when the pool did not answer; a failure then is the pool's too.
    server.catch(() => undefined);
  }, POOL_PATIENCE_MS);
  try {
    await withTimeout(pingDb(ctx.db), READY_ANSWER_MS, 'database', 'readiness ping');
    return 'up';
  } catch (err) {
    if (server && isSlowAnswer(err)) {
      try {
        await server;
        ctx.outages.busy('database', err);
        return 'busy';
      } catch (serverErr) {
        ctx.outages.down('database', serverErr);
        return 'down';
      }
    }
    ctx.outages.down('database', err);
    return 'down';
  } finally {
    clearTimeout(ask);
  }
}
