import { badRequest, isOperationOutcome, normalizeOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import {
  httpStatusOf,
  payloadTooLarge,
  serviceUnavailable,
  unsupportedEncoding,
  withStatusId,
} from '../kernel/fhir/outcomes';
import { isOutageError, type OutageLog } from '../kernel/outage';
import { errorFields, unexpectedErrorFields } from '../kernel/logger';
import { routeOf, tryGetRequestTrace } from './access-log';
import { intakeRefusalOf } from './intake-refusals';

export interface ErrorHandlerOptions {
  readonly log: Logger;
  /** BODY_LIMIT, named in the answer to a body over it. */
  readonly bodyLimit: string;
  /** Audits a 403 (the API); a server without access control has none. */
  readonly onRefusal?: (req: Request, res: Response) => Promise<void>;
  /** Told of every outage error, so that the outage is logged once, not once per refused request. */
  readonly outages: Pick<OutageLog, 'noticed'>;
  /** Counts intake refused for a cause of jeugdbrug's own (intake-refusals.ts); a server without intake has none. */
  readonly intakeRefused?: Counter<'route' | 'reason'>;
}

/**
 * The one place that writes error responses: anything thrown becomes an OperationOutcome with the right status.
 * Unexpected errors answer 500 with a generic text; their details go to the log, never to the client. A 503 (a
 * dependency away) is expected operation: its access line (warn) is all it logs, and the outage is logged once.
 */
export function errorHandler({
  log,
  bodyLimit,
  onRefusal,
  outages,
  intakeRefused,
}: ErrorHandlerOptions): ErrorRequestHandler {
  return async (err: unknown, req, res, _next) => {
    const outcome = toOutcome(err, bodyLimit, req.headers['content-encoding']);
    const status = outcome ? httpStatusOf(outcome) : 500;
    const refusal = intakeRefused && intakeRefusalOf(req.method, req.originalUrl, err);
    if (refusal) {
      intakeRefused.inc(refusal);
    }
    if (status === 403 && onRefusal) {
      // A refusal is itself audited; a failure to audit it must not turn the 403 into a 500.
      await onRefusal(req, res).catch((e: Error) => log.error(errorFields(e), 'could not audit a refusal'));
    }
    outages.noticed(err);
    if (!outcome || (status >= 500 && status !== 503)) {
      log.error(
        {
          method: req.method,
          route: routeOf(res),
          traceId: tryGetRequestTrace(res)?.traceId,
          ...unexpectedErrorFields(err),
        },
        'unexpected error',
      );
    }
    if (res.headersSent) {
      return;
    }
    if (!res.hasHeader('Cache-Control')) {
      // An answer refused before `noStore` ran (a body too large without credentials): no cache keeps an error either.
      res.setHeader('Cache-Control', 'no-store');
    }
    if (status === 503) {
      // The database or Redis is away (restart, failover): a client should come back shortly, not give up.
      res.setHeader('Retry-After', String(RETRY_AFTER_S));
    }
    res
      .status(status)
      .type('application/fhir+json')
      .json(
        outcome && (status < 500 || status === 503)
          ? withStatusId(outcome)
          : ({
              resourceType: 'OperationOutcome',
              issue: [
                {
                  severity: 'error',
                  code: 'exception',
                  details: { text: 'Internal error; the request was not processed' },
                },
              ],
            } satisfies OperationOutcome),
      );
  };
}

/** Seconds a client is asked to wait after a 503: about how long a PostgreSQL restart or Redis failover takes. */
export const RETRY_AFTER_S = 5;

/** Whether an error comes from node:zlib (gzip, deflate, br): it carries zlib's `errno` and its own `code`. */
function isDecompressionError(err: unknown): boolean {
  const e = err as { errno?: unknown; code?: unknown } | undefined;
  return typeof e?.errno === 'number' && typeof e.code === 'string';
}

function toOutcome(err: unknown, bodyLimit: string, contentEncoding: string | undefined): OperationOutcome | undefined {
  if (err instanceof OperationOutcomeError) {
    return err.outcome;
  }
  if (isOperationOutcome(err)) {
    return err;
  }
  if (isOutageError(err)) {
    return serviceUnavailable('A storage service is temporarily unavailable; retry later');
  }
  // body-parser's errors carry a `type`; turn the ones a client causes into clear 4xx outcomes.
  const type = (err as { type?: string } | undefined)?.type;
  switch (type) {
    case 'entity.too.large':
      return payloadTooLarge(bodyLimit);
    case 'entity.parse.failed':
      // Not the parser's message: it quotes the body, which may hold personal data.
      return badRequest('Malformed JSON body', 'body');
    // 415, as the media type itself would be: what the body is written in is not something this server reads.
    case 'encoding.unsupported':
      return unsupportedEncoding('Unsupported Content-Encoding: use gzip, deflate, br or none', 'Content-Encoding');
    case 'charset.unsupported':
      return unsupportedEncoding('Unsupported charset: send the body in UTF-8', 'Content-Type');
    case 'request.aborted':
      return badRequest('Request aborted', 'body');
    case undefined:
    default:
      if (isDecompressionError(err)) {
        // Not zlib's own words ("incorrect header check"): say what is wrong and which header to look at.
        return badRequest(
          `The body cannot be decompressed as ${contentEncoding ?? 'its Content-Encoding'} says: send it compressed ` +
            'that way, or without Content-Encoding',
          'Content-Encoding',
        );
      }
      return err instanceof Error && 'status' in err && (err as { status: number }).status < 500
        ? normalizeOperationOutcome(badRequest(err.message))
        : undefined;
  }
}
