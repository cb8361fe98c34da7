import type { NextFunction, Request } from 'express';

/**
 * What a route names, declared where the route is defined, first among its handlers:
 *
 * ```ts
 * router.get('/events/:id', names('event', 'id'), handler);
 * router.post('/$explain', names('event', { body: eventIdOf }), handler);
 * router.get('/destinations/:id/status', namesNoEvent, handler);
 * ```
 *
 * A refused request (403) is recorded where the reads of what it names go: in the named event's practice chain
 * (`refusal-audit.ts`). Most refusals come from a role check where a router is mounted, before Express has picked a
 * route, so the refusal looks the route up itself, with Express's own matching (`declaredTargetOf`), and reads the
 * declaration from it. `route-targets.test.ts` fails for a route with a path parameter that declares neither.
 */
export type TargetKind =
  /** An event (inbox row) by its id. */
  | 'event'
  /** A delivery by its id: its event. */
  | 'delivery'
  /** A status update by its id: its event. */
  | 'feedback'
  /** A referral by anything the municipality received that names it: the newest event of each referral it names. */
  | 'referral';

/** Where the target's key is: a path parameter (by name), or read from the JSON body. */
export type TargetKey = string | { readonly body: (body: unknown) => string | undefined };

export interface RouteTarget {
  readonly kind: TargetKind;
  readonly key: TargetKey;
}

const DECLARED = Symbol('routeTarget');

/**
 * A route's first handler, which only passes the request on: what it declares is read from the route. Its request is
 * `unknown` so that it adds nothing to what Express infers from the path: the route's own handlers keep `req.params`
 * as the path gives them.
 */
export type TargetDeclaration = ((req: unknown, res: unknown, next: NextFunction) => void) & {
  readonly [DECLARED]: RouteTarget | null;
};

function declaration(target: RouteTarget | null): TargetDeclaration {
  return Object.assign((_req: unknown, _res: unknown, next: NextFunction) => next(), { [DECLARED]: target });
}

/** Declares that the route names an event, a delivery or status update of one, or a referral, and where its key is. */
export function names(kind: TargetKind, key: TargetKey): TargetDeclaration {
  return declaration({ kind, key });
}

/** Declares that the route's path parameters name no event (a destination, a dialect, an AuditEvent, a file). */
export const namesNoEvent: TargetDeclaration = declaration(null);

/** The declaration among a route's handlers: a target, `null` for `namesNoEvent`, `undefined` when it has none. */
export function declarationOf(handlers: readonly unknown[]): RouteTarget | null | undefined {
  for (const h of handlers) {
    if (typeof h === 'function' && DECLARED in h) {
      return (h as TargetDeclaration)[DECLARED];
    }
  }
  return undefined;
}

/** The parts of Express's (5.x, router 2.3) router stack that `declaredTargetOf` reads. */
interface Layer {
  readonly route?: { readonly methods: Record<string, boolean>; readonly stack: readonly { handle: unknown }[] };
  readonly handle: { readonly stack?: readonly Layer[] };
  match(path: string): false | { readonly params: Record<string, string>; readonly path: string };
}

interface MatchedRoute {
  readonly handlers: readonly unknown[];
  readonly params: Readonly<Record<string, string>>;
}

function matchedRoute(stack: readonly Layer[], method: string, path: string): MatchedRoute | undefined {
  for (const layer of stack) {
    let match: ReturnType<Layer['match']>;
    try {
      match = layer.match(path);
    } catch {
      // A parameter that cannot be decoded (`%E0`): Express answers 400 for it, and it names nothing stored.
      return undefined;
    }
    if (!match) {
      continue;
    }
    if (layer.route) {
      if (layer.route.methods[method]) {
        return { handlers: layer.route.stack.map((l) => l.handle), params: match.params };
      }
    } else if (layer.handle.stack) {
      const inner = matchedRoute(layer.handle.stack, method, path.slice(match.path.length) || '/');
      if (inner) {
        return { handlers: inner.handlers, params: { ...match.params, ...inner.params } };
      }
    }
  }
  return undefined;
}

/**
 * The target the route a request is for declares, and the key the request gives it; undefined when the route names
 * none, or no route serves the request.
 */
export function declaredTargetOf(
  req: Request,
  bodyOf: (req: Request) => unknown,
): { readonly kind: TargetKind; readonly key: string | undefined } | undefined {
  const appRouter = (req.app as unknown as { router: { stack: readonly Layer[] } }).router;
  const route = matchedRoute(appRouter.stack, req.method.toLowerCase(), `${req.baseUrl}${req.path}`);
  const target = route && declarationOf(route.handlers);
  if (!target) {
    return undefined;
  }
  const key = typeof target.key === 'string' ? route.params[target.key] : target.key.body(bodyOf(req));
  return { kind: target.kind, key };
}
