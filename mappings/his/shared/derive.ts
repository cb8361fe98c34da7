import { ICPC_SYSTEM } from '../../../src/kernel/fhir/systems';
import { HELP_QUESTION_CATEGORY_SYSTEM, tryTranslate } from '../../../src/kernel/fhir/terminology';

/** The help-question category an ICPC-1NL code implies, from the ConceptMap (every accepted code has one). */
export function helpQuestionOf(icpc: string): string {
  const category = tryTranslate(ICPC_SYSTEM, icpc, HELP_QUESTION_CATEGORY_SYSTEM)?.code;
  if (!category) {
    throw new Error(`ICPC code ${icpc} has no help-question category in the ConceptMap`);
  }
  return category;
}
