import { notFound, OperationOutcomeError } from '@medplum/core';
import type express from 'express';
import type { PipelineContext } from '../event/context';
import { errorHandler } from './error-handler';
import { exactApp, trailingSlashNotFound } from './exact-routing';
import { healthRouter } from './health-router';
import { metricsHandler } from './http-metrics';

/**
 * The HTTP face of a `ROLE=worker` process (`METRICS_PORT`): `/metrics` and `/health/*` only, no API, so its job
 * counters and stage durations can be scraped and an orchestrator can probe it. What goes wrong is answered as the
 * API answers it (the same error handler): an OperationOutcome, 503 with Retry-After for an outage, never a stack.
 */
export function createOpsApp(ctx: PipelineContext): express.Express {
  const app = exactApp();
  app.disable('x-powered-by');
  app.use(trailingSlashNotFound);
  app.use('/health', healthRouter(ctx));
  app.get('/metrics', metricsHandler(ctx.metrics));
  app.use(() => {
    throw new OperationOutcomeError(notFound);
  });
  app.use(errorHandler({ log: ctx.log, bodyLimit: ctx.config.BODY_LIMIT, outages: ctx.outages }));
  return app;
}
