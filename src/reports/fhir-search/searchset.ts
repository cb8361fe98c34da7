import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { tryGetDataType } from '@medplum/core';
import { initFhirValidation } from '../../kernel/fhir/validation';
import type { FhirSearch } from './parse-search';
import type { SearchPage } from './resource-provider';

/** The tag FHIR asks for on a resource that a server returns with elements left out. */
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

/**
 * The top-level elements of `resourceType` that FHIR requires (min 1, as the R4 structure definitions say), by the
 * names a resource carries them under (`value[x]` as the `value…` it holds). Kept in every `_elements` answer: FHIR
 * search `_elements` has servers return them always, so that what a client gets is still a valid resource.
 */
const mandatoryByType = new Map<string, readonly string[]>();
function mandatoryElementsOf(resourceType: string): readonly string[] {
  let names = mandatoryByType.get(resourceType);
  if (!names) {
    initFhirValidation();
    const elements = tryGetDataType(resourceType)?.elements ?? {};
    names = Object.entries(elements)
      .filter(([path, e]) => e.min > 0 && !path.includes('.'))
      .map(([path]) => path);
    mandatoryByType.set(resourceType, names);
  }
  return names;
}

/** Whether the element `name` of a resource is one of `wanted` (a choice `value[x]` matches `valueString`). */
const isOneOf = (name: string, wanted: readonly string[]): boolean =>
  wanted.some((w) => (w.endsWith('[x]') ? name.startsWith(w.slice(0, -3)) : name === w));

/**
 * `_elements`: the resource with only the named top-level elements, plus what identifies it and the elements FHIR
 * requires of its type, tagged SUBSETTED.
 */
export function withElements<T extends Resource>(resource: T, elements: readonly string[] | undefined): T {
  if (!elements) {
    return resource;
  }
  const source = resource as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { resourceType: resource.resourceType, id: resource.id };
  const mandatory = mandatoryElementsOf(resource.resourceType);
  for (const name of Object.keys(source)) {
    if (name !== 'meta' && name !== 'resourceType' && (elements.includes(name) || isOneOf(name, mandatory))) {
      out[name] = source[name];
    }
  }
  out.meta = { ...resource.meta, tag: [...(resource.meta?.tag ?? []), SUBSETTED] };
  return out as unknown as T;
}

/**
 * A searchset Bundle with absolute `fullUrl`s and `self`/`next`/`previous` links, all on the configured public
 * base (`PUBLIC_BASE_URL`), never on the request's Host: a client that follows a link must land on this server.
 * The links repeat the parameters that were applied (a POST `_search` gets GET links, as FHIR allows); `seal`, when
 * given, turns them into one opaque `_page` value instead, so parameters that came in a body stay out of URLs.
 * `outcomes` are warnings about the answer (a chain it read is known broken), each an entry with search mode
 * `outcome` after the matches. A Bundle with no entries has no `entry` at all: FHIR JSON has no empty arrays.
 */
export function toSearchset<T extends Resource>(
  fhirBase: string,
  search: FhirSearch,
  page: SearchPage<T>,
  seal?: (applied: URLSearchParams, token: string | undefined) => string,
  outcomes: readonly OperationOutcome[] = [],
): Bundle<T> {
  const linkTo = (token: string | undefined): string => {
    const params = seal
      ? new URLSearchParams({ _page: seal(search.applied, token) })
      : new URLSearchParams(search.applied);
    if (token && !seal) {
      params.set('_page', token);
    }
    const query = params.toString();
    return `${fhirBase}/${search.resourceType}${query ? `?${query}` : ''}`;
  };
  const link: BundleLink[] = [{ relation: 'self', url: linkTo(search.page) }];
  if (page.next) {
    link.push({ relation: 'next', url: linkTo(page.next) });
  }
  if (page.previous) {
    link.push({ relation: 'previous', url: linkTo(page.previous) });
  }
  const matches: BundleEntry<T>[] = search.summaryCount
    ? []
    : page.resources.map((resource) => ({
        fullUrl: `${fhirBase}/${resource.resourceType}/${resource.id ?? ''}`,
        resource: withElements(resource, search.elements),
        search: { mode: 'match' },
      }));
  const warnings = [...(search.ignored.length > 0 ? [ignoredOutcome(search.ignored)] : []), ...outcomes];
  const entry = [
    ...matches,
    ...warnings.map((resource) => ({ resource, search: { mode: 'outcome' } }) as BundleEntry<T>),
  ];
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link,
    ...(entry.length > 0 ? { entry } : {}),
  };
}

/** Under `handling=lenient`, FHIR's way to tell the client what was not applied: an outcome entry with a warning. */
function ignoredOutcome(ignored: readonly string[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: ignored.map((name) => ({
      severity: 'warning',
      code: 'not-supported',
      details: { text: `Unknown search parameter '${name}' ignored (Prefer: handling=lenient)` },
      expression: [name],
    })),
  };
}
