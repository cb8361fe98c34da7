import { badRequest, OperationOutcomeError, parseSearchRequest, type Filter } from '@medplum/core';
import { isFhirJsonFormat, SERVED_MEDIA_TYPES } from '../../kernel/fhir/media-types';
import { notAcceptable } from '../../kernel/fhir/outcomes';
import type { ResourceSearchSpec } from './search-spec';
import { indexSearchDefinitions } from './search-definitions';

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;

/**
 * What to do with a parameter this server does not know (FHIR's `Prefer: handling=`): `strict` (the default here)
 * answers 400 naming it; `lenient` ignores it and leaves it out of the `self` link, so the client can see what was
 * applied. Strict is the default because a silently ignored filter returns more personal data than was asked for.
 */
export type UnknownParameterHandling = 'strict' | 'lenient';

/** A search as this server will run it: the filters it understood plus the result parameters, checked. */
export interface FhirSearch {
  readonly resourceType: string;
  /** Filters in @medplum/core's form: `code`, `operator` (a modifier or a prefix), `value` as given. */
  readonly filters: readonly Filter[];
  /** Page size; 0 for `_summary=count`. */
  readonly count: number;
  readonly summaryCount: boolean;
  readonly total: 'none' | 'estimate' | 'accurate';
  /** `_elements`: the top-level elements to return, when given. */
  readonly elements?: readonly string[] | undefined;
  /** `_pretty=true`: the answer indented for people. */
  readonly pretty: boolean;
  /** `_sort`, when given: a code of the spec's `sorts`. */
  readonly sort?: { readonly code: string; readonly descending: boolean } | undefined;
  /** `_page`: the opaque token of a page after the first, as the provider made it. */
  readonly page?: string | undefined;
  /** The parameters applied, without `_page`: what `self` and the paging links repeat. */
  readonly applied: URLSearchParams;
  /** Parameters left out under `handling=lenient`. */
  readonly ignored: readonly string[];
}

/** Result parameters understood for every type; anything else starting with `_` is unknown (`_include`, ...). */
const RESULT_PARAMETERS = [
  '_count',
  '_total',
  '_summary',
  '_elements',
  '_sort',
  '_page',
  '_format',
  '_pretty',
] as const;
/** What a read (and the CapabilityStatement) takes: the result parameters that concern one resource. */
const READ_PARAMETERS = ['_format', '_pretty', '_elements', '_summary'] as const;
const ELEMENT = /^[a-z][A-Za-z0-9]*$/;

/** A read as this server will answer it: which elements, how printed, and what it ignored (`handling=lenient`). */
export interface FhirRead {
  readonly elements?: readonly string[] | undefined;
  readonly pretty: boolean;
  readonly ignored: readonly string[];
}

/** Throws the 400 of a search parameter: the OperationOutcome's expression names it. */
export function failParameter(details: string, parameter: string): never {
  throw new OperationOutcomeError(badRequest(details, parameter));
}

/** `handling=strict|lenient` from a `Prefer` header; strict when absent. An unknown value is a 400 naming `Prefer`. */
export function handlingOf(prefer: string | undefined): UnknownParameterHandling {
  for (const part of (prefer ?? '').split(/[,;]/)) {
    const [name, value] = part.split('=').map((s) => s.trim().toLowerCase());
    if (name === 'handling') {
      if (value !== 'strict' && value !== 'lenient') {
        failParameter('Prefer: handling=strict (the default) or handling=lenient', 'Prefer');
      }
      return value;
    }
  }
  return 'strict';
}

/** The parameter name a filter came from, as a client wrote it (`patient:identifier`), for messages. */
export function parameterOf(spec: ResourceSearchSpec, f: Filter): string {
  const modifiers = spec.params.find((p) => p.code === f.code)?.modifiers ?? [];
  return modifiers.includes(f.operator) ? `${f.code}:${f.operator}` : f.code;
}

/** The parts of a filter's value: commas separate alternatives (OR). */
export function alternativesOf(f: Filter): string[] {
  return f.value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function parseElements(value: string, name: string): string[] {
  const elements = value.split(',').map((e) => e.trim());
  if (elements.some((e) => !ELEMENT.test(e))) {
    failParameter('_elements: comma-separated names of top-level elements, such as id,type,recorded', name);
  }
  return elements;
}

function parsePretty(value: string, name: string): boolean {
  if (value !== 'true' && value !== 'false') {
    failParameter("_pretty: 'true' or 'false'", name);
  }
  return value === 'true';
}

/**
 * `_format` names a format the server can produce, or it is a 406 naming `_format`, as FHIR (http.html#mime-type)
 * and HAPI answer it: the request is well-formed, the format is what cannot be had. No value at all is a 400.
 */
function assertJsonFormat(value: string, name: string): void {
  if (value === '') {
    failParameter(`${name}: a value is required`, name);
  }
  if (!isFhirJsonFormat(value)) {
    throw new OperationOutcomeError(notAcceptable(SERVED_MEDIA_TYPES, '_format'));
  }
}

/**
 * Checks the parameters of a read (`GET <type>/<id>`, also of `metadata`) by the rules of a search: `_format`,
 * `_pretty`, `_elements` and `_summary=false`, each once; anything else is unknown, a 400 naming it or, with
 * `handling=lenient`, ignored. `_summary` other than `false` is a 400: no summary views are served.
 */
export function parseFhirRead(params: URLSearchParams, handling: UnknownParameterHandling = 'strict'): FhirRead {
  const once = new Set<string>();
  const ignored: string[] = [];
  let elements: string[] | undefined;
  let pretty = false;
  for (const [name, raw] of params) {
    const value = raw.trim();
    if (!(READ_PARAMETERS as readonly string[]).includes(name)) {
      if (handling === 'lenient') {
        ignored.push(name);
        continue;
      }
      failParameter(`Unknown parameter '${name}' for a read`, name);
    }
    if (once.has(name)) {
      failParameter(`${name} may be given once`, name);
    }
    once.add(name);
    switch (name) {
      case '_format':
        assertJsonFormat(value, name);
        break;
      case '_pretty':
        pretty = parsePretty(value, name);
        break;
      case '_elements':
        elements = parseElements(value, name);
        break;
      default:
        if (value !== 'false') {
          failParameter("_summary: only 'false' is supported on a read", name);
        }
    }
  }
  return { elements, pretty, ignored };
}

/** One parameter through @medplum/core's parser, so that a value it refuses is a 400 naming that parameter. */
function filtersOf(spec: ResourceSearchSpec, name: string, raw: string): Filter[] {
  try {
    return parseSearchRequest(spec.resourceType, { [name]: raw }).filters ?? [];
  } catch (err) {
    const text = err instanceof OperationOutcomeError ? err.outcome.issue?.[0]?.details?.text : undefined;
    // The usual cause of a space in a value: a '+' (a time zone's offset) sent as it is, which a URL reads as a space.
    const hint = raw.includes(' ') ? " (a '+' in a URL must be sent as %2B)" : '';
    failParameter(`${name}: ${text ?? 'not a valid value'}${hint}`, name);
  }
}

/**
 * Checks a query against what the type serves and parses it with @medplum/core's `parseSearchRequest`, which
 * knows each standard parameter's type (so prefixes are read only where FHIR has them). Medplum accepts any value
 * of the result parameters (`_count=ten`, `_total=maybe`), so those are checked here. Throws a 400 naming the
 * parameter; unknown parameters per `handling`.
 */
export function parseFhirSearch(
  spec: ResourceSearchSpec,
  params: URLSearchParams,
  handling: UnknownParameterHandling = 'strict',
): FhirSearch {
  indexSearchDefinitions([spec.resourceType]);
  const applied = new URLSearchParams();
  const ignored: string[] = [];
  const once = new Set<string>();
  let count = DEFAULT_COUNT;
  let summaryCount = false;
  let total: FhirSearch['total'] = 'estimate';
  let elements: string[] | undefined;
  let pretty = false;
  let sort: FhirSearch['sort'];
  let page: string | undefined;
  for (const [name, raw] of params) {
    const value = raw.trim();
    const isResult = (RESULT_PARAMETERS as readonly string[]).includes(name);
    const [code = '', modifier] = name.split(':', 2);
    const param = spec.params.find((p) => p.code === code);
    const known =
      isResult || (param !== undefined && (modifier === undefined || !!param.modifiers?.includes(modifier)));
    if (!known) {
      if (handling === 'lenient') {
        ignored.push(name);
        continue;
      }
      if (param !== undefined) {
        // A parameter served, with a modifier that is not (`status:not`): named as such, as HAPI does.
        const served = param.modifiers?.length ? ` (only ${param.modifiers.map((m) => `:${m}`).join(', ')})` : '';
        failParameter(`${name}: the modifier ':${modifier}' is not supported on ${code}${served}`, name);
      }
      failParameter(`Unknown search parameter '${name}' for ${spec.resourceType}`, name);
    }
    if (isResult) {
      if (once.has(name)) {
        failParameter(`${name} may be given once`, name);
      }
      once.add(name);
    }
    if (value === '' && name !== '_page') {
      failParameter(`${name}: a value is required`, name);
    }
    switch (name) {
      case '_count': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
          failParameter('_count: a whole number', name);
        }
        // Larger requests are served at the maximum, as FHIR servers do, rather than refused; `self` then carries
        // the maximum, the page size applied, as FHIR has it say what was applied.
        count = Math.min(n, MAX_COUNT);
        applied.append(name, String(count));
        continue;
      }
      case '_total':
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
          failParameter("_total: 'none', 'estimate' or 'accurate'", name);
        }
        total = value;
        break;
      case '_summary':
        if (value !== 'count' && value !== 'false') {
          failParameter("_summary: only 'count' (the total, no entries) or 'false' is supported", name);
        }
        summaryCount = value === 'count';
        break;
      case '_elements':
        elements = parseElements(value, name);
        break;
      case '_pretty':
        pretty = parsePretty(value, name);
        break;
      case '_sort': {
        const descending = value.startsWith('-');
        const sortCode = descending ? value.slice(1) : value;
        if (!spec.sorts.includes(sortCode)) {
          failParameter(`_sort: one of ${spec.sorts.flatMap((s) => [s, `-${s}`]).join(', ')}`, name);
        }
        sort = { code: sortCode, descending };
        break;
      }
      case '_page':
        page = value;
        continue;
      case '_format':
        assertJsonFormat(value, name);
        break;
      default:
        break;
    }
    applied.append(name, raw);
  }
  const filters: Filter[] = [];
  for (const [name, raw] of applied) {
    // The type's own parameters, `_id` and `_lastUpdated` among them where it serves them; not the result parameters.
    if (!(RESULT_PARAMETERS as readonly string[]).includes(name)) {
      filters.push(...filtersOf(spec, name, raw));
    }
  }
  return {
    resourceType: spec.resourceType,
    filters,
    count: summaryCount ? 0 : count,
    summaryCount,
    // A count is only worth asking for when it is exact.
    total: summaryCount ? 'accurate' : total,
    elements,
    pretty,
    sort,
    page,
    applied,
    ignored,
  };
}
