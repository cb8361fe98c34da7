import { csvDialect } from '../../mappings/his/csv';
import { fhirBundleDialect } from '../../mappings/his/fhir-bundle';
import { genericJsonDialect } from '../../mappings/his/generic-json';
import type { HisDialect } from './dialect';

/** Every HIS dialect the product understands. Adding one: a folder under mappings/his/ and a line here. */
export const DIALECTS: readonly HisDialect[] = [genericJsonDialect, fhirBundleDialect, csvDialect];

export function tryGetDialect(name: string): HisDialect | undefined {
  return DIALECTS.find((d) => d.name === name);
}
