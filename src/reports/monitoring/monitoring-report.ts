import type { MeasureReport } from '@medplum/fhirtypes';
import type { Registry } from '../../event/registry';
import type { Agreement } from '../../policy/agreement';
import type { Db } from '../../kernel/db';
import { buildMeasureReport, type ReportSettings } from './measure-report';
import { daysIn, type ReportPeriod } from './period';
import { countMonitoring } from './report-store';

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

function overlapDays(a: Agreement, p: ReportPeriod): number {
  const start = a.validFrom > p.start ? a.validFrom : p.start;
  const end = a.validTo && a.validTo < p.end ? a.validTo : p.end;
  return end < start ? 0 : daysIn({ start, end, label: '' });
}

/**
 * The report's settings from the agreements. Several practices, several agreements: the professionals' costs add
 * up (each pro-rated to the days its agreement runs in the period); k is the largest any agreement asks (5 when
 * none says) and q the smallest any names: the cautious choices when they differ.
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
  return {
    municipality: { code: municipality, name: agreements[0]?.municipality.name ?? municipality },
    period,
    practice,
    k: sections.length ? Math.max(...sections.map((s) => s.m.k)) : DEFAULT_K,
    q: qs.length ? Math.min(...qs) : 0,
    professionalCost: sections.reduce(
      (acc, s) => acc + (s.m.professionalCost.amount * overlapDays(s.a, period)) / DAYS_PER[s.m.professionalCost.per],
      0,
    ),
    date: date.toISOString(),
  };
}

/** Counts and builds the suppressed MeasureReport of one municipality and period. */
export async function monitoringReport(
  ctx: { readonly db: Db; readonly registry: Registry },
  q: { readonly municipality: string; readonly period: ReportPeriod; readonly practice?: string | undefined },
  now: Date = new Date(),
): Promise<MeasureReport> {
  const counts = await countMonitoring(ctx.db, q);
  return buildMeasureReport(counts, reportSettingsOf(ctx.registry, q.municipality, q.period, q.practice, now));
}
