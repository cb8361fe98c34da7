import { matchesSearchRequest, type Filter } from '@medplum/core';
import type { Coding, Resource, ResourceType } from '@medplum/fhirtypes';
import { or } from '../../kernel/sql-params';
import type { FhirSearch } from './parse-search';
import { indexSearchDefinitions } from './search-definitions';

/** One set of tags (`meta.tag`) a served resource of a type may carry, and the SQL condition that a row carries it. */
export interface ServedTags {
  readonly tags: readonly Coding[];
  readonly sql: string;
}

/**
 * The search's `_tag` parameters (`_tag=<system>|<code>`, `<code>`, `|<code>`, `<system>|`, commas for OR, and
 * `_tag:not`) as SQL conditions, one each, on rows whose resources carry one of the tag sets `served` (every set the
 * type serves, each told apart by a condition on its row). Which sets a parameter matches is decided by
 * @medplum/core's own search matching on a resource carrying them (`matchesSearchRequest`, FHIR's token rules), so
 * no token rule is written here, and the answer is what a client matching the served resources itself would find.
 */
export function tagConditions(resourceType: ResourceType, search: FhirSearch, served: readonly ServedTags[]): string[] {
  // The matching reads `_tag`'s definition, as the parser does: without it, it would match nothing.
  indexSearchDefinitions([resourceType]);
  return search.filters
    .filter((f) => f.code === '_tag')
    .map((filter: Filter) =>
      or(
        served
          .filter(({ tags }) =>
            matchesSearchRequest(
              { resourceType, ...(tags.length > 0 ? { meta: { tag: [...tags] } } : {}) } as Resource,
              {
                resourceType,
                filters: [filter],
              },
            ),
          )
          .map((s) => s.sql),
      ),
    );
}
