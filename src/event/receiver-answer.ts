import { MIMEType } from 'node:util';
import { isOperationOutcome } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { ReceiverAnswer } from '../contracts/delivery-errors';
import type { PayloadCipher } from '../kernel/payload-crypto';

/**
 * A receiver's answer (a municipality's system, a practice's HIS) is personal data as often as not: error pages echo
 * the request, FHIR servers return what they stored. It is kept only encrypted, with the inbox payload's cipher, and
 * removed with the payload (retention.ts). Operators see its summary, which holds no text of the answer: what they
 * need to act on a dead letter without reading anyone's data.
 */

/** An OperationOutcome issue as an operator sees it: only values from FHIR's code lists and plain element paths. */
export interface AnswerIssue {
  severity?: OperationOutcomeIssue['severity'];
  code?: OperationOutcomeIssue['code'];
  expression?: string[];
}

/** What operators see of an answer. */
export interface AnswerSummary {
  /** The media type without its parameters (`application/fhir+json`); null when absent or unreadable. */
  contentType: string | null;
  /** The whole answer's size in bytes. */
  size: number;
  /** When the answer is an OperationOutcome: its issues (at most MAX_ISSUES), each stripped to its codes. */
  issues?: AnswerIssue[];
  /**
   * A redirect's `Location` (`redirectTarget`): where the receiver moved, without query, fragment or credentials, and
   * without a path that could hold an identifier (then only scheme, host and port).
   */
  location?: string;
}

/** An answer as the delivery, feedback and trajectory event rows keep it. */
export interface SealedAnswer {
  summary: AnswerSummary;
  keyId: string;
  data: Buffer;
}

/** How much of an answer is kept (encrypted): enough to investigate a dispute, bounded per row. */
const KEPT_CHARS = 4000;
const MAX_ISSUES = 20;
const MAX_EXPRESSIONS = 5;

const SEVERITIES: Readonly<Record<OperationOutcomeIssue['severity'], true>> = {
  fatal: true,
  error: true,
  warning: true,
  information: true,
};

/** FHIR R4's IssueType codes; the type makes the compiler hold this list to @medplum/fhirtypes' own. */
const ISSUE_CODES: Readonly<Record<OperationOutcomeIssue['code'], true>> = {
  invalid: true,
  structure: true,
  required: true,
  value: true,
  invariant: true,
  security: true,
  login: true,
  unknown: true,
  expired: true,
  forbidden: true,
  suppressed: true,
  processing: true,
  'not-supported': true,
  duplicate: true,
  'multiple-matches': true,
  'not-found': true,
  deleted: true,
  'too-long': true,
  'code-invalid': true,
  extension: true,
  'too-costly': true,
  'business-rule': true,
  conflict: true,
  transient: true,
  'lock-error': true,
  'no-store': true,
  exception: true,
  timeout: true,
  incomplete: true,
  throttled: true,
  informational: true,
};

/**
 * A FHIRPath that only walks elements (`Bundle.entry[2].resource.identifier[0].value`). Anything else is left out:
 * a `where(value='…')` carries the value it looked for, which may be a BSN.
 */
const PLAIN_PATH = /^[A-Za-z][A-Za-z0-9]{0,63}(\[\d{1,4}\])?(\.[A-Za-z][A-Za-z0-9]{0,63}(\[\d{1,4}\])?){0,15}$/;

const isIn = <K extends string>(set: Readonly<Record<K, true>>, v: unknown): v is K =>
  typeof v === 'string' && Object.hasOwn(set, v);

function issueOf(issue: unknown): AnswerIssue {
  const i = (typeof issue === 'object' && issue !== null ? issue : {}) as Record<string, unknown>;
  const expression = Array.isArray(i.expression)
    ? i.expression.filter((e): e is string => typeof e === 'string' && PLAIN_PATH.test(e)).slice(0, MAX_EXPRESSIONS)
    : [];
  return {
    ...(isIn(SEVERITIES, i.severity) ? { severity: i.severity } : {}),
    ...(isIn(ISSUE_CODES, i.code) ? { code: i.code } : {}),
    ...(expression.length > 0 ? { expression } : {}),
  };
}

function mediaTypeOf(contentType: string | undefined): string | null {
  try {
    return contentType ? new MIMEType(contentType).essence : null;
  } catch {
    return null;
  }
}

/** Longer `Location`s are cut: an address to act on, not a place to keep data. */
const MAX_LOCATION_CHARS = 500;

/**
 * A path segment that names a place rather than a thing: letters (and `-`, `_`, `.`), a trailing version number of
 * at most two digits (`isam2`, `v2`, `R4`), an operation's `$`. An identifier (a BSN, a UUID, a client number, a
 * token) has more digits than that, or characters outside it (`%`, `=`, `+`, `~`).
 */
const PLACE_SEGMENT = /^\$?[A-Za-z][A-Za-z_.-]{0,47}\d{0,2}$/;

/** Whether every segment of `path` names a place (an empty one, as of a trailing slash, does too). */
function isPathOfPlaces(path: string): boolean {
  return path.split('/').every((segment) => segment === '' || PLACE_SEGMENT.test(segment));
}

/**
 * A redirect's `Location` as operators may see it: scheme, host and port, and the path only when each of its segments
 * names a place (`isPathOfPlaces`), never its query or fragment (where a receiver might put a token or an identifier)
 * nor, for an absolute URL, user name and password; undefined when there is none, or when a relative one's path could
 * name someone.
 *
 * The path is checked against what an endpoint's address looks like, not against patterns of identifiers: a receiver
 * may redirect to a resource (`/clients/123456782/aanmeldingen`), and no list of identifier formats is complete. An
 * endpoint that moved (`/isam2/aanmeldingen`, `/api/v2/jeugd`) keeps its path, which is what the operator configures.
 */
function redirectTarget(location: string | undefined): string | undefined {
  if (!location?.trim()) {
    return undefined;
  }
  let target: string;
  try {
    const url = new URL(location.trim());
    target = isPathOfPlaces(url.pathname) ? `${url.origin}${url.pathname}` : url.origin;
  } catch {
    // Relative (`/isam2/aanmeldingen`): the path alone, when it names no one.
    const path = location.trim().split(/[?#]/, 1)[0] ?? '';
    target = isPathOfPlaces(path) ? path : '';
  }
  return target === '' ? undefined : target.slice(0, MAX_LOCATION_CHARS);
}

/**
 * What operators may see of an answer: its type, size, a redirect's target and, for an OperationOutcome, its issues'
 * codes.
 */
export function summariseAnswer(answer: ReceiverAnswer): AnswerSummary {
  const contentType = mediaTypeOf(answer.contentType);
  const location = redirectTarget(answer.location);
  const summary: AnswerSummary = {
    contentType,
    size: Buffer.byteLength(answer.body),
    ...(location !== undefined ? { location } : {}),
  };
  if (contentType === null || !/^application\/(fhir\+)?json$/.test(contentType)) {
    return summary;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return summary;
  }
  if (isOperationOutcome(parsed)) {
    summary.issues = (Array.isArray(parsed.issue) ? parsed.issue : []).slice(0, MAX_ISSUES).map(issueOf);
  }
  return summary;
}

/** The answer's summary, and its first KEPT_CHARS characters encrypted; undefined when there was no answer. */
export function sealAnswer(cipher: PayloadCipher, answer: ReceiverAnswer | undefined): SealedAnswer | undefined {
  if (answer === undefined) {
    return undefined;
  }
  const { keyId, data } = cipher.encrypt(answer.body.slice(0, KEPT_CHARS));
  return { summary: summariseAnswer(answer), keyId, data };
}
