import type { MeasureReport } from '@medplum/fhirtypes';
import type { PipelineContext } from '../../event/context';
import { tryGetMonitoringAgreement } from '../../event/report-delivery';
import type { Request, Response } from 'express';
import { getPrincipal } from '../../access/authenticate';
import { tryParsePeriod, type ReportPeriod } from '../../reports/monitoring/period';
import { amsterdamDay } from '../../kernel/dutch-time';
import {
  assertPeriodForRole,
  assertReportable,
  badRequestFor,
  limitedMonitoringReport,
  reportScopeOf,
  type ReportScope,
} from '../monitoring-query';

/**
 * What a report page asks for: a period as the API names it (`2026-Q3`, `2026-H1`, `2026`) and optionally one
 * practice. `from` and `to` are only here to be refused: the pages offer whole periods.
 */
export interface MonitoringQuery {
  /** Left out only when the caller has none to choose (the API then names what is missing). */
  readonly municipality?: string | undefined;
  readonly period?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly practice?: string | undefined;
}

/** The page's choices go back this many years at most, however long ago an agreement began. */
const YEARS_OFFERED = 5;

/** A 400 naming `period`, which the page says in words ("kies een kwartaal, halfjaar of jaar"). */
const periodRefused = (details: string): never => badRequestFor(details, ['period']);

/**
 * The periods the page offers for a municipality, newest year first and in each year its quarters, half-years and
 * the year: from the year its first agreement began (at most YEARS_OFFERED back) up to today, only periods that have
 * begun (a quarter to come has nothing to count yet).
 */
export function periodChoices(
  ctx: Pick<PipelineContext, 'registry'>,
  municipality: string,
  now = new Date(),
): string[] {
  const today = amsterdamDay(now);
  const thisYear = Number(today.slice(0, 4));
  const began = ctx.registry.agreements
    .filter((a) => a.municipality.code === municipality)
    .map((a) => Number(a.validFrom.slice(0, 4)));
  const first = Math.max(thisYear - YEARS_OFFERED, Math.min(thisYear, ...began));
  const choices: string[] = [];
  for (let year = thisYear; year >= first; year--) {
    for (const part of ['-Q1', '-Q2', '-Q3', '-Q4', '-H1', '-H2', '']) {
      const period = tryParsePeriod(`${year}${part}`);
      if (period && period.start <= today) {
        choices.push(period.label);
      }
    }
  }
  return choices;
}

/**
 * The period shown when none is asked for: the last quarter that has ended with an agreement with purpose
 * monitoring in force on a day of it (what the quarterly push reports), else the quarter of today.
 */
export function defaultPeriodOf(
  ctx: Pick<PipelineContext, 'registry'>,
  municipality: string,
  now = new Date(),
): string {
  const today = amsterdamDay(now);
  const quarters = periodChoices(ctx, municipality, now)
    .map((label) => tryParsePeriod(label))
    .filter((p): p is ReportPeriod => p !== undefined && p.label.includes('-Q'))
    .sort((a, b) => b.start.localeCompare(a.start));
  const ended = quarters.find((p) => p.end < today && tryGetMonitoringAgreement(ctx, { municipality }, p));
  return (ended ?? quarters.find((p) => p.end >= today))?.label ?? today.slice(0, 4);
}

/**
 * The period a console report covers: the one named, the default (`defaultPeriodOf`) when none is. Dates, or a
 * period that is none, are a 400 naming `period`: a report of another period than the one asked for would be read as
 * the one asked for.
 */
function consolePeriodOf(
  ctx: Pick<PipelineContext, 'registry'>,
  q: MonitoringQuery & { readonly municipality: string },
): ReportPeriod {
  if (q.from !== undefined || q.to !== undefined) {
    periodRefused('give period (2026-Q3, 2026-H1, 2026); the console offers no from and to');
  }
  const label = q.period ?? defaultPeriodOf(ctx, q.municipality);
  return tryParsePeriod(label) ?? periodRefused('a period such as 2026-Q3, 2026-H1 or 2026');
}

/**
 * The monitoring report the API serves at `GET /municipality/v1/monitoring`, from the same read model, over the
 * period `consolePeriodOf` gives, for whom the API would serve it to (`reportScopeOf`): a municipality's key its
 * municipalities', a practice's auditor or operator its practice's. A refusal is a 403 recorded as the API records it.
 */
export async function consoleMonitoringReport(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  q: MonitoringQuery,
): Promise<{ report: MeasureReport; period: ReportPeriod; scope: ReportScope }> {
  const scope = await reportScopeOf(ctx, req, res, q);
  const period = consolePeriodOf(ctx, { ...q, municipality: scope.municipality });
  assertPeriodForRole(getPrincipal(res), period);
  assertReportable(ctx.registry, { ...scope, period });
  return { report: await limitedMonitoringReport(ctx, { ...scope, period }), period, scope };
}
