import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { OperationOutcomeError } from '@medplum/core';
import type { RequestHandler } from 'express';
import { badRequestIssues, fieldIssue } from '../kernel/fhir/outcomes';

/**
 * The one check that every text a request brings (query, path, body) can be stored: PostgreSQL refuses NUL bytes
 * (22021) and lone UTF-16 surrogates in jsonb (22P05), and invalid UTF-8 is silently turned into U+FFFD by the
 * decoders. Without this gate those surfaced as 500s deep in a route; here they are a 400 naming the parameter.
 */

/** A UTF-16 surrogate without its partner (what a broken `\\uD83D` escape decodes to in JavaScript). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const isUnstorable = (s: string): boolean => s.includes('\u0000') || LONE_SURROGATE.test(s);
const hasReplacementChar = (s: string): boolean => s.includes('\uFFFD');

const BAD_TEXT = 'contains a NUL byte or invalid UTF-8, which cannot be stored';

/** FHIR's POST search sends its parameters as a form body; they are checked like a query string. */
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
export const FORM_BODY_LIMIT = '64kb';

/** Marks a request whose raw body is not valid UTF-8; pass as `verify` to the body parsers. */
export function noteInvalidUtf8(req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void {
  if ((encoding === 'utf-8' || encoding === 'utf8') && !isUtf8(buf)) {
    (req as IncomingMessage & { invalidUtf8?: boolean }).invalidUtf8 = true;
  }
}

/** Express middleware: 400 naming the first query parameter, path segment or body field that cannot be stored. */
export function rejectUnstorableText(): RequestHandler {
  return (req, _res, next) => {
    const form = typeof req.body === 'string' && req.is(FORM_MEDIA_TYPE) ? req.body : undefined;
    const where =
      badQueryParameter(req.originalUrl) ??
      (form !== undefined ? badQueryParameter(`?${form}`) : undefined) ??
      badPathSegment(req.originalUrl) ??
      ((req as { invalidUtf8?: boolean }).invalidUtf8
        ? (badBodyField(req.body, 'body', hasReplacementChar) ?? 'body')
        : undefined) ??
      badBodyField(req.body, 'body', isUnstorable);
    if (where !== undefined) {
      throw new OperationOutcomeError(badRequestIssues([fieldIssue(`${where} ${BAD_TEXT}`, where)]));
    }
    next();
  };
}

/** Decodes a URL component strictly: undefined when its escapes are not valid UTF-8. */
function decodeStrict(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function badQueryParameter(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) {
    return undefined;
  }
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const key = decodeStrict(rawKey);
    const value = eq < 0 ? '' : decodeStrict(pair.slice(eq + 1));
    if (key === undefined || isUnstorable(key)) {
      return 'query parameter name';
    }
    if (value === undefined || isUnstorable(value)) {
      return key;
    }
  }
  return undefined;
}

/** Route parameters are path segments; a bad one is named by its position and the path before it. */
function badPathSegment(url: string): string | undefined {
  const q = url.indexOf('?');
  const segments = (q < 0 ? url : url.slice(0, q)).split('/');
  for (let i = 1; i < segments.length; i++) {
    const decoded = decodeStrict(segments[i] ?? '');
    if (decoded === undefined || isUnstorable(decoded)) {
      return `path segment ${i} (after ${segments.slice(0, i).join('/') || '/'})`;
    }
  }
  return undefined;
}

/** The first string or key in a parsed body matching `bad`, as a FHIRPath-like expression (`body.guardians[1].id`). */
function badBodyField(value: unknown, path: string, bad: (s: string) => boolean): string | undefined {
  if (typeof value === 'string') {
    return bad(value) ? path : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = badBodyField(value[i] as unknown, `${path}[${i}]`, bad);
      if (found) {
        return found;
      }
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (bad(k)) {
        return `${path} (a field name)`;
      }
      const found = badBodyField(v, `${path}.${k}`, bad);
      if (found) {
        return found;
      }
    }
  }
  return undefined;
}
