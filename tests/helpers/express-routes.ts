import type { Express, Router } from 'express';

/** The parts of Express's (5.x) router that `expressRoutes` reads. */
interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: unknown }[] };
  handle: { stack?: Layer[] };
  rawPath?: string | string[];
}

/** One route an Express app serves: `METHOD /openapi/{style}`, and its handlers. */
export interface ServedRoute {
  readonly route: string;
  readonly handlers: readonly unknown[];
}

function walk(stack: readonly Layer[], prefix: string): ServedRoute[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/\\/g, '').replace(/:(\w+)/g, '{$1}');
      const handlers = layer.route.stack.map((l) => l.handle);
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => ({ route: `${m.toUpperCase()} ${path}`, handlers }));
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return walk(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

/** Every route an Express app serves, with its handlers, found by walking its router stack. */
export function servedRoutes(app: Express): ServedRoute[] {
  return walk((app as unknown as { router: Router & { stack: Layer[] } }).router.stack, '');
}

/** Every route an Express app serves, as `METHOD /openapi/{style}`. */
export function expressRoutes(app: Express): string[] {
  return servedRoutes(app).map((r) => r.route);
}
