import type { MeasureReport, MeasureReportGroupPopulation } from '@medplum/fhirtypes';
import { DATA_ABSENT_REASON, REPORT_EXTENSION } from './measure-report';
import { MONITORING_SYSTEM, tryGetDisplayIn } from '../../kernel/fhir/terminology';

/** The languages the report's words are shown in: Dutch (the report's own displays), or English. */
export const REPORT_LANGS = ['nl', 'en'] as const;
export type ReportLang = (typeof REPORT_LANGS)[number];

/** A code of the Measure (a group, a stratifier, q) in a language: its display in Dutch, its designation in English. */
export function measureWords(code: string, lang: ReportLang): string {
  return tryGetDisplayIn(MONITORING_SYSTEM, code, lang) ?? code;
}

/**
 * A row's words in a language: the report's own display in Dutch; in English the code table's English, a stratum's
 * by its category's system, a group's by its Measure code (the report's display where the table has none).
 */
export function rowWords(r: ReportRow, lang: ReportLang): string {
  if (lang === 'nl') {
    return r.display;
  }
  return (
    (r.system ? tryGetDisplayIn(r.system, r.code, lang) : tryGetDisplayIn(MONITORING_SYSTEM, r.group, lang)) ??
    r.display
  );
}

/**
 * The MeasureReport flattened to rows: what the CSV and the chart are made of. Both read the FHIR report itself,
 * so they can only ever show the numbers (and the withheld cells) the MeasureReport has.
 */
export interface ReportRow {
  readonly group: string;
  /** Empty for the group's own row. */
  readonly stratifier: string;
  readonly code: string;
  /** The code system of a stratum's category (its words in another language are looked up there); empty for a group. */
  readonly system: string;
  readonly display: string;
  /** Undefined when withheld, or when the row has only a score. */
  readonly count: number | undefined;
  /** The count is withheld (not the score: a shown count can have a withheld mean). */
  readonly withheld: boolean;
  readonly score: number | undefined;
  /** The score is withheld: its own flag, so a shown count is never taken for a withheld one. */
  readonly scoreWithheld: boolean;
  readonly unit: string;
}

function isMasked(x: { extension?: { url?: string; valueCode?: string }[] | undefined } | undefined): boolean {
  return x?.extension?.some((e) => e.url === DATA_ABSENT_REASON && e.valueCode === 'masked') ?? false;
}

function countOf(p: MeasureReportGroupPopulation | undefined): { count: number | undefined; withheld: boolean } {
  return { count: p?.count, withheld: isMasked(p) };
}

/** The inputs of the saving estimate besides p (extensions of its group): q and the professional cost C, in EUR. */
export interface SavingInputs {
  readonly q: number | undefined;
  readonly professionalCost: number | undefined;
}

export function savingInputsOf(report: MeasureReport): SavingInputs {
  const saving = report.group?.find((g) => g.code?.coding?.[0]?.code === 'estimated-saving');
  const money = (url: string) => saving?.extension?.find((e) => e.url === url)?.valueMoney?.value;
  return { q: money(REPORT_EXTENSION.q), professionalCost: money(REPORT_EXTENSION.professionalCost) };
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
      system: '',
      display: g.code?.coding?.[0]?.display ?? '',
      count: own.count,
      withheld: own.withheld,
      score: g.measureScore?.value,
      scoreWithheld: isMasked(g),
      unit: g.measureScore?.unit ?? '',
    });
    // A group without a population of its own (the waiting intervals) scores each stratum: a stratum's median goes
    // with its withheld n.
    const strataScored = g.population === undefined || g.population.length === 0;
    for (const s of g.stratifier ?? []) {
      const stratifier = s.code?.[0]?.coding?.[0]?.code ?? '';
      for (const st of s.stratum ?? []) {
        const c = countOf(st.population?.[0]);
        rows.push({
          group,
          stratifier,
          code: st.value?.coding?.[0]?.code ?? '',
          system: st.value?.coding?.[0]?.system ?? '',
          display: st.value?.coding?.[0]?.display ?? '',
          count: c.count,
          withheld: c.withheld,
          score: st.measureScore?.value,
          scoreWithheld: isMasked(st) || (strataScored && c.withheld),
          unit: st.measureScore?.unit ?? '',
        });
      }
    }
  }
  return rows;
}
