import { csvDialect } from './csv/index';
import { fhirBundleDialect } from './fhir-bundle/index';
import { genericJsonDialect } from './generic-json/index';
import type { HisDialect } from '../../src/contracts/his-dialect';

/** Every HIS dialect the product understands. Adding one: a folder under mappings/his/ and a line here. */
export const DIALECTS: readonly HisDialect[] = [genericJsonDialect, fhirBundleDialect, csvDialect];

export function tryGetDialect(name: string): HisDialect | undefined {
  return DIALECTS.find((d) => d.name === name);
}
