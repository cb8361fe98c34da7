import type { MeasureReport } from '@medplum/fhirtypes';
import type { Registry } from '../../event/registry';
import type { Agreement } from '../../policy/agreement';
import type { Db } from '../../kernel/db';
import { amsterdamDay } from '../../kernel/dutch-time';
import { acrossPeriods, isOpenInPeriod, jointTableMasks, type TableOptions } from './joint-suppression';
import type { BuiltFigures, Figures } from './measure-report';
import { buildMeasureReport, figuresOf, withheldOf, type ForcedCells, type ReportSettings } from './measure-report';
import { daysIn, standardPartsOf, type ReportPeriod } from './period';
import { countMonitoring, type CountsQuery, type MonitoringCounts } from './report-store';

/** The default smallest count shown when no agreement names `monitoring.k`. */
const DEFAULT_K = 5;

const DAYS_PER = { month: 365.25 / 12, quarter: 365.25 / 4, year: 365.25 } as const;

/** The newest version of each agreement of this municipality (and practice) that names purpose monitoring. */
function monitoringAgreements(registry: Registry, municipality: string, practice?: string): Agreement[] {
  const newest = new Map<string, Agreement>();
  for (const a of registry.agreements) {
    if (a.municipality.code !== municipality || (practice && a.practice.agb !== practice)) {
      continue;
    }
    const prev = newest.get(a.id);
    if (!prev || a.version > prev.version) {
      newest.set(a.id, a);
    }
  }
  return [...newest.values()].filter((a) => a.purposes.includes('monitoring') && a.status !== 'draft');
}

/** Days of the period, up to `today` at the latest (both included), in which the agreement runs. */
function overlapDays(a: Agreement, p: ReportPeriod, today: string): number {
  const start = a.validFrom > p.start ? a.validFrom : p.start;
  const periodEnd = p.end > today ? today : p.end;
  const end = a.validTo && a.validTo < periodEnd ? a.validTo : periodEnd;
  return end < start ? 0 : daysIn({ start, end, label: '' });
}

/**
 * The report's settings from the agreements. Several practices, several agreements: the professionals' costs add
 * up (each pro-rated to the days its agreement runs in the period); k is the largest any agreement asks (5 when
 * none says) and q the smallest any names: the cautious choices when they differ. A period that has not ended on
 * `date` (Amsterdam calendar) is `pending`, and its cost counts the days up to and including that day only: the
 * figures count what happened so far, and p × q − C over a whole quarter's C would understate the saving.
 */
export function reportSettingsOf(
  registry: Registry,
  municipality: string,
  period: ReportPeriod,
  practice: string | undefined,
  date: Date,
): ReportSettings {
  const agreements = monitoringAgreements(registry, municipality, practice);
  const sections = agreements.flatMap((a) => (a.monitoring ? [{ a, m: a.monitoring }] : []));
  const qs = sections.map((s) => s.m.q).filter((q) => q > 0);
  const today = amsterdamDay(date);
  return {
    municipality: { code: municipality, name: agreements[0]?.municipality.name ?? municipality },
    period,
    practice,
    k: sections.length ? Math.max(...sections.map((s) => s.m.k)) : DEFAULT_K,
    q: qs.length ? Math.min(...qs) : 0,
    professionalCost: sections.reduce(
      (acc, s) =>
        acc + (s.m.professionalCost.amount * overlapDays(s.a, period, today)) / DAYS_PER[s.m.professionalCost.per],
      0,
    ),
    date: date.toISOString(),
    status: period.end < today ? 'complete' : 'pending',
  };
}

type Built = BuiltFigures & { readonly report: MeasureReport };

/** The practices with an agreement (any status) with the municipality: those whose figures may be in its reports. */
function practicesOf(registry: Registry, municipality: string): string[] {
  return [
    ...new Set(registry.agreements.filter((a) => a.municipality.code === municipality).map((a) => a.practice.agb)),
  ];
}

/**
 * Builds the suppressed MeasureReport of one municipality and period (optionally one practice) from the counts
 * `count` gives, jointly suppressed with the reports it could be subtracted from (joint-suppression.ts): a
 * half-year's or year's with the reports of the standard periods inside it, and every report of a period (the
 * municipality's and each practice's) as one practice × category table, whichever of them is asked for. Every
 * report involved is counted once.
 *
 * A half-year's or year's table audit withholds no cell of a group that adds up over its quarters (trajectories
 * started, closed, referrals): the quarters show every cell the longer period shows, and the sum of theirs would
 * give it back (rev-late1 1). Where it would need one, the group is withheld whole in that period's reports. When
 * the audit withholds groups whole, `warn` is told which (group codes and the period, no personal data).
 */
export async function jointlySuppressedReport(
  registry: Registry,
  count: (q: CountsQuery) => Promise<MonitoringCounts>,
  q: CountsQuery,
  now: Date,
  options: Pick<TableOptions, 'rounds' | 'sweeps'> & {
    readonly warn?: (fields: Record<string, unknown>, message: string) => void;
  } = {},
): Promise<MeasureReport> {
  const counted = new Map<string, Promise<MonitoringCounts>>();
  const countOf = (period: ReportPeriod, practice: string | undefined) => {
    const key = `${period.start}/${period.end}/${practice ?? ''}`;
    const known = counted.get(key) ?? count({ municipality: q.municipality, period, practice });
    counted.set(key, known);
    return known;
  };
  const practices = [...new Set([...practicesOf(registry, q.municipality), ...(q.practice ? [q.practice] : [])])];
  /** The municipality's and every practice's report of the period, suppressed as one table (`jointTableMasks`). */
  const byPeriod = new Map<string, Promise<{ municipality: Built; practices: Built[] }>>();
  const buildPeriod = (period: ReportPeriod) => {
    const key = `${period.start}/${period.end}`;
    const known = byPeriod.get(key) ?? buildTable(period);
    byPeriod.set(key, known);
    return known;
  };
  async function forcedByPeriods(period: ReportPeriod, figures: Figures, practice: string | undefined) {
    const standard = standardPartsOf(period);
    if (!standard) {
      return new Map() as ForcedCells;
    }
    const [first, second] = await Promise.all(standard.halves.map((h) => build(h, practice)));
    const parts = await Promise.all(standard.parts.map((p) => build(p, practice)));
    const k = reportSettingsOf(registry, q.municipality, period, practice, now).k;
    return first && second ? acrossPeriods(k, figures, parts, [first, second]) : new Map();
  }
  async function buildTable(period: ReportPeriod) {
    const [municipality, ...each] = await Promise.all(
      [undefined, ...practices].map(async (p) => {
        const counts = await countOf(period, p);
        const figures = figuresOf(counts);
        const settings = reportSettingsOf(registry, q.municipality, period, p, now);
        return { counts, figures, settings, forcedBefore: await forcedByPeriods(period, figures, p) };
      }),
    );
    if (!municipality) {
      throw new Error('no municipality report');
    }
    const k = Math.max(municipality.settings.k, ...each.map((e) => e.settings.k));
    const longer = standardPartsOf(period) !== undefined;
    return jointTableMasks(
      k,
      municipality,
      each,
      (e, forced) => {
        const report = buildMeasureReport(e.counts, e.settings, forced);
        return { figures: e.figures, withheld: withheldOf(report), report };
      },
      {
        rounds: options.rounds,
        sweeps: options.sweeps,
        mayForce: longer ? (c) => isOpenInPeriod(c.code) : undefined,
        onFailClosed: (failed) =>
          options.warn?.(
            { period: period.label, groups: failed.groups, reason: failed.reason },
            'monitoring table audit could not make these groups safe: withheld whole',
          ),
      },
    );
  }
  async function build(period: ReportPeriod, practice: string | undefined): Promise<Built> {
    const table = await buildPeriod(period);
    if (practice === undefined) {
      return table.municipality;
    }
    const mine = table.practices[practices.indexOf(practice)];
    if (!mine) {
      throw new Error(`practice ${practice} not among the municipality's`);
    }
    return mine;
  }
  return (await build(q.period, q.practice)).report;
}

/** Counts and builds the suppressed MeasureReport of one municipality and period (jointly: see above). */
export function monitoringReport(
  ctx: {
    readonly db: Db;
    readonly registry: Registry;
    readonly log?: { warn: (fields: Record<string, unknown>, message: string) => void };
  },
  q: CountsQuery,
  now: Date = new Date(),
): Promise<MeasureReport> {
  return jointlySuppressedReport(ctx.registry, (c) => countMonitoring(ctx.db, c), q, now, {
    warn: ctx.log ? (fields, message) => ctx.log?.warn(fields, message) : undefined,
  });
}
