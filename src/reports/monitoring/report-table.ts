import type { MeasureReport, MeasureReportGroupPopulation } from '@medplum/fhirtypes';
import { DATA_ABSENT_REASON } from './measure-report';

/**
 * The MeasureReport flattened to rows: what the CSV and the chart are made of. Both read the FHIR report itself,
 * so they can only ever show the numbers (and the withheld cells) the MeasureReport has.
 */
export interface ReportRow {
  readonly group: string;
  /** Empty for the group's own row. */
  readonly stratifier: string;
  readonly code: string;
  readonly display: string;
  /** Undefined when withheld, or when the row has only a score. */
  readonly count: number | undefined;
  readonly withheld: boolean;
  readonly score: number | undefined;
  readonly unit: string;
}

function isMasked(x: { extension?: { url?: string; valueCode?: string }[] | undefined } | undefined): boolean {
  return x?.extension?.some((e) => e.url === DATA_ABSENT_REASON && e.valueCode === 'masked') ?? false;
}

function countOf(p: MeasureReportGroupPopulation | undefined): { count: number | undefined; withheld: boolean } {
  return { count: p?.count, withheld: isMasked(p) };
}

export function reportRows(report: MeasureReport): ReportRow[] {
  const rows: ReportRow[] = [];
  for (const g of report.group ?? []) {
    const group = g.code?.coding?.[0]?.code ?? '';
    const own = countOf(g.population?.[0]);
    rows.push({
      group,
      stratifier: '',
      code: g.population?.[0]?.code?.coding?.[0]?.code ?? '',
      display: g.code?.coding?.[0]?.display ?? '',
      count: own.count,
      withheld: own.withheld || isMasked(g),
      score: g.measureScore?.value,
      unit: g.measureScore?.unit ?? '',
    });
    for (const s of g.stratifier ?? []) {
      const stratifier = s.code?.[0]?.coding?.[0]?.code ?? '';
      for (const st of s.stratum ?? []) {
        const c = countOf(st.population?.[0]);
        rows.push({
          group,
          stratifier,
          code: st.value?.coding?.[0]?.code ?? '',
          display: st.value?.coding?.[0]?.display ?? '',
          count: c.count,
          withheld: c.withheld,
          score: st.measureScore?.value,
          unit: st.measureScore?.unit ?? '',
        });
      }
    }
  }
  return rows;
}
