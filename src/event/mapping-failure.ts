import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { assertValidResource } from '../kernel/fhir/validation';

/** One problem the FHIR validator found, as far as it holds no value: its code and the element's path. */
export interface MappingIssue {
  readonly code: string;
  readonly expression: readonly string[];
}

/**
 * The validator's issues with the resources a dialect produced, or undefined when they are valid. Codes and element
 * paths only: the issue's text may quote the value it refused (a BSN written into a date), so it is dropped.
 */
export function invalidFhirIssues(resources: readonly Resource[]): MappingIssue[] | undefined {
  const issues: MappingIssue[] = [];
  for (const resource of resources) {
    try {
      assertValidResource(resource);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        throw err;
      }
      issues.push(...valueFreeIssues(err));
    }
  }
  return issues.length > 0 ? issues : undefined;
}

/** An OperationOutcomeError's issues without their text. */
export function valueFreeIssues(err: OperationOutcomeError): MappingIssue[] {
  return err.outcome.issue.map((i) => ({ code: i.code, expression: i.expression ?? [] }));
}

/** How many issues a state reason names; the log line has them all. */
const ISSUES_IN_REASON = 8;

/**
 * The state reason of an event whose mapping failed (`STEPS.mappingFailed`), which the practice and the operator read
 * in the event view: `mapping failed: dialect csv produced invalid FHIR: value at Patient.birthDate; …`.
 */
export function mappingFailedReason(dialect: string, what: string, issues: readonly MappingIssue[]): string {
  const named = issues
    .slice(0, ISSUES_IN_REASON)
    .map((i) => (i.expression.length > 0 ? `${i.code} at ${i.expression.join(', ')}` : i.code));
  const more = issues.length > ISSUES_IN_REASON ? `; and ${issues.length - ISSUES_IN_REASON} more` : '';
  return `mapping failed: dialect ${dialect} ${what}: ${named.join('; ')}${more}`;
}

/** What the reason says of resources that fail validation, and of a record the dialect itself now refuses. */
export const INVALID_FHIR = 'produced invalid FHIR';
export const RECORD_REFUSED = 'refused its stored record';
