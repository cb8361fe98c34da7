import { z } from 'zod';
import { isUuid } from '../../kernel/fhir/ids';
import { BSN_SYSTEM } from '../../kernel/fhir/identifiers';
import { decodePageToken, encodePageToken, tokenMoment } from '../fhir-search/page-token';
import {
  alternativesOf,
  failParameter,
  parameterOf,
  parseFhirSearch,
  type FhirSearch,
  type UnknownParameterHandling,
} from '../fhir-search/parse-search';
import { parseDateFilter, type DateFilter } from '../fhir-search/date-filter';
import type { ResourceSearchSpec } from '../fhir-search/resource-provider';

export { parseDateFilter, type DateFilter, type DatePrefix, type TimePoint } from '../fhir-search/date-filter';

/**
 * The search parameters of `GET /fhir/AuditEvent`, parsed by the shared FHIR search machinery (on @medplum/core)
 * into a plain description that `search.ts` turns into SQL. Pure, so every rule here is unit-tested without a
 * database.
 *
 * Comma-separated values of one parameter are alternatives (OR); a repeated parameter narrows (AND), as in FHIR.
 */

export { MAX_COUNT } from '../fhir-search/parse-search';

/** A token: `system|code`; `|code`, a code without a system (`system` null); or `code` in any system. */
export interface TokenFilter {
  readonly system?: string | null | undefined;
  readonly code: string;
}

/** A value of `agent` or `entity`: an exact index token (`system|value`, `Type/id`), or a value in any system. */
export type ReferenceFilter =
  { readonly kind: 'exact'; readonly token: string } | { readonly kind: 'value'; readonly value: string };

/** Where a page starts: after (or, going back, before) the row with this sort key, within the first page's moment. */
export interface PageCursor {
  readonly asOf: string;
  readonly direction: 'next' | 'previous';
  readonly recorded: string;
  readonly tenant: string;
  readonly seq: number;
}

export interface AuditSearch {
  /** Each inner list is one parameter occurrence: its values are alternatives. */
  readonly ids: readonly (readonly string[])[];
  readonly patients: readonly (readonly string[])[];
  readonly dates: readonly DateFilter[];
  readonly types: readonly (readonly TokenFilter[])[];
  readonly subtypes: readonly (readonly TokenFilter[])[];
  readonly outcomes: readonly (readonly string[])[];
  readonly agents: readonly (readonly ReferenceFilter[])[];
  readonly entities: readonly (readonly ReferenceFilter[])[];
  readonly count: number;
  readonly sort: 'asc' | 'desc';
  readonly total: 'none' | 'estimate' | 'accurate';
  readonly page?: PageCursor | undefined;
}

/** What `GET /fhir/AuditEvent` understands: the one description the parser and the CapabilityStatement use. */
export const AUDIT_EVENT_SEARCH: ResourceSearchSpec = {
  resourceType: 'AuditEvent',
  documentation:
    'The audit log: IHE BALP AuditEvents of decisions, disclosures and reads, within the caller’s scope, each with ' +
    'its place in its hash chain (extension audit-chain). Search is in order of recorded time.',
  params: [
    { code: '_id', documentation: 'AuditEvent ids (UUIDs)' },
    {
      code: 'patient',
      modifiers: ['identifier'],
      documentation: `the child: a BSN, as <bsn> or ${BSN_SYSTEM}|<bsn>`,
    },
    { code: 'date', documentation: 'recorded; eq, ge, gt, le, lt; dates without time are days in Dutch time' },
    {
      code: 'type',
      documentation: 'system|code, code, or |code for no system (DCM 110106 Export, 110113 Security Alert, rest)',
    },
    {
      code: 'subtype',
      documentation: 'system|code, code, or |code for no system (disclose, AuthZ-Consent, search-type, read)',
    },
    { code: 'outcome', documentation: '0, 4, 8 or 12' },
    {
      code: 'agent',
      modifiers: ['identifier'],
      documentation: 'an agent as system|value (a municipality code, an AGB code, a principal) or a value',
    },
    {
      code: 'entity',
      modifiers: ['identifier'],
      documentation: 'an entity as Type/id (Consent/…, ServiceRequest/…) or system|value',
    },
  ],
  sorts: ['date'],
};

const OUTCOMES = ['0', '4', '8', '12'];

function parseToken(value: string, parameter: string): TokenFilter {
  const bar = value.indexOf('|');
  if (bar < 0) {
    return { code: value };
  }
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  if (code === '') {
    failParameter(`${parameter}: a token needs a code after the '|'`, parameter);
  }
  // FHIR: `|code` is the code in no system, so it must not match a coding that has one.
  return { system: system === '' ? null : system, code };
}

function parseReference(value: string): ReferenceFilter {
  // Our index holds `system|value` for identifiers and `Type/id` for references; a bare value matches any system.
  if (value.startsWith('|')) {
    return { kind: 'value', value: value.slice(1) };
  }
  return value.includes('|') || value.includes('/') ? { kind: 'exact', token: value } : { kind: 'value', value };
}

function parsePatient(value: string, parameter: string): string {
  let bsn = value;
  const bar = value.indexOf('|');
  if (bar >= 0) {
    const system = value.slice(0, bar);
    if (system !== '' && system !== BSN_SYSTEM) {
      failParameter(`${parameter}: only BSN identifiers (${BSN_SYSTEM}) are known here`, parameter);
    }
    bsn = value.slice(bar + 1);
  }
  if (!/^\d{9}$/.test(bsn)) {
    failParameter(`${parameter}: a BSN of 9 digits, as ${BSN_SYSTEM}|<bsn> or <bsn>`, parameter);
  }
  return bsn;
}

const cursorSchema = z
  .object({
    a: tokenMoment(),
    d: z.enum(['n', 'p']),
    r: tokenMoment({ precision: 6 }),
    t: z.string().min(1).max(64),
    s: z.number().int().min(0),
  })
  .strict();

/** An opaque page token; only the sort key and the moment of the first page, never data. */
export function encodeCursor(c: PageCursor): string {
  return encodePageToken({ a: c.asOf, d: c.direction === 'next' ? 'n' : 'p', r: c.recorded, t: c.tenant, s: c.seq });
}

export function decodeCursor(token: string): PageCursor {
  const c = decodePageToken(token, cursorSchema);
  return { asOf: c.a, direction: c.d === 'n' ? 'next' : 'previous', recorded: c.r, tenant: c.t, seq: c.s };
}

/**
 * Parses the query string of an AuditEvent search. Throws a 400 OperationOutcome naming the first parameter that
 * is malformed, or unknown (unless `handling` is lenient).
 */
export function parseAuditSearch(params: URLSearchParams, handling: UnknownParameterHandling = 'strict'): AuditSearch {
  return toAuditSearch(parseFhirSearch(AUDIT_EVENT_SEARCH, params, handling));
}

/** The audit log's own description of a search, from the shared parse: what `search.ts` turns into SQL. */
export function toAuditSearch(search: FhirSearch): AuditSearch {
  const ids: string[][] = [];
  const patients: string[][] = [];
  const dates: DateFilter[] = [];
  const types: TokenFilter[][] = [];
  const subtypes: TokenFilter[][] = [];
  const outcomes: string[][] = [];
  const agents: ReferenceFilter[][] = [];
  const entities: ReferenceFilter[][] = [];
  for (const f of search.filters) {
    const name = parameterOf(AUDIT_EVENT_SEARCH, f);
    const values = alternativesOf(f);
    switch (f.code) {
      case '_id':
        values.forEach((v) => isUuid(v) || failParameter('_id: an AuditEvent id is a UUID', name));
        ids.push(values);
        break;
      case 'patient':
        patients.push(values.map((v) => parsePatient(v, name)));
        break;
      case 'date':
        if (values.length > 1) {
          failParameter('date: give one value per parameter; repeat the parameter for a range', name);
        }
        // The parser took the prefix off; the date rules here read it together with the value.
        dates.push(parseDateFilter(`${f.operator}${f.value.trim()}`));
        break;
      case 'type':
        types.push(values.map((v) => parseToken(v, name)));
        break;
      case 'subtype':
        subtypes.push(values.map((v) => parseToken(v, name)));
        break;
      case 'outcome':
        values.forEach((v) => OUTCOMES.includes(v) || failParameter(`outcome: one of ${OUTCOMES.join(', ')}`, name));
        outcomes.push(values);
        break;
      case 'agent':
        agents.push(values.map(parseReference));
        break;
      case 'entity':
        entities.push(values.map(parseReference));
        break;
      default:
        failParameter(`Unknown search parameter '${name}' for AuditEvent`, name);
    }
  }
  return {
    ids,
    patients,
    dates,
    types,
    subtypes,
    outcomes,
    agents,
    entities,
    count: search.count,
    sort: search.sort?.descending ? 'desc' : 'asc',
    total: search.total,
    page: search.page === undefined ? undefined : decodeCursor(search.page),
  };
}
