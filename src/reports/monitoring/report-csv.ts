import type { MeasureReport } from '@medplum/fhirtypes';
import type { ReportPeriod } from './period';
import { reportRows } from './report-table';

/** RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled. */
function field(value: string | number | undefined): string {
  const s = value === undefined ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const HEADER = [
  'period_start',
  'period_end',
  'municipality',
  'group',
  'stratifier',
  'code',
  'display',
  'count',
  'withheld',
  'score',
  'unit',
];

/**
 * The report as CSV for a spreadsheet: one row per group and per stratum, a withheld count left empty with
 * `withheld` true. Hand-written: five lines of quoting do not warrant a dependency, and the one CSV module of the
 * product reads CSV, it does not write it.
 */
export function reportCsv(report: MeasureReport): string {
  const municipality = report.reporter?.identifier?.value ?? '';
  const lines = [HEADER.join(',')];
  for (const r of reportRows(report)) {
    lines.push(
      [
        report.period.start,
        report.period.end,
        municipality,
        r.group,
        r.stratifier,
        r.code,
        r.display,
        r.count,
        r.withheld ? 'true' : 'false',
        r.score,
        r.unit,
      ]
        .map(field)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The CSV's file name: the municipality and the period, so downloads of different reports keep apart. */
export function reportCsvFileName(municipality: string, period: ReportPeriod): string {
  return `monitoring-${municipality}-${period.label}.csv`;
}
