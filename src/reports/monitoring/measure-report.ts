import type {
  CodeableConcept,
  Extension,
  MeasureReport,
  MeasureReportGroup,
  MeasureReportGroupPopulation,
  MeasureReportGroupStratifierStratum,
  Quantity,
} from '@medplum/fhirtypes';
import { municipalityIdentifier } from '../../fhir/identifiers';
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
export const MASKED: Extension = { url: DATA_ABSENT_REASON, valueCode: 'masked' };
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
}

const EUR = (value: number): Quantity => ({ value, unit: 'EUR', system: 'urn:iso:std:iso:4217', code: 'EUR' });
const DAYS = (value: number): Quantity => ({ value, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' });
const MONEY = (value: number) => ({ value, currency: 'EUR' as const });

const INITIAL_POPULATION: CodeableConcept = {
  coding: [{ system: MEASURE_POPULATION_SYSTEM, code: 'initial-population', display: 'Initial Population' }],
};

function population(count: number | undefined, code = INITIAL_POPULATION): MeasureReportGroupPopulation {
  return count === undefined ? { extension: [MASKED], code } : { code, count };
}

/** A count shown or withheld by itself: small counts are withheld. */
function shownOrWithheld(count: number, k: number): number | undefined {
  return isSmall(count, k) ? undefined : count;
}

/** One stratifier's strata, every category of its code list (zeros shown), suppressed as the rule says. */
function strata(
  spec: GroupSpec['stratifiers'][number],
  counts: CountsByCode,
  totalShown: boolean,
  k: number,
): MeasureReportGroupStratifierStratum[] {
  const values = spec.codes.map((c) => counts.get(c) ?? 0);
  const withheld = withheldCells(values, k, { totalShown, additive: spec.additive });
  return spec.codes.map((code, i) => ({
    value: { coding: categoryCodings(spec.system, code) },
    population: [population(withheld[i] ? undefined : values[i])],
  }));
}

function countGroup(
  spec: GroupSpec,
  total: number,
  byStratifier: readonly CountsByCode[],
  k: number,
  score?: Quantity  ,
): MeasureReportGroup {
  const shownTotal = shownOrWithheld(total, k);
  return {
    code: { coding: [groupCoding(spec.code)] },
    population: [population(shownTotal)],
    // A score over fewer than k trajectories could single one out: withheld with its total.
    ...(score && shownTotal !== undefined ? { measureScore: score } : score ? { extension: [MASKED] } : {}),
    stratifier: spec.stratifiers.map((s, i) => ({
      code: [{ coding: [groupCoding(s.code)] }],
      stratum: strata(s, byStratifier[i] ?? new Map(), shownTotal !== undefined, k),
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

function waitingGroup(counts: MonitoringCounts, k: number): MeasureReportGroup {
  const spec = specOf('waiting-days');
  const intervals = [counts.waiting.startToFirstContact, counts.waiting.referralToCare];
  const shown = intervals.map((w) => w.n === 0 || !isSmall(w.n, k));
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

/** The monitoring report as a FHIR MeasureReport (summary), suppressed. Pure. */
export function buildMeasureReport(counts: MonitoringCounts, s: ReportSettings): MeasureReport {
  const k = s.k;
  const contactsMean =
    counts.contacts.total > 0 ? round(counts.contacts.contactSum / counts.contacts.total, 2) : undefined;
  const closed = countGroup(specOf('closed'), counts.closed.total, [counts.closed.byOutcome], k);
  const groups: MeasureReportGroup[] = [
    countGroup(specOf('inflow'), counts.inflow.total, [counts.inflow.byAgeBand, counts.inflow.byReferrer], k),
    closed,
    countGroup(
      specOf('contacts-per-trajectory'),
      counts.contacts.total,
      [counts.contacts.byBin],
      k,
      contactsMean === undefined ? undefined : { value: contactsMean, unit: 'contacts' },
    ),
    countGroup(specOf('help-question'), counts.active.total, [counts.active.byHelpQuestion], k),
    countGroup(specOf('intervention'), counts.active.total, [counts.active.byIntervention], k),
    countGroup(specOf('referral-target'), counts.referrals.total, [counts.referrals.byTarget], k),
    waitingGroup(counts, k),
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
    status: 'complete',
    type: 'summary',
    measure: MEASURE_URL,
    date: s.date,
    reporter: { identifier: municipalityIdentifier(s.municipality.code), display: s.municipality.name },
    period: { start: s.period.start, end: s.period.end },
    group: groups,
  };
}
