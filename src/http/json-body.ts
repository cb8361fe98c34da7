import { OperationOutcomeError } from '@medplum/core';
import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { unsupportedMediaType } from '../kernel/fhir/outcomes';
import {
  FHIR_JSON_MEDIA_TYPES,
  isFhirJsonContentType,
  SERVED_FHIR_VERSION_PARAMETER,
} from '../kernel/fhir/media-types';
import { noteInvalidUtf8 } from './text-guard';

/** The media types of a JSON body (the routes' own and the HIS dialects'); a FHIR client sends the second. */
export const JSON_MEDIA_TYPES = ['application/json', 'application/fhir+json'] as const;

/** What the JSON body parser reads (app.ts): JSON, and a FHIR resource by every name (`POST /fhir/Task` takes them). */
export const PARSED_JSON_MEDIA_TYPES = [...new Set<string>([...JSON_MEDIA_TYPES, ...FHIR_JSON_MEDIA_TYPES])];

const JSON_TYPE = /^\s*application\/(fhir\+)?json\s*(;|$)/i;

/** Whether a media type (without parameters) is one the JSON body parser reads. */
export function isJsonMediaType(type: string): boolean {
  return (JSON_MEDIA_TYPES as readonly string[]).includes(type);
}

/**
 * The media types of the HIS dialects that are not JSON (CSV, and any dialect added for another export): the API
 * reads them as text, so that a new dialect's media type needs no other line than the dialect's own.
 */
export function dialectTextMediaTypes(dialects: readonly { contentTypes: readonly string[] }[]): string[] {
  return [...new Set(dialects.flatMap((d) => d.contentTypes))].filter((t) => !isJsonMediaType(t));
}

/** Whether the request carries a body, whatever its media type (as `type-is` decides it). */
export function hasBody(req: Request): boolean {
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
  // The media type as the JSON parser matched it (app.ts), by a test of the header rather than `req.is`, which
  // parses it anew on the API's busiest request (`$explain`).
  const type = req.headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type)) {
    throw new OperationOutcomeError(unsupportedMediaType(type, JSON_MEDIA_TYPES));
  }
  return req.body;
}

/**
 * The body of a FHIR create: undefined without one, the resource when it comes as FHIR R4 JSON by any name
 * (`application/fhir+json`, `application/json`, the DSTU2 `application/json+fhir` HAPI still takes; no `fhirVersion`
 * or 4.0), else 415 naming Content-Type: of another type it cannot be read, of another version it would be misread.
 */
export function fhirResourceBodyOf(req: Request): unknown {
  if (!hasBody(req)) {
    return undefined;
  }
  const type = req.headers['content-type'];
  if (type === undefined || !isFhirJsonContentType(type)) {
    throw new OperationOutcomeError(
      unsupportedMediaType(type, [...FHIR_JSON_MEDIA_TYPES, `any of them with ${SERVED_FHIR_VERSION_PARAMETER}`]),
    );
  }
  return req.body;
}

/** The media types `readSmallJsonBody` reads, as sent: the JSON parser of app.ts reads each of them the same way. */
const PLAIN_JSON_CONTENT_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);

/** The most `readSmallJsonBody` reads: a larger body goes to the app's parser, as one of unknown length does. */
export const SMALL_JSON_BODY_BYTES = 16 * 1024;

/**
 * Whether the request's body is one `readSmallJsonBody` reads as app.ts's JSON parser (body-parser) would: JSON in
 * UTF-8 by its media type as sent, not compressed, of a length given and within `limitBytes` and
 * SMALL_JSON_BODY_BYTES. Decided from the headers alone.
 */
export function isSmallJsonBody(req: IncomingMessage, limitBytes: number): boolean {
  const { headers } = req;
  const type = headers['content-type'];
  const length = headers['content-length'];
  return (
    type !== undefined &&
    PLAIN_JSON_CONTENT_TYPES.has(type) &&
    headers['content-encoding'] === undefined &&
    headers['transfer-encoding'] === undefined &&
    length !== undefined &&
    /^[1-9]\d{0,5}$/.test(length) &&
    Number(length) <= Math.min(limitBytes, SMALL_JSON_BODY_BYTES)
  );
}

/** An error as body-parser passes it: the error handler answers by its `type` (error-handler.ts). */
function bodyError(status: number, type: string, message: string): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose: true, type });
}

/**
 * Reads a body that `isSmallJsonBody` took into `req.body` as app.ts's JSON parser would (body-parser with
 * `strict: false` and `noteInvalidUtf8` as `verify`): a byte-order mark dropped, invalid UTF-8 noted, malformed JSON
 * and a request aborted (Node destroys it with an error) passed on as body-parser's errors. Without its stream of
 * decoders and type checks.
 */
export const readSmallJsonBody: RequestHandler = (req, res, next) => {
  const parse = (buf: Buffer): void => {
    noteInvalidUtf8(req, res, buf, 'utf-8');
    const text = buf.toString('utf8');
    // iconv-lite, which body-parser decodes with, drops a leading byte-order mark.
    const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    try {
      req.body = json.length === 0 ? {} : (JSON.parse(json) as unknown);
    } catch {
      next(bodyError(400, 'entity.parse.failed', 'Malformed JSON body'));
      return;
    }
    next();
  };
  // Usually the whole body has arrived with the headers, and waits in the stream's buffer: taken at once, without
  // listeners. `read()` returns all that is buffered, in one buffer (the stream's end follows, with nothing more).
  if (req.readableLength > 0 && req.readableLength === Number(req.headers['content-length'])) {
    parse(req.read() as Buffer);
    return;
  }
  const chunks: Buffer[] = [];
  let settled = false;
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.once('error', () => {
    if (!settled) {
      settled = true;
      next(bodyError(400, 'request.aborted', 'request aborted'));
    }
  });
  req.once('end', () => {
    if (!settled) {
      settled = true;
      parse(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    }
  });
};
