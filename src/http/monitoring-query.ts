import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { organisationAgent } from '../audit/audit-events';
import type { PipelineContext } from '../event/context';
import { findAgreements, type Registry } from '../event/registry';
import { getMonitoringAgreement } from '../event/report-delivery';
import { isValidAgb, isValidIsoDate } from '../kernel/fhir/identifiers';
import { badRequestIssues, failField } from '../kernel/fhir/outcomes';
import { amsterdamDay } from '../kernel/dutch-time';
import type { Principal } from '../access/principal';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import { periodParameterOf, standardLabelOf, tryParseRange, type ReportPeriod } from '../reports/monitoring/period';
import { auditRead } from './audit-read';

/**
 * What the monitoring report's API (`GET /municipality/v1/monitoring`) and the console's report page both ask of a
 * request before counting, and how both audit the answer, in one place so the two answer alike.
 */

/** What a report is of: the municipality and, optionally, one practice. */
export interface ReportScope {
  readonly municipality: string;
  readonly practice?: string | undefined;
}

/** One end of a range: a date that exists (2026-02-30 does not), else a 400 naming that end. */
function dateParam(name: 'from' | 'to', value: string | undefined): string {
  if (value === undefined) {
    // `required`, so the console can say the end is missing rather than that it is no date.
    throw new OperationOutcomeError(
      badRequestIssues([
        {
          severity: 'error',
          code: 'required',
          details: { text: `${name}: give both from and to, dates YYYY-MM-DD` },
          expression: [name],
        },
      ]),
    );
  }
  if (!isValidIsoDate(value)) {
    throw new OperationOutcomeError(badRequest(`${name}: ${value} is not a date YYYY-MM-DD`, name));
  }
  return value;
}

/**
 * The period from `from` to `to`, both included: a missing end or one that is no date is a 400 naming it, `to`
 * before `from` a 422 naming `to` (each is a date; together they break a rule).
 */
export function periodOfRange(from: string | undefined, to: string | undefined): ReportPeriod {
  const start = dateParam('from', from);
  const end = dateParam('to', to);
  return tryParseRange(start, end) ?? failField(`to: ${end} is before from (${start})`, 'to');
}

/**
 * A municipality asks for whole quarters, half-years and years only (`period=`, or from and to that are exactly
 * one): with arbitrary ranges it could subtract the report of 1 July to 29 September from the quarter's and find
 * the one child who started on the 30th, and no suppression of a single report can prevent that. Auditors and
 * operators keep ranges; their reads are audited and they answer for them. A 422 naming `from` (the request is the
 * municipality's to make, with other dates), which the console shows beside its form as any other refusal.
 */
export function assertPeriodForRole(principal: Principal, period: ReportPeriod): void {
  if (principal.role === 'municipality' && standardLabelOf(period) === undefined) {
    failField(
      `from: a municipality asks for a whole quarter, half-year or year (period=2026-Q3, 2026-H2 or 2026, or ` +
        `from and to that span exactly one); ${period.start} to ${period.end} is none`,
      'from',
    );
  }
}

/**
 * Refuses a period that has not started on `now` (Amsterdam calendar): its report would be all zeros, its open
 * trajectories counted into a future period, its saving minus the whole cost. A 422 naming `period`, or `from` for
 * a range. A period that has started but not ended is reported `pending` (monitoring-report.ts).
 */
export function assertPeriodStarted(period: ReportPeriod, now: Date = new Date()): void {
  const today = amsterdamDay(now);
  if (period.start > today) {
    const name = periodParameterOf(period);
    failField(`${name}: ${period.label} has not started yet (it starts ${period.start}; today is ${today})`, name);
  }
}

/**
 * Refuses a report that cannot be made: a period that has not started (above). A practice that is no AGB code is a 400; one without an agreement with the
 * municipality in the loaded configuration a 422: otherwise any 8 digits got an empty report, and its audit opened a
 * chain (signed every minute, a metrics series) for a practice that does not exist. An agreement of any status or
 * version will do there: one that has ended still has figures worth reporting. Then, as for a push, a period in
 * which no agreement with purpose monitoring (of that practice, when one is named) was in force on any day is a
 * 409: its report, all zeros and `complete`, would say there was nothing to count.
 */
export function assertReportable(registry: Registry, r: ReportScope & { readonly period: ReportPeriod }): void {
  assertPeriodStarted(r.period);
  if (r.practice !== undefined) {
    if (!isValidAgb(r.practice)) {
      throw new OperationOutcomeError(badRequest('practice: an AGB code of 8 digits', 'practice'));
    }
    if (findAgreements(registry, r.practice, r.municipality).length === 0) {
      failField(`practice ${r.practice} has no agreement with municipality ${r.municipality}`, 'practice');
    }
  }
  getMonitoringAgreement({ registry }, r, r.period);
}

/**
 * Records a report served (API, CSV, chart or console page) before it is sent: who asked, the query, in the chain of
 * the practice it is about (or the system chain), with the municipality as an agent so its auditors find it.
 */
export async function auditReportRead(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  s: ReportScope,
  report: MeasureReport,
): Promise<void> {
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    target: `MeasureReport/${report.id ?? ''}`,
    tenants: s.practice ? [s.practice] : [SYSTEM_TENANT],
    extraAgents: [organisationAgent('destination', 'municipality', s.municipality)],
  });
}
