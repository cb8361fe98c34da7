import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { organisationAgent } from '../audit/audit-events';
import type { PipelineContext } from '../event/context';
import { findAgreements, type Registry } from '../event/registry';
import { isValidAgb, isValidIsoDate } from '../kernel/fhir/identifiers';
import { failField } from '../kernel/fhir/outcomes';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import { tryParseRange, type ReportPeriod } from '../reports/monitoring/period';
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
    throw new OperationOutcomeError(badRequest(`${name}: give both from and to, dates YYYY-MM-DD`, name));
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
 * Refuses a practice the report cannot be about: no AGB code (400), or one without an agreement with the
 * municipality in the loaded configuration (422). Otherwise any 8 digits got an empty report, and its audit opened a
 * chain (signed every minute, a metrics series) for a practice that does not exist. An agreement of any status or
 * version will do: one that has ended still has figures worth reporting.
 */
export function assertReportScope(registry: Registry, s: ReportScope): void {
  if (s.practice === undefined) {
    return;
  }
  if (!isValidAgb(s.practice)) {
    throw new OperationOutcomeError(badRequest('practice: an AGB code of 8 digits', 'practice'));
  }
  if (findAgreements(registry, s.practice, s.municipality).length === 0) {
    failField(`practice ${s.practice} has no agreement with municipality ${s.municipality}`, 'practice');
  }
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
