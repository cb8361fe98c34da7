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
