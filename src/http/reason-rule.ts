import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { refusalCoding, type AuditRefusal } from '../audit/refusal-codes';

/** The longest reason an acknowledgement (or an operator's end of pending deliveries) keeps. */
export const MAX_REASON_LENGTH = 500;
/**
 * The shortest reason an acknowledgement takes: at least two words and 12 characters, enough for "Incident 2026-17"
 * or "checked with the security officer", not for "ok" or "checked". The acknowledgement vouches for a chain again for
 * good; a later reader of it (an inspector, a court) needs to find what was investigated and by whom. An operator's
 * end of pending deliveries (`end-pending`), which cancels them for good, is held to the same rule.
 */
export const MIN_REASON_WORDS = 2;
export const MIN_REASON_LENGTH = 12;

/** What a refusal of a reason says: why it is asked for (when missing), and what it should say (when too short). */
export interface ReasonRule {
  readonly missing: string;
  readonly says: string;
}

/** The reason of an auditor's acknowledgement of a break in a chain. */
export const ACKNOWLEDGEMENT_REASON: ReasonRule = {
  missing: 'why the break is acknowledged is required',
  says: 'what was investigated, by whom',
};

/** The reason of an operator's end of the pending deliveries to a destination no longer configured. */
export const END_PENDING_REASON: ReasonRule = {
  missing: 'why the pending deliveries are ended is required (kept in the audit)',
  says: 'why they are ended, on whose decision',
};

/**
 * What is wrong with a reason (nothing: an empty list): missing, or too short to say anything, each a 422 issue naming
 * `reason`, coded (refusal-codes.ts) for the console's words. Too long is the caller's 400.
 */
export function reasonIssues(
  reason: string | undefined,
  rule: ReasonRule = ACKNOWLEDGEMENT_REASON,
): OperationOutcomeIssue[] {
  const said = reason?.trim() ?? '';
  const issue = (code: 'required' | 'business-rule', refusal: AuditRefusal, text: string): OperationOutcomeIssue => ({
    severity: 'error',
    code,
    details: { coding: refusalCoding(refusal), text },
    expression: ['reason'],
  });
  if (said === '') {
    return [issue('required', 'reason-missing', `reason: ${rule.missing}`)];
  }
  // A word: a run of letters or digits ("2026-17" is one, a lone dash none).
  const words = said.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
  return words < MIN_REASON_WORDS || said.length < MIN_REASON_LENGTH
    ? [
        issue(
          'business-rule',
          'reason-too-short',
          `reason: at least ${MIN_REASON_WORDS} words and ${MIN_REASON_LENGTH} characters: ${rule.says}`,
        ),
      ]
    : [];
}
