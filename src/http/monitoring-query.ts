import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { organisationAgent } from '../audit/audit-events';
import type { PipelineContext } from '../event/context';
import { findAgreements, type Registry } from '../event/registry';
import { getMonitoringAgreement } from '../event/report-delivery';
import { isValidAgb, isValidIsoDate } from '../kernel/fhir/identifiers';
import { badRequestIssues, failField, forbiddenField, serviceUnavailable } from '../kernel/fhir/outcomes';
import { monitoringReport } from '../reports/monitoring/monitoring-report';
import type { CountsQuery } from '../reports/monitoring/report-store';
import { amsterdamDay } from '../kernel/dutch-time';
import { getPrincipal } from '../access/authenticate';
import {
  ALL,
  assertCanSeeMunicipality,
  canActForPractice,
  canSeeMunicipality,
  isMunicipalityAuditor,
  type Principal,
  type Role,
} from '../access/principal';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import { periodParameterOf, standardLabelOf, tryParseRange, type ReportPeriod } from '../reports/monitoring/period';
import { auditRead, NOT_IN_SCOPE, REFUSAL_AUDITED } from './audit-read';

/**
 * What the monitoring report's API (`GET /municipality/v1/monitoring`) and the console's report pages both ask of a
 * request before counting (whose figures the caller may read, and how a refusal is recorded), and how both audit
 * the answer, in one place so the two answer alike.
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
 * the one child who started on the 30th, and no suppression of a single report can prevent that. So does an auditor
 * of municipalities alone: that key is the municipality's own privacy officer's (`isMunicipalityAuditor`). Other
 * auditors and operators keep ranges; their reads are audited and they answer for them. A 422 naming `from` (the
 * request is the municipality's to make, with other dates), which the console shows beside its form as any other
 * refusal.
 */
export function assertPeriodForRole(principal: Principal, period: ReportPeriod): void {
  if (
    (principal.role === 'municipality' || isMunicipalityAuditor(principal)) &&
    standardLabelOf(period) === undefined
  ) {
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

/** A 400 whose one issue names every parameter involved (`period` and `from` when both are given). */
export function badRequestFor(details: string, expression: string[], code: 'invalid' | 'required' = 'invalid'): never {
  throw new OperationOutcomeError(
    badRequestIssues([{ severity: 'error', code, details: { text: details }, expression }]),
  );
}

/**
 * The municipality a request is about: the one named, or the caller's only one. 403 outside its scope or when its
 * scope holds none; 400 when it holds several and none is named. A named municipality outside the scope is recorded
 * as a refused read that names it (`assertMunicipalityInScope`).
 */
export async function municipalityOf(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  named: string | undefined,
): Promise<string> {
  const principal = getPrincipal(res);
  if (principal.municipalities.length === 0) {
    if (named !== undefined) {
      await assertMunicipalityInScope(ctx, req, res, named);
    }
    throw new OperationOutcomeError(forbiddenField('your scope holds no municipality', 'municipality'));
  }
  let municipality = named;
  if (municipality === undefined) {
    const own = principal.municipalities.filter((m) => m !== ALL);
    if (own.length !== 1 || principal.municipalities.includes(ALL)) {
      return badRequestFor('name the municipality (your scope holds more than one)', ['municipality']);
    }
    municipality = own[0] ?? '';
  }
  await assertMunicipalityInScope(ctx, req, res, municipality);
  return municipality;
}

/**
 * 403 naming `municipality` unless the caller may see the municipality's figures. The refusal is recorded with that
 * municipality as an agent (beside the caller and whom it acts for), so the municipality's auditors see that someone
 * tried, and not only the requester's; nothing else of the requester goes in it.
 */
async function assertMunicipalityInScope(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  municipality: string,
): Promise<void> {
  const principal = getPrincipal(res);
  if (canSeeMunicipality(principal, municipality)) {
    return;
  }
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    outcome: '4',
    outcomeDesc: NOT_IN_SCOPE,
    extraAgents: [organisationAgent('destination', 'municipality', municipality)],
  });
  // Tells the error handler's generic refusal audit that this refusal is on record already.
  res.locals[REFUSAL_AUDITED] = true;
  assertCanSeeMunicipality(principal, municipality);
}

/** Roles whose keys may be scoped to practices alone: their practice's figures are theirs to read. */
const PRACTICE_SCOPED_READERS: readonly Role[] = ['auditor', 'operator'];

/** An auditor or operator whose scope holds practices and no municipality: it reads its practices' figures only. */
export function isPracticeScopedReader(principal: Principal): boolean {
  return (
    principal.municipalities.length === 0 &&
    principal.practices.length > 0 &&
    PRACTICE_SCOPED_READERS.includes(principal.role)
  );
}

/** The municipalities `practice` has an agreement with (of any status or version), in the registry's order. */
export function partnersOf(registry: Registry, practice: string): string[] {
  return [...new Set(registry.agreements.filter((a) => a.practice.agb === practice).map((a) => a.municipality.code))];
}

/**
 * The report a request is about. A caller with municipalities in scope asks for one of them (and optionally one
 * practice). An auditor or operator scoped to practices alone (a practice's privacy officer) reads the report of
 * one of its practices: the one named, or its only one (400 naming `practice` when it holds several), with a
 * municipality that practice has an agreement with: the one named, or the only one (else a 400 naming
 * `municipality`). Another practice is a 403 naming `practice`, a municipality its practice has no agreement with a
 * 403 naming `municipality`. The report is that practice's, suppressed together with the municipality's and its
 * other practices' as any practice's is.
 */
export async function reportScopeOf(
  ctx: Pick<PipelineContext, 'audit' | 'registry'>,
  req: Request,
  res: Response,
  q: { readonly municipality?: string | undefined; readonly practice?: string | undefined },
): Promise<ReportScope> {
  const principal = getPrincipal(res);
  if (!isPracticeScopedReader(principal)) {
    return { municipality: await municipalityOf(ctx, req, res, q.municipality), practice: q.practice };
  }
  let practice = q.practice;
  if (practice === undefined) {
    const own = principal.practices.filter((p) => p !== ALL);
    if (own.length !== 1 || principal.practices.includes(ALL)) {
      return badRequestFor('name the practice (your scope holds no municipality, and more than one practice)', [
        'practice',
      ]);
    }
    practice = own[0] ?? '';
  }
  if (!canActForPractice(principal, practice)) {
    // In that practice's chain, as a refused read of its figures (its auditors see who tried), when it is a party to
    // an agreement: any 8 digits must not open a chain.
    const theirs = partnersOf(ctx.registry, practice);
    if (theirs.length > 0) {
      await auditRead(ctx, req, res, {
        query: req.originalUrl,
        outcome: '4',
        outcomeDesc: NOT_IN_SCOPE,
        tenants: [practice],
        extraAgents: theirs.map((m) => organisationAgent('destination', 'municipality', m)),
      });
      res.locals[REFUSAL_AUDITED] = true;
    }
    throw new OperationOutcomeError(forbiddenField(`The caller does not act for practice ${practice}`, 'practice'));
  }
  const partners = partnersOf(ctx.registry, practice);
  const municipality = q.municipality ?? (partners.length === 1 ? partners[0] : undefined);
  if (municipality === undefined) {
    return badRequestFor(
      partners.length === 0
        ? `practice ${practice} has no agreement with a municipality`
        : `name the municipality (practice ${practice} has agreements with ${partners.join(', ')})`,
      ['municipality'],
    );
  }
  if (!partners.includes(municipality)) {
    await assertMunicipalityInScope(ctx, req, res, municipality);
  }
  return { municipality, practice };
}

/**
 * The monitoring report of `q`, computed in one of the MONITORING_REPORT_CONCURRENCY slots that every API process on
 * the same Redis shares, after a wait for one when they are taken; with every slot taken and as many waiting in this
 * process as may, a 503 with Retry-After, and so while Redis does not answer (the slots cannot be counted). A year's
 * report is seconds of PostgreSQL: forty asked at once slowed the HIS intake from 0.15 s to 4.4 s (report-xsec).
 */
export function limitedMonitoringReport(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'log' | 'monitoringReports'>,
  q: CountsQuery,
): Promise<MeasureReport> {
  if (!ctx.monitoringReports) {
    // A programming error: only an API process serves the routes that ask for a report, and it has the slots.
    throw new Error('monitoring reports are computed for requests by an API process only');
  }
  return ctx.monitoringReports.run(
    () => monitoringReport(ctx, q),
    (why) =>
      new OperationOutcomeError(
        serviceUnavailable(
          why === 'busy'
            ? 'Too many monitoring reports are being computed at once (MONITORING_REPORT_CONCURRENCY); nothing is ' +
                'wrong with the request: ask again after Retry-After seconds'
            : 'Monitoring reports are not computed while Redis, which counts them across processes ' +
                '(MONITORING_REPORT_CONCURRENCY), does not answer; nothing is wrong with the request: ask again after ' +
                'Retry-After seconds',
        ),
      ),
  );
}
