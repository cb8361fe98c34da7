import type { Coding, OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { getStatus, OperationOutcomeError } from '@medplum/core';
import { SERVED_FHIR_VERSION_PARAMETER } from './media-types';

/**
 * Project-specific OperationOutcomes. @medplum/core's own (badRequest, notFound, forbidden, ...) are used as they
 * are; the ones here add the statuses Medplum has no outcome for. The outcome `id` carries the HTTP status, as in
 * Medplum, so `httpStatusOf` can map any outcome back to one.
 */
const statusById: Record<string, number> = {
  'bad-request': 400,
  unprocessable: 422,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  'service-unavailable': 503,
  'queue-full': 429,
  'auth-throttled': 429,
  'method-not-allowed': 405,
  'not-acceptable': 406,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'precondition-failed': 412,
};

function outcome(
  id: string,
  code: OperationOutcomeIssue['code'],
  details: string,
  expression?: string,
  coding?: Coding[],
): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id,
    issue: [
      {
        severity: 'error',
        code,
        details: { ...(coding?.length ? { coding } : {}), text: details },
        ...(expression ? { expression: [expression] } : {}),
      },
    ],
  };
}

/** 422: well-formed input whose content breaks a rule (check digit, unknown code, date in the future). */
function unprocessable(details: string, expression?: string): OperationOutcome {
  return outcome('unprocessable', 'business-rule', details, expression);
}

/** 422 with several issues, each naming its own field. */
export function unprocessableIssues(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', id: 'unprocessable', issue: issues };
}

/** 400 with several issues, each naming its own parameter or field: a request that is wrong in its form. */
export function badRequestIssues(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', id: 'bad-request', issue: issues };
}

/** 413 naming the body; a compressed body counts as it expands. */
export function payloadTooLarge(limit: string): OperationOutcome {
  // Said, because a gzip body of 57 kB can be refused for 4 MB: shrinking the compressed size would not help.
  return outcome(
    'payload-too-large',
    'too-long',
    `Request body is larger than the limit of ${limit} (counted after decompression)`,
    'body',
  );
}

export function unsupportedMediaType(contentType: string | undefined, supported: readonly string[]): OperationOutcome {
  return unsupportedEncoding(
    contentType
      ? `Unsupported content type ${contentType}; use one of ${supported.join(', ')}`
      : `No Content-Type given; use one of ${supported.join(', ')}`,
    'Content-Type',
  );
}

/** 415 for a body this server cannot read: its media type, charset or Content-Encoding, named by `header`. */
export function unsupportedEncoding(details: string, header: 'Content-Type' | 'Content-Encoding'): OperationOutcome {
  return outcome('unsupported-media-type', 'not-supported', details, header);
}

/** 429 for a sender while the queues are full: try again later (the response carries Retry-After). */
export function queueFull(details: string): OperationOutcome {
  return outcome('queue-full', 'throttled', details);
}

/**
 * 429 for a client address that sent too many refused credentials (AUTH_FAILURE_LIMIT): nothing it sends is checked
 * until the window ends, a valid credential neither (the response carries the same wait as Retry-After).
 */
export function authFailuresThrottled(retryAfterSeconds: number): OperationOutcome {
  return outcome(
    'auth-throttled',
    'throttled',
    `Too many refused credentials from this address; try again in ${retryAfterSeconds} s`,
  );
}

/** Whether the outcome is `authFailuresThrottled`'s. */
export function isAuthFailuresThrottled(o: OperationOutcome): boolean {
  return o.id === 'auth-throttled';
}

/**
 * 404 under `/fhir` for what no route serves, worded as FHIR servers (HAPI) word it: the unknown resource type, the
 * system-level interactions (batch, transaction, whole-system search and history), or an interaction of a served type
 * that is not served. The CapabilityStatement lists what is.
 */
export function fhirNotServed(method: string, path: string, servedTypes: readonly string[]): OperationOutcome {
  const type = path.split('/')[1] ?? '';
  const see = `; /fhir/metadata lists what is served (types: ${servedTypes.join(', ')})`;
  if (type === '') {
    return outcome('not-found', 'not-supported', `No batch, transaction, history or search across types here${see}`);
  }
  if (!servedTypes.includes(type)) {
    return outcome('not-found', 'not-found', `Unknown resource type '${type}'${see}`);
  }
  return outcome(
    'not-found',
    'not-supported',
    `${method} ${path.slice(1)} is not an interaction of ${type} here${see}`,
  );
}

/** 405: the path exists, the method does not; the `Allow` header lists the ones that do. */
export function methodNotAllowed(method: string, allowed: readonly string[]): OperationOutcome {
  return outcome('method-not-allowed', 'not-supported', `${method} is not allowed here; use ${allowed.join(', ')}`);
}

/**
 * 406: what the client asked for (by `Accept`, or by `_format`, which overrides it) is none of the media types this
 * route answers in; names the one that asked, and says what is served: FHIR R4, whose `fhirVersion` a client may add.
 */
export function notAcceptable(served: readonly string[], askedBy: 'Accept' | '_format'): OperationOutcome {
  return outcome(
    'not-acceptable',
    'not-supported',
    `Only ${served.join(' or ')} is served, of FHIR R4 (${SERVED_FHIR_VERSION_PARAMETER}); see ${askedBy}`,
    askedBy,
  );
}

/** 403 naming the field whose value decided it (`practice.agb` for a practice outside the caller's scope). */
export function forbiddenField(details: string, expression: string): OperationOutcome {
  return outcome('forbidden', 'forbidden', details, expression);
}

/** 404 naming the field whose value names nothing the caller may know of (`group` for a chart of no group). */
export function notFoundField(details: string, expression: string): OperationOutcome {
  return outcome('not-found', 'not-found', details, expression);
}

/**
 * 409 naming the field whose value makes the request clash with what is stored (an ambiguous identifier); `coding`
 * says why as codes a client keys on (`issue.details.coding`), beside the text.
 */
export function conflictField(details: string, expression: string, coding?: Coding[]): OperationOutcome {
  return outcome('conflict', 'conflict', details, expression, coding);
}

/** 412 naming the header whose condition cannot be met (an If-None-Exist that matches more than one resource). */
export function preconditionFailedField(details: string, expression: string): OperationOutcome {
  return outcome('precondition-failed', 'duplicate', details, expression);
}

export function serviceUnavailable(details: string): OperationOutcome {
  return outcome('service-unavailable', 'transient', details);
}

/** One issue that names a field: used by validation code to build multi-issue outcomes. */
export function fieldIssue(
  details: string,
  expression: string,
  code: OperationOutcomeIssue['code'] = 'invalid',
): OperationOutcomeIssue {
  return { severity: 'error', code, details: { text: details }, expression: [expression] };
}

/** The id of each status that has one id only (429 has two: which limit, only its thrower knows). */
const idByStatus = new Map<number, string>(
  Object.entries(statusById)
    .filter(([, status]) => Object.values(statusById).filter((s) => s === status).length === 1)
    .map(([id, status]) => [status, id]),
);

/**
 * The outcome with the id of its status when it has none (@medplum/core's `badRequest` gives none, ours and its
 * `notFound` do): a client that switches on `OperationOutcome.id` sees one kind of 400. One without such an id is
 * left as it is.
 */
export function withStatusId(o: OperationOutcome): OperationOutcome {
  const id = o.id ? undefined : idByStatus.get(httpStatusOf(o));
  return id ? { ...o, id } : o;
}

/** The HTTP status for any outcome: ours by id, Medplum's through getStatus. */
export function httpStatusOf(o: OperationOutcome): number {
  return (o.id && statusById[o.id]) || getStatus(o);
}

/** Throws a 422 naming the field. */
export function failField(details: string, expression: string): never {
  throw new OperationOutcomeError(unprocessable(details, expression));
}
