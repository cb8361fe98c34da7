import { badRequest, OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import { BSN_SYSTEM } from '../../kernel/fhir/identifiers';

/**
 * The search parameters of `GET /fhir/AuditEvent`, parsed from the query string into a plain description that
 * `search.ts` turns into SQL. Pure, so every rule here is unit-tested without a database.
 *
 * Comma-separated values of one parameter are alternatives (OR); a repeated parameter narrows (AND), as in FHIR.
 */

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;

/** A point in time: an instant with its own offset, or a wall-clock time in Europe/Amsterdam (a date without time). */
export type TimePoint =
  { readonly kind: 'instant'; readonly iso: string } | { readonly kind: 'local'; readonly wall: string };

export type DatePrefix = 'eq' | 'ge' | 'gt' | 'le' | 'lt';

/** `date=<prefix><value>`: the value is a range [start, end) at its own precision (a day, a second, ...). */
export interface DateFilter {
  readonly prefix: DatePrefix;
  readonly start: TimePoint;
  readonly end: TimePoint;
}

/** A token: `system|code`, or `code` in any system. */
export interface TokenFilter {
  readonly system?: string | undefined;
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

/** Every parameter this endpoint understands; anything else is a 400 naming it. */
export const AUDIT_SEARCH_PARAMETERS = [
  '_id',
  'patient',
  'patient:identifier',
  'date',
  'type',
  'subtype',
  'outcome',
  'agent',
  'agent:identifier',
  'entity',
  'entity:identifier',
  '_count',
  '_sort',
  '_total',
  '_page',
  '_format',
] as const;

const OUTCOMES = ['0', '4', '8', '12'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function fail(details: string, parameter: string): never {
  throw new OperationOutcomeError(badRequest(details, parameter));
}

function alternatives(raw: string): string[] {
  return raw
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function parseToken(value: string, parameter: string): TokenFilter {
  const bar = value.indexOf('|');
  if (bar < 0) {
    return { code: value };
  }
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  if (code === '') {
    fail(`${parameter}: a token needs a code after the '|'`, parameter);
  }
  return system === '' ? { code } : { system, code };
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
      fail(`${parameter}: only BSN identifiers (${BSN_SYSTEM}) are known here`, parameter);
    }
    bsn = value.slice(bar + 1);
  }
  if (!/^\d{9}$/.test(bsn)) {
    fail(`${parameter}: a BSN of 9 digits, as ${BSN_SYSTEM}|<bsn> or <bsn>`, parameter);
  }
  return bsn;
}

const DATE_VALUE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The wall-clock start of a calendar period: `YYYY-MM-DDT00:00:00`, months and years rolling over as needed. */
function wall(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T00:00:00`;
}

/** Parses one `date` value (prefix and FHIR date/dateTime at any precision) into a range. Exported for tests. */
export function parseDateFilter(raw: string): DateFilter {
  // A '+' in an offset arrives as a space when the client did not percent-encode it.
  const value = raw.replace(/ /g, '+');
  const m = /^(eq|ge|gt|le|lt|ne|sa|eb|ap)?(.*)$/.exec(value);
  const prefix = (m?.[1] ?? 'eq') as DatePrefix | 'ne' | 'sa' | 'eb' | 'ap';
  if (prefix === 'ne' || prefix === 'sa' || prefix === 'eb' || prefix === 'ap') {
    fail(`date: the prefix '${prefix}' is not supported; use eq, ge, gt, le or lt`, 'date');
  }
  const d = DATE_VALUE.exec(m?.[2] ?? '');
  if (!d) {
    fail('date: expected YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a time zone, after an optional prefix', 'date');
  }
  const [, y, mo, da, hh, mi, ss, frac, tz] = d;
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = da ? Number(da) : 1;
  const check = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    fail('date: not a calendar date', 'date');
  }
  if (hh === undefined) {
    // A date without time: the whole day (month, year) in Dutch time, where the events happened.
    const end = !mo ? wall(year + 1, 1, 1) : !da ? wall(year, month + 1, 1) : wall(year, month, day + 1);
    return { prefix, start: { kind: 'local', wall: wall(year, month, day) }, end: { kind: 'local', wall: end } };
  }
  if (!tz) {
    fail('date: a time needs a time zone (Z or +01:00)', 'date');
  }
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59) {
    fail('date: not a valid time', 'date');
  }
  const base = `${y}-${pad(month)}-${pad(day)}T${hh}:${mi}:${ss ?? '00'}${frac ?? ''}${tz}`;
  const startMs = Date.parse(base);
  if (Number.isNaN(startMs)) {
    fail('date: not a valid dateTime', 'date');
  }
  const precisionMs = frac ? 10 ** (3 - (frac.length - 1)) : ss !== undefined ? 1000 : 60_000;
  return {
    prefix,
    start: { kind: 'instant', iso: new Date(startMs).toISOString() },
    end: { kind: 'instant', iso: new Date(startMs + precisionMs).toISOString() },
  };
}

const cursorSchema = z
  .object({
    a: z.iso.datetime(),
    d: z.enum(['n', 'p']),
    r: z.string().min(1).max(64),
    t: z.string().min(1).max(64),
    s: z.number().int().min(0),
  })
  .strict();

/** An opaque page token (base64url JSON); only the sort key and the moment of the first page, never data. */
export function encodeCursor(c: PageCursor): string {
  const compact = { a: c.asOf, d: c.direction === 'next' ? 'n' : 'p', r: c.recorded, t: c.tenant, s: c.seq };
  return Buffer.from(JSON.stringify(compact), 'utf8').toString('base64url');
}

export function decodeCursor(token: string): PageCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    fail('_page: not a page token from this server', '_page');
  }
  const r = cursorSchema.safeParse(parsed);
  if (!r.success) {
    fail('_page: not a page token from this server', '_page');
  }
  return {
    asOf: r.data.a,
    direction: r.data.d === 'n' ? 'next' : 'previous',
    recorded: r.data.r,
    tenant: r.data.t,
    seq: r.data.s,
  };
}

/**
 * Parses the query string of an AuditEvent search. Throws a 400 OperationOutcome naming the first parameter that
 * is unknown or malformed.
 */
export function parseAuditSearch(params: URLSearchParams): AuditSearch {
  const known = new Set<string>(AUDIT_SEARCH_PARAMETERS);
  const ids: string[][] = [];
  const patients: string[][] = [];
  const dates: DateFilter[] = [];
  const types: TokenFilter[][] = [];
  const subtypes: TokenFilter[][] = [];
  const outcomes: string[][] = [];
  const agents: ReferenceFilter[][] = [];
  const entities: ReferenceFilter[][] = [];
  let count = DEFAULT_COUNT;
  let sort: AuditSearch['sort'] = 'asc';
  let total: AuditSearch['total'] = 'estimate';
  let page: PageCursor | undefined;
  const once = new Set<string>();
  for (const [name, raw] of params) {
    if (!known.has(name)) {
      fail(`Unknown search parameter '${name}' for AuditEvent`, name);
    }
    if (name.startsWith('_') && name !== '_id') {
      if (once.has(name)) {
        fail(`${name} may be given once`, name);
      }
      once.add(name);
    }
    const values = alternatives(raw);
    if (values.length === 0 && name !== '_page') {
      fail(`${name}: a value is required`, name);
    }
    switch (name) {
      case '_id':
        values.forEach((v) => UUID.test(v) || fail('_id: an AuditEvent id is a UUID', name));
        ids.push(values);
        break;
      case 'patient':
      case 'patient:identifier':
        patients.push(values.map((v) => parsePatient(v, name)));
        break;
      case 'date':
        if (values.length > 1) {
          fail('date: give one value per parameter; repeat the parameter for a range', name);
        }
        dates.push(parseDateFilter(raw.trim()));
        break;
      case 'type':
        types.push(values.map((v) => parseToken(v, name)));
        break;
      case 'subtype':
        subtypes.push(values.map((v) => parseToken(v, name)));
        break;
      case 'outcome':
        values.forEach((v) => OUTCOMES.includes(v) || fail(`outcome: one of ${OUTCOMES.join(', ')}`, name));
        outcomes.push(values);
        break;
      case 'agent':
      case 'agent:identifier':
        agents.push(values.map(parseReference));
        break;
      case 'entity':
      case 'entity:identifier':
        entities.push(values.map(parseReference));
        break;
      case '_count': {
        const n = Number(raw);
        if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
          fail('_count: a whole number', name);
        }
        // Larger requests are served at the maximum, as FHIR servers do, rather than refused.
        count = Math.min(n, MAX_COUNT);
        break;
      }
      case '_sort':
        if (raw !== 'date' && raw !== '-date') {
          fail("_sort: 'date' (oldest first, the default) or '-date' (newest first)", name);
        }
        sort = raw === 'date' ? 'asc' : 'desc';
        break;
      case '_total':
        if (raw !== 'none' && raw !== 'estimate' && raw !== 'accurate') {
          fail("_total: 'none', 'estimate' or 'accurate'", name);
        }
        total = raw;
        break;
      case '_page':
        page = decodeCursor(raw);
        break;
      case '_format':
        if (!['json', 'application/json', 'application/fhir+json'].includes(raw)) {
          fail('_format: only JSON is served', name);
        }
        break;
    }
  }
  return { ids, patients, dates, types, subtypes, outcomes, agents, entities, count, sort, total, page };
}
