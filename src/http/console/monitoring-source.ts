import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import type { PipelineContext } from '../../event/context';
import { canSeeMunicipality, type Principal } from '../../access/principal';
import { monitoringReport } from '../../reports/monitoring/monitoring-report';
import type { ReportPeriod } from '../../reports/monitoring/period';
import { amsterdamDay } from '../../kernel/dutch-time';
import { assertPeriodForRole, assertReportable, periodOfRange } from '../monitoring-query';

/** What the municipality's report page asks for: a period (dates) and optionally one practice. */
export interface MonitoringQuery {
  readonly municipality: string;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly practice?: string | undefined;
}

/**
 * The period a console report covers: `from` to `to` when both are given, the current year (in Dutch time) when
 * neither is. Anything else is refused naming the field, by the function `GET /municipality/v1/monitoring` uses: a
 * report of another period than the one asked for would be read as the one asked for.
 */
function consolePeriodOf(q: MonitoringQuery, now = new Date()): ReportPeriod {
  if (q.from === undefined && q.to === undefined) {
    const year = amsterdamDay(now).slice(0, 4);
    return { start: `${year}-01-01`, end: `${year}-12-31`, label: year };
  }
  return periodOfRange(q.from, q.to);
}

/**
 * The monitoring report the API serves at `GET /municipality/v1/monitoring`, from the same read model and for the
 * caller's municipality only, over the period `consolePeriodOf` gives.
 */
export async function consoleMonitoringReport(
  ctx: PipelineContext,
  principal: Principal,
  q: MonitoringQuery,
): Promise<{ report: MeasureReport; period: ReportPeriod }> {
  if (!q.municipality || !canSeeMunicipality(principal, q.municipality)) {
    throw new OperationOutcomeError(forbidden);
  }
  const period = consolePeriodOf(q);
  assertPeriodForRole(principal, period);
  assertReportable(ctx.registry, { ...q, period });
  return {
    report: await monitoringReport(ctx, { municipality: q.municipality, period, practice: q.practice }),
    period,
  };
}
