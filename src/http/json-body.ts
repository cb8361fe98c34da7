import { OperationOutcomeError } from '@medplum/core';
import type { Request } from 'express';
import { unsupportedMediaType } from '../kernel/fhir/outcomes';

/** The media types the JSON body parser reads (app.ts); a FHIR client sends the second. */
export const JSON_MEDIA_TYPES = ['application/json', 'application/fhir+json'] as const;

/** Whether the request carries a body, whatever its media type (as `type-is` decides it). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * The body of a route that takes JSON only: undefined when the request has none, 415 when it has one of another
 * media type. Read as no body, a `text/plain` filter of "replay all matching" was dropped and every dead letter
 * replayed; read as a string, a form came back as a 422 about the body's type.
 */
export function jsonBodyOf(req: Request): unknown {
  if (!hasBody(req)) {
    return undefined;
  }
  if (!req.is([...JSON_MEDIA_TYPES])) {
    throw new OperationOutcomeError(unsupportedMediaType(req.get('content-type'), JSON_MEDIA_TYPES));
  }
  return req.body;
}
