import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { z } from 'zod';
import { unprocessableIssues } from '../fhir/outcomes';
import type { RawRecord } from './dialect';

/** `a.b[0].c` from a zod path, prefixed by the record's location in the body. */
export function expressionOf(location: string, path: readonly PropertyKey[]): string {
  let out = location;
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  }
  return out || '(record)';
}

/** Parses a record with its dialect's schema; on failure throws a 422 with one issue per broken field. */
export function parseWithSchema<T>(schema: z.ZodType<T>, record: RawRecord): T {
  const parsed = schema.safeParse(record.value);
  if (parsed.success) {
    return parsed.data;
  }
  const issues: OperationOutcomeIssue[] = parsed.error.issues.map((i) => ({
    severity: 'error',
    // zod 4 keeps no input on issues; its message says when the value was missing altogether.
    code: i.code === 'invalid_type' && /received undefined/.test(i.message) ? 'required' : 'invalid',
    details: { text: i.message },
    expression: [expressionOf(record.location, i.path)],
  }));
  throw new OperationOutcomeError(unprocessableIssues(issues));
}
