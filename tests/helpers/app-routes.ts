import { createApp } from '../../src/http/app';
import type { ConsoleOptions } from '../../src/http/console/console-router';
import { servedRoutes, type ServedRoute } from './express-routes';
import type { TestApp } from './test-runtime';

/**
 * Every route the product's app serves, console included, with its handlers: an app made on `app`'s context for its
 * routes alone (no one authenticated, no rate limit, no console session), never served.
 */
export function servedRoutesOf(app: TestApp): ServedRoute[] {
  const console: ConsoleOptions = {
    sessions: app.rt.ctx as never,
    verifyCredential: () => Promise.reject(new Error('not signed in here')),
    isCurrent: () => false,
  };
  return servedRoutes(
    createApp(app.rt.ctx, {
      authenticate: (_req, _res, next) => next(),
      rateLimit: (_req, _res, next) => next(),
      publicBaseUrl: () => app.url,
      console,
    }),
  );
}
