import type {
  CodeableConcept,
  Extension,
  MeasureReport,
  MeasureReportGroup,
  MeasureReportGroupPopulation,
  Quantity,
} from '@medplum/fhirtypes';
import { municipalityIdentifier } from '../../kernel/fhir/identifiers';
import {
  categoryCodings,
  GROUPS,
  groupCoding,
  MEASURE_POPULATION_SYSTEM,
  MEASURE_URL,
  type GroupCode,
  type GroupSpec,
} from './measure';
import type { ReportPeriod } from './period';
import type { CountsByCode, MonitoringCounts } from './report-store';
import { isSmall, withheldCells } from './suppression';

/** FHIR's own way to say a value is left out for privacy: data-absent-reason `masked`. */
export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
const MASKED: Extension = { url: DATA_ABSENT_REASON, valueCode: 'masked' };
/** Ours: the inputs of the saving estimate and the suppression threshold, so anyone can check the report. */
export const REPORT_EXTENSION = {
  k: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-k',
  q: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-q',
  professionalCost: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-professional-cost',
  practice: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-practice',
} as const;

/** What the report needs besides the counts: who it is for, the period, and the agreements' monitoring settings. */
export interface ReportSettings {
  readonly municipality: { readonly code: string; readonly name: string };
  readonly period: ReportPeriod;
  readonly practice?: string | undefined;
  readonly k: number;
  /** EUR per specialised trajectory avoided. */
  readonly q: number;
  /** EUR the youth professional(s) cost in this period. */
  readonly professionalCost: number;
  /** When the report was made (MeasureReport.date). */
  readonly date: string;
  /** `pending` while the period runs (its figures still grow), else `complete` (the default). */
  readonly status?: 'complete' | 'pending' | undefined;
}

/** Which cells of one group are withheld: its total, and each stratum of each stratifier (waiting-days: no total). */
export interface GroupCells<T> {
  readonly total: T;
  readonly strata: readonly (readonly T[])[];
}

/**
 * Cells to withhold in a report whatever their own counts, because another report asked for withholds them (a
 * quarter of a half-year, another practice of the municipality): by group, as the report lists its groups.
 */
export type ForcedCells = ReadonlyMap<GroupCode, GroupCells<boolean>>;

const EUR = (value: number): Quantity => ({ value, unit: 'EUR', system: 'urn:iso:std:iso:4217', code: 'EUR' });
const DAYS = (value: number): Quantity => ({ value, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' });
const MONEY = (value: number) => ({ value, currency: 'EUR' as const });

const INITIAL_POPULATION: CodeableConcept = {
  coding: [{ system: MEASURE_POPULATION_SYSTEM, code: 'initial-population', display: 'Initial Population' }],
};

function population(count: number | undefined, code = INITIAL_POPULATION): MeasureReportGroupPopulation {
  return count === undefined ? { extension: [MASKED], code } : { code, count };
}

/** Every category of a stratifier's code list (zeros shown) with its count. */
function valuesOf(spec: GroupSpec['stratifiers'][number], counts: CountsByCode): number[] {
  return spec.codes.map((c) => counts.get(c) ?? 0);
}

function countGroup(
  spec: GroupSpec,
  total: number,
  byStratifier: readonly CountsByCode[],
  k: number,
  forced: GroupCells<boolean> | undefined,
  score?: Quantity,
): MeasureReportGroup {
  const values = spec.stratifiers.map((s, i) => valuesOf(s, byStratifier[i] ?? new Map()));
  const suppress = (totalShown: boolean) =>
    spec.stratifiers.map((s, i) =>
      withheldCells(values[i] ?? [], k, { totalShown, strata: s.strata, total, forced: forced?.strata[i] }),
    );
  let totalShown = !isSmall(total, k) && forced?.total !== true;
  let withheld = suppress(totalShown);
  if (totalShown && withheld.some((w) => w.totalWithheld)) {
    // One stratifier's cells could only be hidden by hiding the total: every stratifier of it is redone without.
    totalShown = false;
    withheld = suppress(false);
  }
  return {
    code: { coding: [groupCoding(spec.code)] },
    population: [population(totalShown ? total : undefined)],
    // A score over fewer than k trajectories could single one out: withheld with its total. So is a score beside a
    // withheld cell: the mean number of contacts with the total gives their sum, which can tell the withheld bins
    // apart (13 in all, 10 with one contact, "2-7" and "8+" withheld: 24 contacts leave only 2 and 1).
    ...(score && totalShown && !withheld.some((w) => w.cells.some(Boolean))
      ? { measureScore: score }
      : score
        ? { extension: [MASKED] }
        : {}),
    stratifier: spec.stratifiers.map((s, i) => ({
      code: [{ coding: [groupCoding(s.code)] }],
      stratum: s.codes.map((code, j) => ({
        value: { coding: categoryCodings(s.system, code) },
        population: [population(withheld[i]?.cells[j] ? undefined : values[i]?.[j])],
      })),
    })),
  };
}

function specOf(code: GroupCode): GroupSpec {
  const spec = GROUPS.find((g) => g.code === code);
  if (!spec) {
    throw new Error(`No group ${code}`);
  }
  return spec;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/**
 * The waiting times. Each interval's n is a part of another group's total (trajectories started, referrals made):
 * it is withheld whenever that total is, when n is small, and when the total less n (started without a first
 * contact, referred without a start of care) is small.
 */
function waitingGroup(
  counts: MonitoringCounts,
  k: number,
  totalsShown: readonly [boolean, boolean],
  forced: GroupCells<boolean> | undefined,
): MeasureReportGroup {
  const spec = specOf('waiting-days');
  const intervals = [counts.waiting.startToFirstContact, counts.waiting.referralToCare];
  const totals = [counts.inflow.total, counts.referrals.total];
  const shown = intervals.map(
    (w, i) =>
      !withheldCells([w.n], k, {
        totalShown: totalsShown[i] === true,
        strata: 'part',
        total: totals[i] ?? 0,
        forced: [forced?.strata[0]?.[i] === true],
      }).cells[0],
  );
  const first = intervals[0];
  return {
    code: { coding: [groupCoding(spec.code)] },
    ...(first?.median !== undefined && shown[0]
      ? { measureScore: DAYS(first.median) }
      : first?.median !== undefined
        ? { extension: [MASKED] }
        : {}),
    stratifier: [
      {
        code: [{ coding: [groupCoding('interval')] }],
        stratum: (spec.stratifiers[0]?.codes ?? []).map((code, i) => {
          const w = intervals[i] ?? { n: 0, median: undefined };
          const ok = shown[i] === true;
          return {
            value: { coding: categoryCodings(spec.stratifiers[0]?.system ?? '', code) },
            population: [population(ok ? w.n : undefined)],
            ...(w.median !== undefined && ok ? { measureScore: DAYS(w.median) } : {}),
          };
        }),
      },
    ],
  };
}

/**
 * The saving estimate. p is the `closed-without-referral` stratum of `closed`, so it is withheld exactly when
 * that stratum is, and the score with it (p × q − cost would give p back).
 */
function savingGroup(closed: MeasureReportGroup, s: ReportSettings): MeasureReportGroup {
  const stratum = closed.stratifier?.[0]?.stratum?.find(
    (x) => x.value?.coding?.[0]?.code === 'closed-without-referral',
  );
  const p = stratum?.population?.[0]?.count;
  const extension: Extension[] = [
    { url: REPORT_EXTENSION.q, valueMoney: MONEY(s.q) },
    { url: REPORT_EXTENSION.professionalCost, valueMoney: MONEY(round(s.professionalCost, 2)) },
  ];
  return {
    code: { coding: [groupCoding('estimated-saving')] },
    extension: p === undefined ? [...extension, MASKED] : extension,
    population: [population(p, { coding: [groupCoding('p')] })],
    ...(p === undefined ? {} : { measureScore: EUR(round(p * s.q - s.professionalCost, 2)) }),
  };
}

/** The groups counted with a total and strata (waiting-days has intervals, estimated-saving is derived). */
type CountedGroup = Exclude<GroupCode, 'waiting-days' | 'estimated-saving'>;

/** Where each counted group's total and strata (one map per stratifier, in the Measure's order) are in the counts. */
function sourcesOf(c: MonitoringCounts): Record<CountedGroup, { total: number; byStratifier: CountsByCode[] }> {
  return {
    inflow: { total: c.inflow.total, byStratifier: [c.inflow.byAgeBand, c.inflow.byReferrer] },
    closed: { total: c.closed.total, byStratifier: [c.closed.byOutcome] },
    'contacts-per-trajectory': { total: c.contacts.total, byStratifier: [c.contacts.byBin] },
    'help-question': { total: c.active.total, byStratifier: [c.active.byHelpQuestion] },
    intervention: { total: c.active.total, byStratifier: [c.active.byIntervention] },
    'referral-target': {
      total: c.referrals.total,
      byStratifier: [c.referrals.byTarget, c.referrals.byProductCategory],
    },
  };
}

/**
 * Every count a report can show, unsuppressed, cell by cell as the report lays them out: each counted group's total
 * and strata, and the waiting intervals' n (as waiting-days' one stratifier; its total is not a count and is 0).
 */
export function figuresOf(counts: MonitoringCounts): Map<GroupCode, GroupCells<number>> {
  const figures = new Map<GroupCode, GroupCells<number>>();
  for (const [code, { total, byStratifier }] of Object.entries(sourcesOf(counts)) as [
    CountedGroup,
    { total: number; byStratifier: CountsByCode[] },
  ][]) {
    const spec = specOf(code);
    figures.set(code, { total, strata: spec.stratifiers.map((st, i) => valuesOf(st, byStratifier[i] ?? new Map())) });
  }
  const w = counts.waiting;
  figures.set('waiting-days', { total: 0, strata: [[w.startToFirstContact.n, w.referralToCare.n]] });
  return figures;
}

const isMasked = (p: { extension?: Extension[] | undefined } | undefined): boolean =>
  p?.extension?.some((e) => e.url === DATA_ABSENT_REASON && e.valueCode === 'masked') ?? false;

/** Which cells a built report withholds, in the shape `figuresOf` gives its counts. */
export function withheldOf(report: MeasureReport): ForcedCells {
  const withheld = new Map<GroupCode, GroupCells<boolean>>();
  for (const g of report.group ?? []) {
    const code = g.code?.coding?.[0]?.code as GroupCode;
    if (code === 'estimated-saving') {
      continue;
    }
    withheld.set(code, {
      total: isMasked(g.population?.[0]),
      strata: (g.stratifier ?? []).map((st) => (st.stratum ?? []).map((x) => isMasked(x.population?.[0]))),
    });
  }
  return withheld;
}

/**
 * The monitoring report as a FHIR MeasureReport (summary), suppressed: its own small cells, the cells `forced`
 * names, and whatever would give either back. Pure.
 */
export function buildMeasureReport(
  counts: MonitoringCounts,
  s: ReportSettings,
  forced: ForcedCells = new Map(),
): MeasureReport {
  const k = s.k;
  const contactsMean =
    counts.contacts.total > 0 ? round(counts.contacts.contactSum / counts.contacts.total, 2) : undefined;
  const sources = sourcesOf(counts);
  const group = (code: CountedGroup, score?: Quantity) =>
    countGroup(specOf(code), sources[code].total, sources[code].byStratifier, k, forced.get(code), score);
  const closed = group('closed');
  const inflow = group('inflow');
  const referrals = group('referral-target');
  const shown = (g: MeasureReportGroup) => g.population?.[0]?.count !== undefined;
  const groups: MeasureReportGroup[] = [
    inflow,
    closed,
    group(
      'contacts-per-trajectory',
      contactsMean === undefined ? undefined : { value: contactsMean, unit: 'contacts' },
    ),
    group('help-question'),
    group('intervention'),
    referrals,
    waitingGroup(counts, k, [shown(inflow), shown(referrals)], forced.get('waiting-days')),
    savingGroup(closed, s),
  ];
  const id = ['monitoring', s.municipality.code, s.period.label, ...(s.practice ? [s.practice] : [])].join('-');
  return {
    resourceType: 'MeasureReport',
    id: id.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64),
    extension: [
      { url: REPORT_EXTENSION.k, valueInteger: k },
      ...(s.practice ? [{ url: REPORT_EXTENSION.practice, valueString: s.practice }] : []),
    ],
    status: s.status ?? 'complete',
    type: 'summary',
    measure: MEASURE_URL,
    date: s.date,
    reporter: { identifier: municipalityIdentifier(s.municipality.code), display: s.municipality.name },
    period: { start: s.period.start, end: s.period.end },
    group: groups,
  };
}
