import { OperationOutcomeError } from '@medplum/core';

/** The human text of a thrown OperationOutcomeError (its first issue), for a form's error message. */
export function outcomeMessage(err: unknown): string {
  if (err instanceof OperationOutcomeError) {
    const issue = err.outcome.issue?.[0];
    return issue?.details?.text ?? issue?.diagnostics ?? issue?.code ?? 'error';
  }
  throw err;
}
