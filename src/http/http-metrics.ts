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
