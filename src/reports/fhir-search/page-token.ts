import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { z } from 'zod';

/**
 * An opaque page token: base64url JSON of a sort key, checked against the provider's schema on the way back, so a
 * token another server (or a client) made is a 400 rather than a query on arbitrary values. Tokens hold sort keys
 * and moments only, never personal data: they end up in URLs.
 */
export function encodePageToken(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodePageToken<T>(token: string, schema: z.ZodType<T>): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const r = schema.safeParse(parsed);
  if (!r.success) {
    throw new OperationOutcomeError(badRequest('_page: not a page token from this server', '_page'));
  }
  return r.data;
}
