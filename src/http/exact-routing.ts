import { notFound, OperationOutcomeError } from '@medplum/core';
import express, { Router, type RequestHandler } from 'express';

/**
 * Routes match a path only as it is spelled: case-sensitive, no trailing slash. Express's defaults serve /METRICS and
 * /metrics/ as /metrics, so a proxy rule for the exact path (nginx `location = /metrics`) or a prefix (`/admin/`) let
 * the other spellings through (report-xpen 2). Every Router is made here (a lint rule keeps it so).
 */
const EXACT = { caseSensitive: true, strict: true } as const;

/** A Router whose routes and mounts match exactly (see `exactApp`). */
export function exactRouter(): Router {
  return Router(EXACT);
}

/**
 * A path that ends in `/` is no route's: answered 404 before any router. Strict routing alone does not see it where a
 * router is mounted (`/console/` reaches the console's router as `/`, as `/console` does).
 */
export const trailingSlashNotFound: RequestHandler = (req, _res, next) => {
  if (req.path.length > 1 && req.path.endsWith('/')) {
    throw new OperationOutcomeError(notFound);
  }
  next();
};

/**
 * An Express app whose own router matches exactly, as `exactRouter`'s do. Mount `trailingSlashNotFound` before its
 * routers (after the access log, so that the 404 has its line).
 */
export function exactApp(): express.Express {
  const app = express();
  // Before the first route: the app's router is made, with these settings, when first used.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  return app;
}
