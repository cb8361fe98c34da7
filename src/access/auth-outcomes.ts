import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * 401 outcomes with a reason, shaped like @medplum/core's `unauthorizedTokenExpired`: id `unauthorized` (so
 * `getStatus` and `httpStatusOf` give 401), a first `login` issue, then one issue saying why. The reasons are
 * deliberately coarse: they tell an honest client what to fix without telling a prober which keys or subjects
 * exist. These belong in src/fhir/outcomes.ts once that file takes them.
 */
export function unauthorizedBecause(reason: string, code: OperationOutcomeIssue['code'] = 'invalid'): OperationOutcome {
  // Both issues name `Authorization`, the header to fix (an X-API-Key stands in for it), as every 403 for a role does.
  const expression = ['Authorization'];
  return {
    resourceType: 'OperationOutcome',
    id: 'unauthorized',
    issue: [
      { severity: 'error', code: 'login', details: { text: 'Unauthorized' }, expression },
      { severity: 'error', code, details: { text: reason }, expression },
    ],
  };
}

/** No credentials at all. */
export const authenticationRequired = unauthorizedBecause(
  'Authentication required: send Authorization: Bearer <token> or X-API-Key',
  'login',
);

/** Unknown, revoked, tampered or malformed API key: one answer for all, so keys cannot be enumerated. */
export const invalidApiKey = unauthorizedBecause('Invalid API key');

/** A JWT whose `nbf` lies further in the future than the allowed clock skew. */
export const unauthorizedTokenNotYetValid = unauthorizedBecause('Token not yet valid', 'expired');
