import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { tryGetActiveSpanIds } from '../kernel/telemetry';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../kernel/trace-context';
import { tryGetPrincipal } from '../access/authenticate';
import { loggedPrincipalId, type Principal } from '../access/principal';

const loggedIdOf = (p: Principal | undefined): string | undefined => (p ? loggedPrincipalId(p) : undefined);

const TRACE_LOCAL = 'trace';
const ROUTE_LOCAL = 'routePattern';
const STARTED_LOCAL = 'accessLogStartedAt';
const FAILURE_LOGGED_LOCAL = 'accessLogFailureLogged';
// A caller's own request id is echoed when it is a plain token; anything else could smuggle text into our logs.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The W3C trace and the request id of one request. */
export interface RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly requestId: string;
}

/** The request's trace, set by `traceRequests` (the first middleware); undefined before it ran. */
export function tryGetRequestTrace(res: Pick<Response, 'locals'>): RequestTrace | undefined {
  return res.locals[TRACE_LOCAL] as RequestTrace | undefined;
}

/** The request's trace; throws when `traceRequests` has not run. */
export function getRequestTrace(res: Pick<Response, 'locals'>): RequestTrace {
  const t = tryGetRequestTrace(res);
  if (!t) {
    throw new Error('getRequestTrace() called before the traceRequests middleware');
  }
  return t;
}

/**
 * Accepts a W3C `traceparent` (or starts a trace), and answers with `traceresponse` (W3C Trace Context Level 2) and
 * `X-Request-Id`. With OpenTelemetry on, the HTTP instrumentation has already continued the caller's trace and its
 * server span is the one reported; off, the caller's trace id is kept with a span id of our own.
 */
export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    const parent = parseTraceparent(req.get('traceparent'));
    const active = tryGetActiveSpanIds();
    const incomingId = req.get('x-request-id');
    const trace: RequestTrace = {
      traceId: active?.traceId ?? parent?.traceId ?? newTraceId(),
      spanId: active?.spanId ?? newSpanId(),
      requestId: incomingId !== undefined && REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
    };
    res.locals[TRACE_LOCAL] = trace;
    observeRoutePatterns(req);
    res.setHeader('traceresponse', formatTraceparent(trace.traceId, trace.spanId, parent?.flags ?? '01'));
    res.setHeader('x-request-id', trace.requestId);
    next();
  };
}

/**
 * The route pattern that answered (`/his/v1/events/:id`), never the path itself: paths and query strings can hold
 * ids and BSNs (`?patient:identifier=…|111222333`). `unmatched` when no route did (a 404, or a 401 before routing).
 */
export function routeOf(res: Pick<Response, 'locals'>): string {
  const pattern: unknown = res.locals[ROUTE_LOCAL];
  return typeof pattern === 'string' ? pattern : 'unmatched';
}

/** Where the `route` accessor keeps the value Express assigns. */
const ROUTE_VALUE = Symbol('route');

/** The request prototypes (an app's `request`) that already observe `route`. */
const observedPrototypes = new WeakSet<object>();

type RouteObservedRequest = Request & { [ROUTE_VALUE]?: unknown };

/**
 * Express sets `req.route` when a route matches, while `req.baseUrl` still holds its router's mount path; by the time
 * the response is finished (an error handled outside the router) the mount path is gone. So the assignment itself is
 * observed, and the last route matched wins. The accessor goes on the app's request prototype, once: defining it on
 * every request cost a measurable share of a small request's CPU. A mounted sub-app's prototype inherits it.
 */
function observeRoutePatterns(req: Request): void {
  const prototype = Object.getPrototypeOf(req) as object;
  if (observedPrototypes.has(prototype)) {
    return;
  }
  observedPrototypes.add(prototype);
  Object.defineProperty(prototype, 'route', {
    configurable: true,
    get(this: RouteObservedRequest): unknown {
      return this[ROUTE_VALUE];
    },
    set(this: RouteObservedRequest, value: unknown) {
      this[ROUTE_VALUE] = value;
      const path = (value as { path?: unknown } | undefined)?.path;
      if (typeof path === 'string' && this.res) {
        this.res.locals[ROUTE_LOCAL] = `${this.baseUrl}${path}`;
      }
    },
  });
}

/**
 * One access log line per request (pino-http), written when the response is finished: method, route pattern,
 * status, duration, principal id, trace id and request id. Never bodies, headers, paths or query strings.
 */
export function accessLog(log: Logger): RequestHandler {
  const line = (req: Request, res: Response, durationMs: number) => {
    const trace = tryGetRequestTrace(res);
    return {
      method: req.method,
      route: routeOf(res),
      status: res.statusCode,
      durationMs: Math.round(durationMs * 10) / 10,
      principal: loggedIdOf(tryGetPrincipal(res)),
      traceId: trace?.traceId,
      requestId: trace?.requestId,
    };
  };
  const httpLog = pinoHttp({
    logger: log,
    quietReqLogger: true,
    quietResLogger: true,
    genReqId: (_req, res) => tryGetRequestTrace(res as Response)?.requestId ?? randomUUID(),
    customLogLevel: (_req, res, err) => accessLevelOf(res.statusCode, !!err),
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request',
    customSuccessObject: (req, res, val: { responseTime?: number }) =>
      line(req as Request, res as Response, val.responseTime ?? 0),
    customErrorObject: (req, res, _err, val: { responseTime?: number }) =>
      line(req as Request, res as Response, val.responseTime ?? 0),
  });
  if (log.isLevelEnabled('info')) {
    return httpLog;
  }
  // Above info (LOG_LEVEL=warn in production) only failed requests are logged. pino-http would still make a child
  // logger per request (its bindings serialised and redacted) for lines that are never written, a measurable part
  // of a small request's CPU; the same error lines come from listeners instead, shared by all requests.
  function logFailure(res: Response, aborted: boolean): void {
    if (res.locals[FAILURE_LOGGED_LOCAL] === true || (!aborted && res.statusCode < 500)) {
      return;
    }
    res.locals[FAILURE_LOGGED_LOCAL] = true;
    const level = accessLevelOf(aborted ? 0 : res.statusCode, aborted);
    log[level](line(res.req, res, performance.now() - (res.locals[STARTED_LOCAL] as number)), 'request');
  }
  function onFinish(this: Response): void {
    logFailure(this, false);
  }
  function onClose(this: Response): void {
    logFailure(this, !this.writableFinished);
  }
  return (_req, res, next) => {
    res.locals[STARTED_LOCAL] = performance.now();
    res.on('finish', onFinish);
    res.on('close', onClose);
    next();
  };
}

/**
 * An access line's level: a 503 is a request refused while something it needs is away (PostgreSQL, Redis, an
 * issuer's key set), an expected answer: `warn`, the outage itself being logged once (OutageLog). Any other 5xx, or
 * a response that failed, is `error`.
 */
function accessLevelOf(status: number, failed: boolean): 'info' | 'warn' | 'error' {
  if (status === 503) {
    return 'warn';
  }
  return failed || status >= 500 ? 'error' : 'info';
}
