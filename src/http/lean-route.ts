import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { inSequence } from './in-sequence';

/**
 * One route of the app, served without Express's router: the same handlers, in the order a request passes them in
 * the app (the middleware every request passes, then the route's own), with errors going to the same error handler.
 * The router matched the path against each layer, trimmed mount paths, decoded parameters and made a closure per
 * layer and per handler for every request: for a small request (`$explain`) that was a tenth of its CPU.
 */
export interface LeanRoute {
  /**
   * Whether a request is one this route serves as the app would, decided from its request line and headers alone,
   * before anything is read or answered: any other request goes to the app untouched.
   */
  readonly takes: (req: IncomingMessage) => boolean;
  /** The route's path as the app mounts it: `req.route` is set to that route, so its pattern is logged and counted. */
  readonly path: string;
  /** The middleware every request passes, whose work this request needs (app.ts says which may be left out). */
  readonly everyRequest: readonly RequestHandler[];
  /** The route's own handlers, as the app mounts them, but for those this route replaces (its body parser). */
  readonly handlers: readonly RequestHandler[];
  readonly errorHandler: ErrorRequestHandler;
}

const leanRoutes = new WeakMap<Express, LeanRoute[]>();

/**
 * Serves `lean` ahead of `app`'s router when the app is served with `requestListener`; after the lean routes added
 * before it (the first that takes a request serves it).
 */
export function addLeanRoute(app: Express, lean: LeanRoute): void {
  leanRoutes.set(app, [...(leanRoutes.get(app) ?? []), lean]);
}

/** The route object Express made for `path` (the app's own route, so `req.route` is what the router would set). */
function routeOf(app: Express, path: string): unknown {
  const stack = (app as unknown as { router: { stack: readonly { route?: { path: string } }[] } }).router.stack;
  const route = stack.find((layer) => layer.route?.path === path)?.route;
  if (!route) {
    throw new Error(`the app has no route ${path} for its lean route`);
  }
  return route;
}

/** The request listener of the app: its lean routes first, if it has any, then the app. */
export function requestListener(app: Express): RequestListener {
  const routes = leanRoutes.get(app);
  if (!routes) {
    return app;
  }
  const served = routes.map((lean) => ({
    takes: lean.takes,
    // Run as Express runs a layer's handlers: one passes to the next by `next()`, an error skips the rest.
    steps: inSequence(...lean.everyRequest, setRoute(routeOf(app, lean.path)), ...lean.handlers),
    errorHandler: lean.errorHandler,
  }));
  return (req: IncomingMessage, res: ServerResponse) => {
    const lean = served.find((r) => r.takes(req));
    if (!lean) {
      app(req, res);
      return;
    }
    // What Express's app.handle and router do before the first layer (x-powered-by is disabled in app.ts). The
    // prototypes are read as the request comes: a server that makes its objects with them (app-objects.ts) may have
    // been given the app after this listener was made; its objects then have them already, and nothing changes.
    const r = req as Request;
    const s = res as Response;
    r.res = s;
    s.req = r;
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    s.locals = Object.create(null) as Record<string, unknown>;
    r.baseUrl = '';
    r.originalUrl = req.url ?? '';
    r.params = {};
    lean.steps(r, s, after(lean.errorHandler, r, s));
  };
}

/** What the router does when a route matches: `req.route` (access-log.ts observes it for the route pattern). */
function setRoute(route: unknown): RequestHandler {
  return (req, _res, next) => {
    (req as { route: unknown }).route = route;
    next();
  };
}

/**
 * What follows the route's handlers: the error handler for an error (thrown, rejected, or passed to `next`); a last
 * handler that passed the request on would have met no other route in the app: a 500, as a programming error.
 */
function after(onError: ErrorRequestHandler, req: Request, res: Response): NextFunction {
  return (err?: unknown): void => {
    const error: unknown = err ?? new Error('the lean route ended without an answer');
    try {
      const returned: unknown = onError(error, req, res, ignore);
      if (returned instanceof Promise) {
        returned.catch(ignore);
      }
    } catch {
      // The error handler answers every error itself; one it throws has nowhere else to go.
    }
  };
}

function ignore(): void {
  // Nothing follows the error handler.
}
