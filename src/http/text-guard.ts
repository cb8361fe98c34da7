import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { OperationOutcomeError } from '@medplum/core';
import type { Request, RequestHandler } from 'express';
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
/**
 * The largest form body of a FHIR POST `_search`: what a GET's URL can carry (Node's 16 kB of request headers). A
 * search is recorded with its query (audit-events.ts), and a few thousand ORed values are no search anyone needs.
 */
export const SEARCH_FORM_BODY_LIMIT = '16kb';
export const SEARCH_FORM_BODY_BYTES = 16 * 1024;

/** Marks a request whose raw body is not valid UTF-8; pass as `verify` to the body parsers. */
export function noteInvalidUtf8(req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void {
  if ((encoding === 'utf-8' || encoding === 'utf8') && !isUtf8(buf)) {
    (req as IncomingMessage & { invalidUtf8?: boolean }).invalidUtf8 = true;
  }
}

/** Express middleware: 400 naming the first query parameter, path segment or body field that cannot be stored. */
export function rejectUnstorableText(): RequestHandler {
  return (req, _res, next) => {
    const where = badUrlPart(req.originalUrl) ?? badBodyPart(req);
    if (where !== undefined) {
      throw badText(where);
    }
    next();
  };
}

/**
 * `rejectUnstorableText` for a body read after the request passed it (app.ts reads a credentialed request's body only
 * once the credential holds): the body alone, its URL having been checked by then.
 */
export function rejectUnstorableBody(): RequestHandler {
  return (req, _res, next) => {
    const where = badBodyPart(req);
    if (where !== undefined) {
      throw badText(where);
    }
    next();
  };
}

function badText(where: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequestIssues([fieldIssue(`${where} ${BAD_TEXT}`, where)]));
}

function badUrlPart(url: string): string | undefined {
  return badQueryParameter(url) ?? badPathSegment(url);
}

/** The form body's parameter, or the body field, that cannot be stored (a body not valid UTF-8: `body`). */
function badBodyPart(req: Request): string | undefined {
  const form = typeof req.body === 'string' && req.is(FORM_MEDIA_TYPE) ? req.body : undefined;
  return (
    (form !== undefined ? badQueryParameter(`?${form}`) : undefined) ??
    ((req as { invalidUtf8?: boolean }).invalidUtf8
      ? (badBodyField(req.body, hasReplacementChar) ?? 'body')
      : undefined) ??
    badBodyField(req.body, isUnstorable)
  );
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

/**
 * How deep a JSON body may nest: far beyond any event, status update or FHIR resource (a Bundle with contained
 * resources and nested extensions stays under 20), and well within what the code that reads a body may recurse.
 * A deeper body is a 400 naming `body`, before any route or the authentication sees it.
 */
export const MAX_BODY_DEPTH = 100;

/**
 * A value still to look at in `badBodyField`, or (`isName`) the field name `at` of the object `parent` holds. Where
 * it lies is kept as its parent and its place there, and written out as a path only for the one reported: the
 * checks of a clean body (nearly every one) make no path strings.
 */
interface Pending {
  readonly value: unknown;
  /** The entry of the object or array this value is in; undefined for the body itself. */
  readonly parent: Pending | undefined;
  /** Its field name or index in the parent. */
  readonly at: string | number;
  readonly depth: number;
  readonly isName: boolean;
}

/** Where an entry lies, as `badBodyField` names it: `body.guardians[1].id`. */
function pathOf(entry: Pending | undefined): string {
  const steps: string[] = [];
  for (let e = entry; e?.parent !== undefined; e = e.parent) {
    steps.push(typeof e.at === 'number' ? `[${e.at}]` : `.${e.at}`);
  }
  return `body${steps.reverse().join('')}`;
}

/**
 * The first string or key in a parsed body matching `bad`, as a FHIRPath-like expression (`body.guardians[1].id`),
 * in document order. Walked with a list of its own, not recursion: a body of a megabyte may nest 500,000 levels,
 * which overflowed the stack (a 500 to anyone). Throws the 400 for a body nested deeper than MAX_BODY_DEPTH.
 */
function badBodyField(body: unknown, bad: (s: string) => boolean): string | undefined {
  const pending: Pending[] = [{ value: body, parent: undefined, at: 'body', depth: 0, isName: false }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, depth } = next;
    if (next.isName) {
      if (bad(next.at as string)) {
        return `${pathOf(next.parent)} (a field name)`;
      }
    } else if (typeof value === 'string') {
      if (bad(value)) {
        return pathOf(next);
      }
    } else if (value && typeof value === 'object') {
      if (depth >= MAX_BODY_DEPTH) {
        throw new OperationOutcomeError(
          badRequestIssues([fieldIssue(`body is nested deeper than ${MAX_BODY_DEPTH} levels`, 'body')]),
        );
      }
      // Pushed last to first, so that the first is looked at (with all below it) first; a field's name before it.
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) {
          pending.push({ value: value[i] as unknown, parent: next, at: i, depth: depth + 1, isName: false });
        }
      } else {
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record);
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i] as string;
          pending.push({ value: record[k], parent: next, at: k, depth: depth + 1, isName: false });
          pending.push({ value: undefined, parent: next, at: k, depth, isName: true });
        }
      }
    }
  }
  return undefined;
}
