import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { ApiKeyStore } from '../../src/access/api-keys';
import { createAuthenticator } from '../../src/access/authenticate';
import { createRateLimiter } from '../../src/access/rate-limit';
import type { PipelineContext } from '../../src/event/context';
import { createApp } from '../../src/http/app';
import { requestListener } from '../../src/http/lean-route';
import type { TestApp } from './test-runtime';

/**
 * Apps of the test app's context, made and served as the tests of a route of the app itself and its lean route
 * compare them (explain-route.test.ts, his-events-route.test.ts): with the route or without it (its requests then take
 * the router they took before), served as runtime.ts serves the app (lean route first) or as Express serves it.
 */
export interface ComparedApps {
  /**
   * An app of the test app's context (or the one `ctx` makes of it) with its own authenticator and a rate limit of
   * `burst` (1000 a second, or nearly none after the burst), with the route of the app at `route` or (`withRoute`
   * false) without it.
   */
  readonly appFor: (
    withRoute: boolean,
    opts?: { burst?: number; ctx?: (ctx: PipelineContext) => PipelineContext },
  ) => express.Express;
  /** Serves a listener on a port of its own until the describe block ends; its base URL. */
  readonly serve: (listener: http.RequestListener) => Promise<string>;
  /** The app as runtime.ts serves it (lean routes first), calling `routed` for each request that reaches its router. */
  readonly served: (made: express.Express, routed: () => void) => http.RequestListener;
}

/** For a describe block: see ComparedApps. Read the test app inside the tests (`app` of `useTestApp`). */
export function useComparedApps(app: TestApp, route: string): ComparedApps {
  const servers: http.Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });
  return {
    appFor: (withRoute, opts = {}) => {
      const burst = opts.burst ?? 1000;
      const made = createApp(opts.ctx ? opts.ctx(app.rt.ctx) : app.rt.ctx, {
        authenticate: createAuthenticator({
          apiKeys: ApiKeyStore.fromFile(app.testEnv.env.API_KEYS_FILE!),
          issuers: [],
          clockSkewSeconds: 60,
        }),
        rateLimit: createRateLimiter({ ratePerSecond: burst === 1000 ? 1000 : 0.001, burst }),
        publicBaseUrl: () => app.url,
      });
      const stack = (made as unknown as { router: { stack: { route?: { path: string } }[] } }).router.stack;
      const i = stack.findIndex((layer) => layer.route?.path === route);
      expect(i).toBeGreaterThan(-1);
      if (!withRoute) {
        stack.splice(i, 1);
      }
      return made;
    },
    serve: async (listener) => {
      const server = http.createServer(listener);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    served: (made, routed) => {
      const handled = made as unknown as { handle: (...args: unknown[]) => void };
      const handle = handled.handle.bind(made);
      handled.handle = (...args) => {
        routed();
        handle(...args);
      };
      return requestListener(made);
    },
  };
}

/** The AuditEvents, in any chain, that `act` recorded: each with its tenant, as stored (JSON text). */
export async function auditRowsOf(
  app: TestApp,
  act: () => Promise<unknown>,
): Promise<{ tenant: string; resource: string }[]> {
  const heads = await app.rt.ctx.db.query<{ tenant: string; seq: string }>(
    'SELECT tenant, max(seq)::text AS seq FROM audit_event GROUP BY tenant',
  );
  const before = new Map(heads.map((h) => [h.tenant, Number(h.seq)]));
  await act();
  const rows = await app.rt.ctx.db.query<{ tenant: string; seq: string; resource: string }>(
    'SELECT tenant, seq::text AS seq, resource::text AS resource FROM audit_event ORDER BY tenant, seq',
  );
  return rows
    .filter((r) => Number(r.seq) > (before.get(r.tenant) ?? 0))
    .map(({ tenant, resource }) => ({ tenant, resource }));
}
