import type { Coding } from '@medplum/fhirtypes';
import { chainProblemOf } from './chain-problems';

/**
 * Why an auditor's request on a chain was refused, as a code in the OperationOutcome's `issue.details.coding` beside
 * the English text: what a client (the console's words in Dutch and English) keys on, never the text, which may be
 * worded better tomorrow.
 */
export const AUDIT_REFUSAL_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/audit-refusal';

/** The codes of `CHAIN_PROBLEMS` (chain-problems.ts): what verification found, as a second coding of a refusal. */
export const CHAIN_PROBLEM_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/audit-chain-problem';

export const AUDIT_REFUSALS = [
  /** An export: the chain contradicts its signed checkpoints (rewritten or cut). */
  'chain-contradicts-signed',
  /** An export: the chain is known broken (audit_chain_integrity) and no auditor acknowledged the break. */
  'chain-known-broken',
  /** An acknowledgement: the chain has no rows. */
  'chain-empty',
  /** An acknowledgement: the chain verifies, there is no break. */
  'not-broken',
  /** An acknowledgement: verified again, the chain is broken at another row than the one named. */
  'broken-elsewhere',
  /** An acknowledgement: signed checkpoints of a key not configured could not be checked. */
  'checkpoints-not-checked',
  /** An acknowledgement: more broken rows than are searched. */
  'too-many-breaks',
  /** An acknowledgement: the chain's head row is itself broken, or does not match the recorded head. */
  'head-broken',
  /** An acknowledgement: another check recorded the chain broken while it was verified. */
  'broken-meanwhile',
  /** An acknowledgement (422): no reason given; what was investigated, by whom, stays on record with it. */
  'reason-missing',
  /** An acknowledgement (422): a reason too short to say anything (fewer than `MIN_REASON_WORDS` words). */
  'reason-too-short',
] as const;

export type AuditRefusal = (typeof AUDIT_REFUSALS)[number];

/** The coding of a refusal, and of the chain problem behind it when its text names one (`problem`). */
export function refusalCoding(refusal: AuditRefusal, problem?: string): Coding[] {
  const code = problem === undefined ? undefined : chainProblemOf(problem)?.code;
  return [
    { system: AUDIT_REFUSAL_SYSTEM, code: refusal },
    ...(code === undefined ? [] : [{ system: CHAIN_PROBLEM_SYSTEM, code }]),
  ];
}

/** The refusal and chain problem codes of an issue's `details.coding`, when it has them. */
export function refusalOf(coding: readonly Coding[] | undefined): { refusal?: AuditRefusal; problem?: string } {
  const codeIn = (system: string) => coding?.find((c) => c.system === system)?.code;
  const refusal = AUDIT_REFUSALS.find((r) => r === codeIn(AUDIT_REFUSAL_SYSTEM));
  const problem = codeIn(CHAIN_PROBLEM_SYSTEM);
  return { ...(refusal ? { refusal } : {}), ...(problem ? { problem } : {}) };
}
