import type { SqlParams } from '../../kernel/sql-params';
import { failParameter } from './parse-search';

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

/**
 * Parses one value of a date parameter (prefix and FHIR date/dateTime at any precision) into a range; a 400 names
 * `parameter` (`date`, `_lastUpdated`). Exported for tests.
 */
export function parseDateFilter(raw: string, parameter = 'date'): DateFilter {
  // A '+' in an offset arrives as a space when the client did not percent-encode it.
  const value = raw.replace(/ /g, '+');
  const m = /^(eq|ge|gt|le|lt|ne|sa|eb|ap)?(.*)$/.exec(value);
  const prefix = (m?.[1] ?? 'eq') as DatePrefix | 'ne' | 'sa' | 'eb' | 'ap';
  if (prefix === 'ne' || prefix === 'sa' || prefix === 'eb' || prefix === 'ap') {
    failParameter(`${parameter}: the prefix '${prefix}' is not supported; use eq, ge, gt, le or lt`, parameter);
  }
  const d = DATE_VALUE.exec(m?.[2] ?? '');
  if (!d) {
    failParameter(
      `${parameter}: expected YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a time zone, after an optional prefix`,
      parameter,
    );
  }
  const [, y, mo, da, hh, mi, ss, frac, tz] = d;
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = da ? Number(da) : 1;
  const check = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    failParameter(`${parameter}: not a calendar date`, parameter);
  }
  if (hh === undefined) {
    // A date without time: the whole day (month, year) in Dutch time, where the events happened.
    const end = !mo ? wall(year + 1, 1, 1) : !da ? wall(year, month + 1, 1) : wall(year, month, day + 1);
    return { prefix, start: { kind: 'local', wall: wall(year, month, day) }, end: { kind: 'local', wall: end } };
  }
  if (!tz) {
    failParameter(`${parameter}: a time needs a time zone (Z or +01:00)`, parameter);
  }
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59) {
    failParameter(`${parameter}: not a valid time`, parameter);
  }
  const base = `${y}-${pad(month)}-${pad(day)}T${hh}:${mi}:${ss ?? '00'}${frac ?? ''}${tz}`;
  const startMs = Date.parse(base);
  if (Number.isNaN(startMs)) {
    failParameter(`${parameter}: not a valid dateTime`, parameter);
  }
  const precisionMs = frac ? 10 ** (3 - (frac.length - 1)) : ss !== undefined ? 1000 : 60_000;
  return {
    prefix,
    start: { kind: 'instant', iso: new Date(startMs).toISOString() },
    end: { kind: 'instant', iso: new Date(startMs + precisionMs).toISOString() },
  };
}

function timeSql(t: TimePoint, q: SqlParams): string {
  // Dates without a time are days in Dutch time; PostgreSQL knows the Europe/Amsterdam rules, daylight saving too.
  return t.kind === 'instant'
    ? q.add(t.iso, 'timestamptz')
    : `(${q.add(t.wall, 'timestamp')} AT TIME ZONE 'Europe/Amsterdam')`;
}

/** The SQL condition of a date filter on a `timestamptz` column. */
export function dateCondition(column: string, f: DateFilter, q: SqlParams): string {
  switch (f.prefix) {
    case 'eq':
      return `${column} >= ${timeSql(f.start, q)} AND ${column} < ${timeSql(f.end, q)}`;
    case 'ge':
      return `${column} >= ${timeSql(f.start, q)}`;
    case 'gt':
      return `${column} >= ${timeSql(f.end, q)}`;
    case 'le':
      return `${column} < ${timeSql(f.end, q)}`;
    case 'lt':
      return `${column} < ${timeSql(f.start, q)}`;
  }
}
