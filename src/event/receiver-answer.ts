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
  /** A redirect's `Location` (`redirectTarget`): where the receiver moved, its scheme, host and port only. */
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

/**
 * A redirect's `Location` as operators may see it: scheme, host and port only (`URL.origin`); undefined when there is
 * none, or when it is relative (it names no host, and all it has is a path).
 *
 * No path is kept, not even one of plain words: a receiver may redirect to a resource by a client's name
 * (`/clienten/jansen`), and no rule for what a place looks like tells a surname from an endpoint's word. Query and
 * fragment (a token, an identifier) and credentials go with the path. The origin is what tells an operator that a
 * receiver moved host or to https; the exact new path they take from the municipality, not from a dead letter.
 */
function redirectTarget(location: string | undefined): string | undefined {
  if (!location?.trim()) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(location.trim());
  } catch {
    return undefined;
  }
  // `origin` is the string "null" for schemes without one (`data:`, `mailto:`): nothing to act on.
  return url.origin === 'null' ? undefined : url.origin;
}

/**
 * An answer summary column as operators see it (`AnswerSummary`), for reading: a `location` an earlier build kept with
 * its path (or a relative one, a path alone) is cut to scheme, host and port as `redirectTarget` does now, or left
 * out. Rows are read through this rather than rewritten, so that no migration has to run over every delivery.
 */
export function answerSummarySql(column: string): string {
  const origin = `(regexp_match(${column}->>'location', '^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]+)'))[1]`;
  return `CASE WHEN ${origin} IS NOT NULL THEN jsonb_set(${column}, '{location}', to_jsonb(${origin}))
    ELSE ${column} - 'location' END`;
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
