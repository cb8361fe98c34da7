import type { IncomingMessage } from 'node:http';
import bytes from 'bytes';
import { notFound, OperationOutcomeError } from '@medplum/core';
import { payloadTooLarge } from '../kernel/fhir/outcomes';
import express, { type Request, type RequestHandler } from 'express';
import type { PipelineContext } from '../event/context';
import { accessLog, traceRequests } from './access-log';
import { expressTrustProxy, validClientAddress } from './client-address';
import { metricsHandler, observeRequests } from './http-metrics';
import { adminRouter } from './admin-router';
import { auditKeysHandler, auditRouter } from './audit-router';
import { consentRouter, EXPLAIN_ROUTE, explainHandlers } from './consent-router';
import { fhirTaskRoute } from './fhir-task-router';
import { measureRoute, monitoringRouter } from './monitoring-router';
import { municipalityRouter } from './municipality-router';
import { requireRole } from '../access/authenticate';
import { consoleErrorPages, consoleRouter, type ConsoleOptions } from './console/console-router';
import { corsFor } from './cors';
import { securityHeaders } from './security-headers';
import { docsRouter } from './docs-router';
import { errorHandler } from './error-handler';
import { zeroIntakeRefusals } from './intake-refusals';
import { exactApp, trailingSlashNotFound } from './exact-routing';
import { inSequence } from './in-sequence';
import { fhirNotServedHandler, fhirProviders, fhirRouter } from './fhir-router';
import { healthRouter } from './health-router';
import { HIS_EVENTS_ROUTE, hisRouter, postEventsHandler } from './his-router';
import { methodNotAllowedHandler } from './method-not-allowed';
import { documentedRoutes } from './openapi/document';
import { auditRefusal } from './refusal-audit';
import {
  dialectTextMediaTypes,
  hasBody,
  isSmallJsonBody,
  PARSED_JSON_MEDIA_TYPES,
  readSmallJsonBody,
} from './json-body';
import { addLeanRoute } from './lean-route';
import { DIALECTS } from '../../mappings/his/index';
import {
  FORM_BODY_LIMIT,
  FORM_MEDIA_TYPE,
  noteInvalidUtf8,
  rejectUnstorableBody,
  rejectUnstorableText,
} from './text-guard';

export interface AppOptions {
  /** Sets the principal or fails with 401. */
  readonly authenticate: RequestHandler;
  /** Per-principal rate limit, after authentication. */
  readonly rateLimit: RequestHandler;
  /** Whether the API key file last read was valid (/health/ready says `apiKeys: "invalid"` when not). */
  readonly apiKeysFileValid?: (() => boolean) | undefined;
  /** Where clients reach the API (`PUBLIC_BASE_URL`, else derived from HOST and the bound port): links use it. */
  readonly publicBaseUrl: () => string;
  /** The web console at /console; absent, it is not served. */
  readonly console?: ConsoleOptions | undefined;
}

/**
 * How much of a JSON or event body is read from a request without a credential (`Authorization` or `X-API-Key`).
 * Every route that takes one authenticates by those headers, so such a body can only be refused (401, 404):
 * BODY_LIMIT's megabyte parse and text check would be work done for anyone. The console's forms (cookie session) have
 * limits of their own. A request with a credential has its body read only once the credential holds
 * (`parseAfterAuthentication`).
 */
export const ANONYMOUS_BODY_LIMIT = '16kb';

/** The parsers of JSON and HIS event bodies (each dialect's text media types) up to `limit`. */
function bodyParsers(limit: string): RequestHandler {
  const verify = noteInvalidUtf8;
  // A body empty once decompressed (a gzip of nothing) is no body, as an empty one that was not compressed is; the
  // JSON parser would make it `{}`, an event without an eventType (report-xregress5 L1).
  const empty = new WeakSet<object>();
  const json = express.json({
    limit,
    strict: false,
    type: PARSED_JSON_MEDIA_TYPES,
    verify: (req, res, buf, encoding) => {
      if (buf.length === 0) {
        empty.add(req);
      }
      verify(req, res, buf, encoding);
    },
  });
  const text = express.text({ limit, type: dialectTextMediaTypes(DIALECTS), verify });
  return (req, res, next) =>
    json(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      if (empty.has(req)) {
        req.body = undefined;
      }
      text(req, res, next);
    });
}

/**
 * The form body (FHIR POST _search, the audit overview's POST, the console's forms) as text, up to its own limit
 * (FORM_BODY_LIMIT, whatever BODY_LIMIT says), with a 413 that names that limit.
 */
function formParser(): RequestHandler {
  const parse = express.text({ limit: FORM_BODY_LIMIT, type: [FORM_MEDIA_TYPE], verify: noteInvalidUtf8 });
  return tooLargeSaying(parse, `${FORM_BODY_LIMIT} for a form body`);
}

/** Whether the request carries a credential, valid or not: what the authenticator will check. */
function hasCredential(req: Request): boolean {
  return req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined;
}

/**
 * The body of an authenticated request, up to `limit` (a form body up to FORM_BODY_LIMIT), with the text check:
 * mounted after the authenticator and the per-principal rate limit, so that an invalid or throttled credential is
 * refused before a megabyte is read and parsed. A request with no body, or one read already (without a credential,
 * up to the anonymous limit), is passed.
 */
function parseAfterAuthentication(limit: string): RequestHandler {
  const json = bodyParsers(limit);
  const form = formParser();
  const parse: RequestHandler = (req, res, next) =>
    json(req, res, (err?: unknown) => (err ? next(err) : form(req, res, next)));
  // The URL passed the guard before authentication (createApp mounts it for every request); the body is new.
  const guard = rejectUnstorableBody();
  return (req, res, next) => {
    if (!hasCredential(req) || !hasBody(req)) {
      next();
      return;
    }
    parse(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      // Called back by the parser, outside Express's own catch: what the guard throws is passed on here.
      try {
        guard(req, res, next);
      } catch (e) {
        next(e);
      }
    });
  };
}

/** `parse`, with its 413 saying which limit applied (`limit`, with why), not BODY_LIMIT's. */
function tooLargeSaying(parse: RequestHandler, limit: string): RequestHandler {
  return (req, res, next) =>
    parse(req, res, (err?: unknown) =>
      (err as { type?: string } | undefined)?.type === 'entity.too.large'
        ? next(new OperationOutcomeError(payloadTooLarge(limit)))
        : next(err),
    );
}

/**
 * Everything below the health and metrics routes may answer with a child's data, or with who may see it: no cache on
 * the way (a proxy, the browser's disk) may keep it. Routes that serve files of their own (console and docs assets)
 * set their own. Node's `setHeader`, which Express's `res.set` calls for a text value after checks for other kinds.
 */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** The Express app: security headers, body limits, routers per audience, and the one error handler. */
export function createApp(ctx: PipelineContext, opts: AppOptions): express.Express {
  const app = exactApp();
  app.disable('x-powered-by');
  // X-Forwarded-For is believed only from the proxies TRUST_PROXY names (by default one on this host); what it says
  // must still be an address.
  app.set('trust proxy', expressTrustProxy(ctx.config.TRUST_PROXY));
  const limit = ctx.config.BODY_LIMIT;
  const anonymousBody = tooLargeSaying(
    bodyParsers(ANONYMOUS_BODY_LIMIT),
    `${ANONYMOUS_BODY_LIMIT} for a request without credentials: send the Authorization header`,
  );
  // Form bodies too: without a credential they are the console's (cookie session, CSRF token in the form), read here
  // so the guard sees them. With one, they are read after authentication, as JSON is (`parseAfterAuthentication`).
  const form = formParser();
  // What every request passes, in this order, as one layer (in-sequence.ts). The first six are what a request of
  // the lean route (below) needs of them: the rest do nothing for it.
  const answered = [
    validClientAddress(ctx.log),
    traceRequests(),
    accessLog(ctx.log),
    observeRequests(ctx.metrics),
    // Helmet's headers, with one Content-Security-Policy of our own (security-headers.ts).
    securityHeaders(),
    corsFor(ctx.config.CORS_ORIGINS),
  ];
  app.use(
    inSequence(
      ...answered,
      trailingSlashNotFound,
      (req, res, next) =>
        hasCredential(req)
          ? next()
          : anonymousBody(req, res, (err?: unknown) => (err ? next(err) : form(req, res, next))),
      rejectUnstorableText(),
    ),
  );

  // The body last: a request whose credential is refused (or throttled) has none of it parsed. One layer where it is
  // mounted (in-sequence.ts).
  const authenticated = [inSequence(opts.authenticate, opts.rateLimit, parseAfterAuthentication(limit))];
  // `$explain` is the busiest read: its POST is a route of the app itself, first, with the same layers in the same
  // order as under `/policy/v1` below (no-store, authentication, the route's handlers). On its way through the
  // router it is then matched against one layer instead of five, and passes no nested router. Other methods on its
  // path (GET: 405, OPTIONS) go on to `/policy/v1` as before. explain-route.test.ts compares the two.
  const explain = explainHandlers(ctx);
  app.post(EXPLAIN_ROUTE, noStore, ...authenticated, ...explain);
  // The busiest write likewise: a practice's events, with the layers `/his/v1` below gives them. The his router keeps
  // its own POST route for the other methods on the path (GET lists, OPTIONS). his-events-route.test.ts compares.
  const postEvents = postEventsHandler(ctx);
  app.post(HIS_EVENTS_ROUTE, noStore, ...authenticated, postEvents);
  app.use('/health', healthRouter(ctx, opts.apiKeysFileValid));
  app.get('/metrics', metricsHandler(ctx.metrics));
  app.use(noStore);
  // First among the routers: a request mounted here by prefix is not matched against every route of the routers
  // mounted without one (monitoring, audit) on its way.
  app.use('/policy/v1', ...authenticated, consentRouter(ctx));
  // Each route checks its own roles, so that a 403 names the roles of the route called (POST: practice only).
  app.use('/his/v1', ...authenticated, hisRouter(ctx, postEvents));
  app.use('/admin/v1', ...authenticated, requireRole('operator'), adminRouter(ctx));
  // Before the municipality router: auditors may read the monitoring report too.
  app.use('/municipality/v1/monitoring', ...authenticated);
  app.use(monitoringRouter(ctx));
  // Each route checks its own roles, so a refused caller is told the roles of the route it called.
  app.use('/municipality/v1', ...authenticated, municipalityRouter(ctx));
  const providers = fhirProviders(ctx);
  const fhirRoutes = [measureRoute(), fhirTaskRoute(ctx, opts.publicBaseUrl)];
  app.use(
    '/fhir',
    fhirRouter(ctx, providers, { authenticated, routes: fhirRoutes, publicBaseUrl: opts.publicBaseUrl }),
  );
  // These routers define full paths; each role sees the part within its scope (checked per route).
  // The public keys that verify signed heads are public: an offline verifier needs them without an API key.
  app.get('/audit/v1/keys', auditKeysHandler(ctx));
  app.use('/audit/v1', ...authenticated);
  app.use(auditRouter(ctx));
  if (opts.console) {
    app.use('/console', consoleRouter(ctx, opts.console));
    // What the layers above refuse under /console (its router never sees it) is a console page too.
    app.use('/console', consoleErrorPages(ctx));
  }

  app.use(docsRouter({ providers, publicBaseUrl: opts.publicBaseUrl, version: ctx.build.label }));

  app.use(methodNotAllowedHandler(documentedRoutes(providers)));
  app.use('/fhir', fhirNotServedHandler(providers, fhirRoutes));
  app.use(() => {
    throw new OperationOutcomeError(notFound);
  });
  const intakeRefused = ctx.metrics.apiGauges().intakeRefused;
  zeroIntakeRefusals(intakeRefused);
  const errors = errorHandler({
    log: ctx.log,
    bodyLimit: limit,
    onRefusal: (req, res) => auditRefusal(ctx, req, res),
    outages: ctx.outages,
    intakeRefused,
  });
  app.use(errors);
  // `$explain` once more, without the router, for the requests whose every step on the way is known from their
  // request line and headers (lean-route.ts): a POST of that path exactly, with a credential, a small JSON body and
  // no Origin. Only the body is read another way; explain-route.test.ts compares its answers with the app's.
  // BODY_LIMIT in bytes, read as body-parser reads it (the same `bytes` package).
  const bodyLimitBytes = bytes.parse(limit) ?? 0;
  addLeanRoute(app, {
    takes: (req) =>
      req.method === 'POST' &&
      req.url === EXPLAIN_URL &&
      req.headers.origin === undefined &&
      (req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined) &&
      isSmallJsonBody(req, bodyLimitBytes),
    path: EXPLAIN_ROUTE,
    everyRequest: answered,
    handlers: [noStore, opts.authenticate, opts.rateLimit, readSmallJsonBody, rejectUnstorableBody(), ...explain],
    errorHandler: errors,
  });
  // A practice's events likewise, when they come as one small JSON body (an event, or a few) to the path as the
  // route is mounted (no `?dialect=`): the rest (a large batch, CSV, a FHIR Bundle by its media type) takes the app.
  // his-events-route.test.ts compares the answers.
  addLeanRoute(app, {
    takes: (req) => req.method === 'POST' && req.url === HIS_EVENTS_ROUTE && takesLean(req, bodyLimitBytes),
    path: HIS_EVENTS_ROUTE,
    everyRequest: answered,
    handlers: [noStore, opts.authenticate, opts.rateLimit, readSmallJsonBody, rejectUnstorableBody(), postEvents],
    errorHandler: errors,
  });
  return app;
}

/**
 * What the events' lean route needs of a request beyond its request line, as `$explain`'s does: no Origin (CORS
 * answers it), a credential (checked before the body is read) and a small JSON body, which the lean route reads.
 */
function takesLean(req: IncomingMessage, bodyLimitBytes: number): boolean {
  return (
    req.headers.origin === undefined &&
    (req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined) &&
    isSmallJsonBody(req, bodyLimitBytes)
  );
}

/** The path of `$explain` as a client sends it: the one URL its lean route takes (no query string). */
const EXPLAIN_URL = '/policy/v1/$explain';
