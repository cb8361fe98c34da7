import express from 'express';
import type { PipelineContext } from '../event/context';
import { healthRouter } from './health-router';
import { metricsHandler } from './http-metrics';

/**
 * The HTTP face of a `ROLE=worker` process (`METRICS_PORT`): `/metrics` and `/health/*` only, no API, so its job
 * counters and stage durations can be scraped and an orchestrator can probe it.
 */
export function createOpsApp(ctx: PipelineContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use('/health', healthRouter(ctx));
  app.get('/metrics', metricsHandler(ctx.metrics));
  return app;
}
