import type { RequestHandler, Response } from 'express';
import type { Metrics } from '../kernel/metrics';
import { routeOf } from './access-log';

const STARTED_LOCAL = 'metricsStartedAt';

/** Observes every request into `jeugdbrug_http_request_duration_seconds` by method, route pattern and status. */
export function observeRequests(metrics: Metrics): RequestHandler {
  // One listener shared by all requests, rather than a closure (and a `once` wrapper) made for each.
  function observe(this: Response): void {
    const seconds = (performance.now() - (this.locals[STARTED_LOCAL] as number)) / 1000;
    metrics.httpSeconds.observe(
      { method: this.req.method, route: routeOf(this), status: String(this.statusCode) },
      seconds,
    );
  }
  return (_req, res, next) => {
    res.locals[STARTED_LOCAL] = performance.now();
    res.on('finish', observe);
    next();
  };
}

/**
 * `GET /metrics`: the process's Prometheus registry, with the figures of PostgreSQL and Redis read as it is served;
 * one of them away leaves its figures out (`jeugdbrug_metrics_source_up` 0), not the whole scrape.
 */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.scrape());
  };
}
