import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { fieldIssue } from '../../../src/kernel/fhir/outcomes';
import { throwIssues, type ExpressionOf } from '../../../src/kernel/zod-outcome';

/** Collects issues found after parsing (rules across fields) and throws them together. */
export class IssueCollector {
  private readonly issues: OperationOutcomeIssue[] = [];

  constructor(private readonly expressionOf: ExpressionOf) {}

  /** Records a broken rule at a path inside the record. */
  add(path: readonly PropertyKey[], details: string, code: OperationOutcomeIssue['code'] = 'business-rule'): void {
    this.issues.push(fieldIssue(details, this.expressionOf(path), code));
  }

  /** Throws a 422 with what was recorded; a guard for readers that always record why they read nothing. */
  throwAll(): never {
    throwIssues(this.issues.length ? this.issues : [fieldIssue('could not be read', this.expressionOf([]))]);
  }

  /** Throws a 422 when anything was recorded. */
  throwIfAny(): void {
    if (this.issues.length > 0) {
      throwIssues(this.issues);
    }
  }
}
