import type { MeasureReport } from '@medplum/fhirtypes';
import type { PipelineContext } from '../../event/context';
import type { Principal } from '../../access/principal';

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
 * The monitoring report's builder, once the monitoring issue has landed; until then the page says the report is not
 * available yet. Hooking it up is this one line: return the function the monitoring router calls.
 */
export function tryGetMonitoringSource(): MonitoringSource | undefined {
  return undefined;
}
