import { OperationOutcomeError } from '@medplum/core';
import type { RequestHandler } from 'express';
import { methodNotAllowed } from '../kernel/fhir/outcomes';

/**
 * After every router: a request whose path is a known route but whose method is not answers 405 with `Allow`
 * (rather than 404). The known routes are the OpenAPI document's, which a test keeps equal to Express's.
 */
export function methodNotAllowedHandler(routes: readonly { method: string; path: string }[]): RequestHandler {
  const patterns = routes.map((r) => ({
    method: r.method.toUpperCase(),
    regex: new RegExp(
      `^${r.path
        .split(/\{[^}]+\}/)
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}$`,
    ),
  }));
  return (req, res, next) => {
    const allowed = new Set(patterns.filter((p) => p.regex.test(req.path)).map((p) => p.method));
    if (allowed.size === 0) {
      next();
      return;
    }
    if (allowed.has('GET')) {
      allowed.add('HEAD');
    }
    const allow = [...allowed].sort();
    res.set('Allow', allow.join(', '));
    throw new OperationOutcomeError(methodNotAllowed(req.method, allow));
  };
}
