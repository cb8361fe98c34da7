import type { MeasureReport } from '@medplum/fhirtypes';
import { MONITORING_SYSTEM, tryGetConcept } from '../../kernel/fhir/terminology';
import type { ReportPeriod } from './period';
import { reportRows, rowWords, savingInputsOf, type ReportLang, type ReportRow } from './report-table';

/**
 * How the CSV is written. `comma` (the default) is RFC 4180 with decimal points; `semicolon` is what a spreadsheet in
 * a Dutch locale (Excel nl-NL) opens as columns: fields by `;` and decimals with a comma, for a comma is its decimal
 * separator and a point its thousands separator (33248.46 would be read as 3324846). `bom` starts the file with a
 * UTF-8 byte order mark, without which Excel reads "0-3 jaar" fine but "×" and "–" garbled.
 */
export interface CsvOptions {
  readonly delimiter?: 'comma' | 'semicolon' | undefined;
  readonly bom?: boolean | undefined;
  /** The language of the `display` column: Dutch (the report's own displays, the default) or English. */
  readonly lang?: ReportLang | undefined;
}

/**
 * A code Excel in a Dutch locale would take for a date or a number rather than text: `1-3` becomes 1 March, `4-11`
 * 4 November (the age bands and contact bins). In the semicolon CSV (the one for Excel) such a code is written as
 * the formula `="4-11"`, which Excel shows as the text 4-11 and keeps so for pivots and lookups. Chosen over a
 * leading apostrophe (Excel shows it in a CSV), a leading tab (a different code to anything reading it) or an en
 * dash (no longer the API's code).
 */
const EXCEL_READS_AS_DATE = /^\d+[-/.]\d+([-/.]\d+)?$/;

function excelCode(code: string): string {
  return EXCEL_READS_AS_DATE.test(code) ? `="${code}"` : code;
}

export const CSV_DELIMITERS = ['comma', 'semicolon'] as const;

/** RFC 4180 quoting: a field with the delimiter, a quote or a line break is quoted, quotes doubled. */
function fieldOf(value: string | number | undefined, delimiter: string, decimalComma: boolean): string {
  const s =
    value === undefined
      ? ''
      : typeof value === 'number' && decimalComma
        ? String(value).replace('.', ',')
        : String(value);
  return s.includes(delimiter) || /["\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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
  'score_withheld',
  'unit',
  'status',
];

/**
 * The saving estimate's other inputs, q and the professional cost C, as rows of their own right after its row (the
 * MeasureReport has them as extensions of that group), so p × q − C can be recomputed from the CSV alone.
 */
function savingInputRows(report: MeasureReport): ReportRow[] {
  const inputs = savingInputsOf(report);
  const row = (code: 'q' | 'professional-cost', value: number | undefined): ReportRow[] =>
    value === undefined
      ? []
      : [
          {
            group: 'estimated-saving',
            stratifier: '',
            code,
            system: MONITORING_SYSTEM,
            display: tryGetConcept(MONITORING_SYSTEM, code)?.display ?? code,
            count: undefined,
            withheld: false,
            score: value,
            scoreWithheld: false,
            unit: 'EUR',
          },
        ];
  return [...row('q', inputs.q), ...row('professional-cost', inputs.professionalCost)];
}

/**
 * The report as CSV for a spreadsheet: one row per group and per stratum (and q and C after the saving), a withheld
 * count left empty with `withheld` true, a withheld score (a mean, a median, the saving) empty with `score_withheld`
 * true; `status` is the report's (`pending` while the period runs: the figures are provisional, `complete` after).
 * Hand-written: a few lines of quoting do not warrant a dependency, and the one CSV module of the product reads
 * CSV, it does not write it.
 */
export function reportCsv(report: MeasureReport, options: CsvOptions = {}): string {
  const municipality = report.reporter?.identifier?.value ?? '';
  const semicolon = options.delimiter === 'semicolon';
  const delimiter = semicolon ? ';' : ',';
  const lines = [HEADER.join(delimiter)];
  const rows = reportRows(report).flatMap((r) =>
    r.group === 'estimated-saving' && r.stratifier === '' ? [r, ...savingInputRows(report)] : [r],
  );
  for (const r of rows) {
    lines.push(
      [
        report.period.start,
        report.period.end,
        municipality,
        r.group,
        r.stratifier,
        semicolon ? excelCode(r.code) : r.code,
        rowWords(r, options.lang ?? 'nl'),
        r.count,
        String(r.withheld),
        r.score,
        String(r.scoreWithheld),
        r.unit,
        report.status,
      ]
        .map((v) => fieldOf(v, delimiter, semicolon))
        .join(delimiter),
    );
  }
  return `${options.bom ? '\uFEFF' : ''}${lines.join('\r\n')}\r\n`;
}

/** The CSV's file name: the municipality and the period, so downloads of different reports keep apart. */
export function reportCsvFileName(municipality: string, period: ReportPeriod): string {
  return `monitoring-${municipality}-${period.label}.csv`;
}
