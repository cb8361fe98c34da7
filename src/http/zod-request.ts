import type { OperationOutcome } from '@medplum/fhirtypes';
import type { z } from 'zod';
import { expressionOf } from '../ingest/zod-outcome';

/** A 422 OperationOutcome with one issue per invalid field of a request body or query. */
export function zodOutcome(error: z.ZodError): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: 'unprocessable',
    issue: error.issues.map((i) => ({
      severity: 'error',
      code: 'invalid',
      details: { text: i.message },
      expression: [expressionOf('', i.path)],
    })),
  };
}
