import { isValidIsoDate } from '../../kernel/fhir/identifiers';

/** A report's period: calendar days, both ends included, and how it was asked for. */
export interface ReportPeriod {
  readonly start: string;
  readonly end: string;
  /** `2026-Q3`, `2026-H1`, `2026`, or `2026-02-01_2026-03-15` for a from/to range. */
  readonly label: string;
}

const PERIOD = /^(\d{4})(?:-(Q[1-4]|H[12]))?$/;

function lastDayOf(year: number, month: number): string {
  const day = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** `2026-Q3` → 2026-07-01..2026-09-30; `2026-H1` → 2026-01-01..2026-06-30; `2026` → the year. Undefined if not one. */
export function tryParsePeriod(value: string): ReportPeriod | undefined {
  const m = PERIOD.exec(value);
  if (!m) {
    return undefined;
  }
  const year = Number(m[1]);
  const part = m[2];
  const [first, last] = !part
    ? [1, 12]
    : part.startsWith('Q')
      ? [(Number(part[1]) - 1) * 3 + 1, Number(part[1]) * 3]
      : part === 'H1'
        ? [1, 6]
        : [7, 12];
  return { start: `${year}-${String(first).padStart(2, '0')}-01`, end: lastDayOf(year, last), label: value };
}

/** A from/to range of dates (both included), or undefined when either is not a date or they are reversed. */
export function tryParseRange(from: string, to: string): ReportPeriod | undefined {
  if (!isValidIsoDate(from) || !isValidIsoDate(to) || to < from) {
    return undefined;
  }
  return { start: from, end: to, label: `${from}_${to}` };
}

/** Days in the period, both ends included: what the professional's cost is pro-rated by. */
export function daysIn(p: ReportPeriod): number {
  return Math.round((Date.parse(`${p.end}T00:00:00Z`) - Date.parse(`${p.start}T00:00:00Z`)) / 86_400_000) + 1;
}

/** The standard period (`2026-Q3`, `2026-H2`, `2026`) these dates are exactly, or undefined. */
export function standardLabelOf(p: { readonly start: string; readonly end: string }): string | undefined {
  const year = p.start.slice(0, 4);
  return [`${year}-Q1`, `${year}-Q2`, `${year}-Q3`, `${year}-Q4`, `${year}-H1`, `${year}-H2`, year].find((label) => {
    const standard = tryParsePeriod(label);
    return standard?.start === p.start && standard.end === p.end;
  });
}

/**
 * What a half-year or year is made of, each a standard period a municipality can ask for too: its two halves
 * (a half-year's quarters, a year's half-years) and every standard period inside it. Undefined for a quarter or a
 * range that is no standard period.
 */
export function standardPartsOf(
  p: ReportPeriod,
): { readonly halves: readonly [ReportPeriod, ReportPeriod]; readonly parts: readonly ReportPeriod[] } | undefined {
  const label = standardLabelOf(p);
  const year = p.start.slice(0, 4);
  // Each of these labels is a period; `p` only satisfies the type.
  const of = (part: string): ReportPeriod => tryParsePeriod(`${year}-${part}`) ?? p;
  if (label === `${year}-H1` || label === `${year}-H2`) {
    const [a, b] = label.endsWith('H1') ? [of('Q1'), of('Q2')] : [of('Q3'), of('Q4')];
    return { halves: [a, b], parts: [a, b] };
  }
  if (label === year) {
    const [h1, h2] = [of('H1'), of('H2')];
    return { halves: [h1, h2], parts: [h1, h2, of('Q1'), of('Q2'), of('Q3'), of('Q4')] };
  }
  return undefined;
}

/** The parameter a period was asked by: `period`, or `from` for a from/to range. */
export function periodParameterOf(p: ReportPeriod): 'period' | 'from' {
  return tryParsePeriod(p.label) ? 'period' : 'from';
}
