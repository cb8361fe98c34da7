import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import type { PipelineContext } from '../../event/context';
import { canSeeMunicipality, type Principal } from '../../access/principal';
import { monitoringReport } from '../../reports/monitoring/monitoring-report';
import { tryParsePeriod, tryParseRange } from '../../reports/monitoring/period';

/** What the municipality's report page asks for: a period (dates) and optionally one practice. */
export interface MonitoringQuery {
  readonly municipality: string;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly practice?: string | undefined;
}

/** Builds the monitoring MeasureReport the API serves at `GET /municipality/v1/monitoring`, with the same checks. */
export type MonitoringSource = (
  ctx: PipelineContext,
  principal: Principal,
  q: MonitoringQuery,
) => Promise<MeasureReport>;

/**
 * The monitoring report's builder: the same read model the API serves at `GET /municipality/v1/monitoring`, for the
 * caller's municipality only, over the dates asked for (the current year when none are given).
 */
export function tryGetMonitoringSource(): MonitoringSource | undefined {
  return async (ctx, principal, q) => {
    if (!q.municipality || !canSeeMunicipality(principal, q.municipality)) {
      throw new OperationOutcomeError(forbidden);
    }
    const year = String(new Date().getFullYear());
    const period = (q.from && q.to ? tryParseRange(q.from, q.to) : undefined) ?? tryParsePeriod(year);
    if (!period) {
      throw new OperationOutcomeError(forbidden);
    }
    return monitoringReport(ctx, { municipality: q.municipality, period, practice: q.practice });
  };
}
