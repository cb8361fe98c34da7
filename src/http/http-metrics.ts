import type { RequestHandler } from 'express';
import type { Metrics } from '../kernel/metrics';
import { routeOf } from './access-log';

/** Observes every request into `jeugdbrug_http_request_duration_seconds` by method, route pattern and status. */
export function observeRequests(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpSeconds.observe({ method: req.method, route: routeOf(res), status: String(res.statusCode) }, seconds);
    });
    next();
  };
}

/** `GET /metrics`: the process's Prometheus registry (scrape-time figures are read as it is served). */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
