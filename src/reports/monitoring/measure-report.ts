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
  CONTACT_BIN_RANGES,
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

/** A report's counts, cell by cell (`figuresOf` below). */
export type Figures = ReadonlyMap<GroupCode, GroupCells<number>>;

/** A report that was built: its counts and which of its cells it withholds. */
export interface BuiltFigures {
  readonly figures: Figures;
  readonly withheld: ForcedCells;
}

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
const HOURS = (value: number): Quantity => ({ value, unit: 'h', system: 'http://unitsofmeasure.org', code: 'h' });
const PERCENT = (value: number): Quantity => ({ value, unit: '%', system: 'http://unitsofmeasure.org', code: '%' });
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

/**
 * Whether showing the median number of contacts leaves every withheld bin of its group with at least two possible
 * values, as the bins' own suppression leaves them (suppression.ts). A median is not a sum, so it cannot be
 * subtracted across practices or periods; what it can do is narrow the bins of its own report: it says in which
 * bins the middle trajectories are, so how many lie below and above them. Each assignment of the withheld bins
 * (every one at least 1, together the total less the shown bins) is tried against the median; a bin left with one
 * possible value would be given away, and then the median is withheld. The mean is not relaxed the same way: it
 * is a sum over the trajectories (mean × total), and sums add up across practices and periods, so it stays
 * withheld beside any withheld bin. Too many assignments to try (a large total spread over many withheld bins):
 * withheld, the cautious answer.
 */
export function medianKeepsBinsWithheld(
  bins: readonly number[],
  withheld: readonly boolean[],
  median: number,
  ranges: readonly (readonly [number, number])[] = CONTACT_BIN_RANGES,
): boolean {
  const total = bins.reduce((a, b) => a + b, 0);
  const hidden = bins.flatMap((_, i) => (withheld[i] ? [i] : []));
  if (hidden.length === 0) {
    return true;
  }
  const rest = total - bins.reduce((acc, b, i) => (withheld[i] ? acc : acc + b), 0);
  const possible = hidden.map(() => new Set<number>());
  const values = bins.map((b, i) => (withheld[i] ? 0 : b));
  let tries = 0;
  const LIMIT = 200_000;
  /** The bin the trajectory at `position` (1-based, ordered by contacts) is in. */
  const binAt = (position: number): number => {
    let seen = 0;
    for (let i = 0; i < values.length; i++) {
      seen += values[i] ?? 0;
      if (position <= seen) {
        return i;
      }
    }
    return values.length - 1;
  };
  const fits = (): boolean => {
    const lo = (i: number) => ranges[i]?.[0] ?? 0;
    const hi = (i: number) => ranges[i]?.[1] ?? Number.POSITIVE_INFINITY;
    if (total % 2 === 1) {
      const b = binAt((total + 1) / 2);
      return lo(b) <= median && median <= hi(b);
    }
    const [a, b] = [binAt(total / 2), binAt(total / 2 + 1)];
    return lo(a) + lo(b) <= 2 * median && 2 * median <= hi(a) + hi(b);
  };
  const assign = (j: number, left: number): boolean => {
    const bin = hidden[j] ?? 0;
    if (j === hidden.length - 1) {
      values[bin] = left;
      if (++tries > LIMIT) {
        return false;
      }
      if (left >= 1 && fits()) {
        hidden.forEach((h, n) => possible[n]?.add(values[h] ?? 0));
      }
      return true;
    }
    for (let v = 1; v <= left - (hidden.length - 1 - j); v++) {
      values[bin] = v;
      if (!assign(j + 1, left - v)) {
        return false;
      }
    }
    return true;
  };
  return assign(0, rest) && possible.every((p) => p.size >= 2);
}

/** The median contacts per closed trajectory: beside its group, shown as `medianKeepsBinsWithheld` says. */
function contactsMedianGroup(counts: MonitoringCounts, contacts: MeasureReportGroup): MeasureReportGroup {
  const median = counts.contacts.median;
  const strata = contacts.stratifier?.[0]?.stratum ?? [];
  const bins = (specOf('contacts-per-trajectory').stratifiers[0]?.codes ?? []).map(
    (c) => counts.contacts.byBin.get(c) ?? 0,
  );
  const withheld = strata.map((st) => st.population?.[0]?.count === undefined);
  const shown =
    median !== undefined &&
    contacts.population?.[0]?.count !== undefined &&
    medianKeepsBinsWithheld(bins, withheld, median);
  return {
    code: { coding: [groupCoding('contacts-median')] },
    ...(median === undefined
      ? {}
      : shown
        ? { measureScore: { value: round(median, 1), unit: 'contacts' } }
        : { extension: [MASKED] }),
  };
}

/**
 * The completeness (registratiegraad) as the not-counted group's score: the share of the registered trajectories
 * started in the period that count, in whole percent; only beside both counts shown (it gives nothing they do not).
 */
function completeness(inflow: MeasureReportGroup, notCounted: MeasureReportGroup): MeasureReportGroup {
  const counted = inflow.population?.[0]?.count;
  const not = notCounted.population?.[0]?.count;
  if (counted === undefined || not === undefined) {
    return { ...notCounted, extension: [MASKED] };
  }
  return counted + not === 0
    ? notCounted
    : { ...notCounted, measureScore: PERCENT(Math.round((100 * counted) / (counted + not))) };
}

/** The groups counted with a total and strata (waiting-days has intervals, estimated-saving is derived). */
type CountedGroup = Exclude<GroupCode, 'waiting-days' | 'estimated-saving' | 'contacts-median'>;

/** Where each counted group's total and strata (one map per stratifier, in the Measure's order) are in the counts. */
function sourcesOf(c: MonitoringCounts): Record<CountedGroup, { total: number; byStratifier: CountsByCode[] }> {
  return {
    inflow: { total: c.inflow.total, byStratifier: [c.inflow.byAgeBand, c.inflow.byReferrer] },
    'not-counted': { total: c.notCounted.total, byStratifier: [] },
    closed: { total: c.closed.total, byStratifier: [c.closed.byOutcome] },
    'contacts-per-trajectory': { total: c.contacts.total, byStratifier: [c.contacts.byBin] },
    'contact-time': { total: c.contactTime.total, byStratifier: [c.contactTime.byDuration] },
    'help-question': { total: c.active.total, byStratifier: [c.active.byHelpQuestion] },
    intervention: { total: c.active.total, byStratifier: [c.active.byIntervention] },
    children: { total: c.active.children, byStratifier: [] },
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
    if (code === 'estimated-saving' || code === 'contacts-median') {
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
  const group = (code: CountedGroup, score?: Quantity, also?: GroupCells<boolean>) => {
    const mine = forced.get(code);
    const cells = also && mine ? { total: mine.total || also.total, strata: mine.strata } : (also ?? mine);
    return countGroup(specOf(code), sources[code].total, sources[code].byStratifier, k, cells, score);
  };
  const closed = group('closed');
  const inflow = group('inflow');
  const referrals = group('referral-target');
  const contacts = group(
    'contacts-per-trajectory',
    contactsMean === undefined ? undefined : { value: contactsMean, unit: 'contacts' },
  );
  const shown = (g: MeasureReportGroup) => g.population?.[0]?.count !== undefined;
  // The hours are a sum over the contacts with a duration: shown where that stratum is (countGroup shows a score
  // only beside no withheld cell), so the joint suppression of the stratum across practices and periods covers it.
  const hours = round(counts.contactTime.minutes / 60, 0);
  // The open trajectories less the children are the second (third, …) trajectories of a child: 1 to k − 1 of them
  // would single those children out, so the children are withheld then (the trajectories are shown elsewhere).
  const repeated = isSmall(counts.active.total - counts.active.children, k);
  const groups: MeasureReportGroup[] = [
    inflow,
    completeness(inflow, group('not-counted')),
    closed,
    contacts,
    contactsMedianGroup(counts, contacts),
    group('contact-time', counts.contactTime.total > 0 ? HOURS(hours) : undefined),
    group('help-question'),
    group('intervention'),
    group('children', undefined, repeated ? { total: true, strata: [] } : undefined),
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
