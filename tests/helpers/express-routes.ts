import type { Express, Router } from 'express';

/** The parts of Express's (5.x) router that `expressRoutes` reads. */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | string[];
}

function walk(stack: readonly Layer[], prefix: string): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/\\/g, '').replace(/:(\w+)/g, '{$1}');
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => `${m.toUpperCase()} ${path}`);
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return walk(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

/** Every route an Express app serves, as `METHOD /openapi/{style}`, found by walking its router stack. */
export function expressRoutes(app: Express): string[] {
  return walk((app as unknown as { router: Router & { stack: Layer[] } }).router.stack, '');
}
