import { OperationOutcomeError } from '@medplum/core';
import type { Router, Request, Response } from 'express';
import { exactRouter } from './exact-routing';
import { z } from 'zod';
import { operatorAction, organisationAgent } from '../audit/audit-events';
import { pushMonitoringReport } from '../reports/monitoring/report-push';
import { actorOf } from './request-context';
import { getRequestTrace } from './access-log';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import { isValidAgb } from '../kernel/fhir/identifiers';
import { acceptsFhirJson, isFhirJsonFormat, SERVED_MEDIA_TYPES } from '../kernel/fhir/media-types';
import { notAcceptable, notFoundField } from '../kernel/fhir/outcomes';
import { parseQueryOrThrow } from '../kernel/zod-outcome';
import {
  assertPeriodForRole,
  assertReportable,
  auditReportRead,
  badRequestFor,
  limitedMonitoringReport,
  municipalityOf,
  periodOfRange,
  reportScopeOf,
} from './monitoring-query';
import type { PipelineContext } from '../event/context';
import { buildMeasure, GROUPS, MEASURE_ID } from '../reports/monitoring/measure';
import { tryParsePeriod, type ReportPeriod } from '../reports/monitoring/period';
import { CHART_LANGS, renderChart, type ChartLang } from '../reports/monitoring/report-chart';
import { CSV_DELIMITERS, reportCsv, reportCsvFileName, type CsvOptions } from '../reports/monitoring/report-csv';
import type { FhirRoute } from './fhir-router';
import { getPrincipal } from '../access/authenticate';
import { assertRole } from '../access/principal';

const oneValue = z.string().optional();
const isCsvFormat = (format: string): boolean => format === 'csv' || format === 'text/csv';
const PERIOD_TEXT = 'a period such as 2026-Q3, 2026-H1 or 2026';

/** The query of a monitoring report: a named period or a from/to range, and optionally one practice. */
export const monitoringQuerySchema = z
  .object({
    period: oneValue
      .refine((v) => v === undefined || tryParsePeriod(v) !== undefined, PERIOD_TEXT)
      .meta({ description: `${PERIOD_TEXT}; or give from and to instead (not both)` }),
    from: oneValue.meta({
      description:
        'the first day of the period (YYYY-MM-DD), with to; a municipality key only for a whole quarter, half-year ' +
        'or year (else 422)',
    }),
    to: oneValue.meta({ description: 'the last day of the period (YYYY-MM-DD, included), with from' }),
    practice: oneValue
      .refine((v) => v === undefined || isValidAgb(v), 'an AGB code of 8 digits')
      .meta({
        description:
          'the AGB code of one practice with an agreement with the municipality (else 422); for an auditor or operator ' +
          'scoped to practices alone, one of its practices (else 403), its only one when left out',
      }),
    municipality: oneValue
      .refine((v) => v === undefined || /^GM\d{4}$/.test(v), 'a CBS municipality code such as GM0226')
      .meta({
        description:
          'the municipality (CBS code); a municipality key may leave out its own; one outside the scope is 403, ' +
          'recorded with that municipality as an agent',
      }),
    group: oneValue,
    // Any other value is a format the report cannot be had in: a 406 naming _format (`answerFormatOf`), as on /fhir.
    _format: oneValue.meta({
      description:
        'csv or text/csv; or FHIR R4 JSON by any name /fhir takes (the default); any other format is 406 naming _format',
    }),
    delimiter: z
      .enum(CSV_DELIMITERS)
      .optional()
      .meta({
        description:
          'CSV only: comma (default, decimal points) or semicolon (fields by ;, decimal commas: what Excel in a Dutch ' +
          'locale opens as columns)',
      }),
    bom: z
      .enum(['true', 'false'])
      .optional()
      .meta({ description: 'CSV only: true starts the file with a UTF-8 byte order mark (Excel then reads × and –)' }),
    lang: z
      .enum(CHART_LANGS)
      .optional()
      .meta({
        description:
          'the chart and the CSV: the language of their words (the CSV: its display column), nl (default, as the ' +
          "console) or en; with the MeasureReport (FHIR JSON) 400, as its displays are the code tables' own",
      }),
  })
  // A parameter it does not know (a misspelt `practise=`) would otherwise give the report of the whole municipality.
  .strict();

type MonitoringQuery = z.output<typeof monitoringQuerySchema>;

interface ReportRequest {
  readonly municipality: string;
  readonly period: ReportPeriod;
  readonly practice?: string | undefined;
  readonly group?: string | undefined;
  /** CSV rather than the MeasureReport: by `_format`, else by `Accept` (the report only; the chart is SVG). */
  readonly csv: boolean;
  readonly csvOptions: CsvOptions;
  readonly lang: ChartLang;
}

/** The query of a push: a named period (2026-Q3) and, for a caller whose scope holds several, the municipality. */
export const monitoringPushQuerySchema = z
  .object({
    period: z
      .string()
      .refine((v) => tryParsePeriod(v) !== undefined, PERIOD_TEXT)
      .meta({ description: `${PERIOD_TEXT} that has ended (else 422)` }),
    municipality: monitoringQuerySchema.shape.municipality,
  })
  .strict();

/** A named period the schema has checked already. */
function namedPeriod(value: string): ReportPeriod {
  return tryParsePeriod(value) ?? badRequestFor(PERIOD_TEXT, ['period']);
}

/** The period asked for: a named one, or from and to; both or neither is a 400 naming the parameters. */
function periodOf(q: MonitoringQuery): ReportPeriod {
  const range = (['from', 'to'] as const).filter((name) => q[name] !== undefined);
  if (q.period === undefined) {
    return range.length > 0
      ? periodOfRange(q.from, q.to)
      : badRequestFor('give period (2026-Q3, 2026-H1, 2026), or from and to', ['period'], 'required');
  }
  if (range.length > 0) {
    return badRequestFor('give period, or from and to, not both', ['period', ...range]);
  }
  return namedPeriod(q.period);
}

/** What the report is served as: FHIR R4 JSON by any of its names (`SERVED_MEDIA_TYPES`), or CSV. */
const REPORT_TYPES = [...SERVED_MEDIA_TYPES, 'text/csv'];

/**
 * Whether the report goes as CSV: `_format` says so (csv, or R4 JSON by any name), else `Accept` (CSV when the client
 * prefers it, else R4 JSON when it takes it). A format the report cannot be had in, by either, is 406 naming the one
 * that asked; an R4 client's `fhirVersion` is taken, another version is not (R4 must not pass for it). The chart is SVG
 * whatever `Accept` says (an `<img>` asks for images), but a `_format` it is given is checked all the same.
 */
function isCsvAnswer(req: Request, format: string | undefined, answer: 'report' | 'chart'): boolean {
  if (format !== undefined) {
    if (isCsvFormat(format)) {
      return true;
    }
    if (format === '' || !isFhirJsonFormat(format)) {
      throw new OperationOutcomeError(notAcceptable(REPORT_TYPES, '_format'));
    }
    return false;
  }
  if (answer === 'chart') {
    return false;
  }
  if (req.accepts(REPORT_TYPES) === 'text/csv') {
    return true;
  }
  if (!acceptsFhirJson(req.get('accept'))) {
    throw new OperationOutcomeError(notAcceptable(REPORT_TYPES, 'Accept'));
  }
  return false;
}

async function parseRequest(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  answer: 'report' | 'chart',
): Promise<ReportRequest> {
  const principal = getPrincipal(res);
  assertRole(principal, 'municipality', 'operator', 'auditor');
  const q = parseQueryOrThrow(monitoringQuerySchema, req.query);
  const period = periodOf(q);
  assertPeriodForRole(principal, period);
  const { municipality, practice } = await reportScopeOf(ctx, req, res, q);
  const csv = isCsvAnswer(req, q._format, answer);
  // Taken where it changes the answer, refused where it would not, as any other parameter the answer does not take.
  if (q.lang !== undefined && answer === 'report' && !csv) {
    badRequestFor("lang is taken by the chart and the CSV only (the MeasureReport has the codes' own displays)", [
      'lang',
    ]);
  }
  return {
    municipality,
    period,
    practice,
    group: q.group,
    csv,
    csvOptions: { delimiter: q.delimiter, bom: q.bom === 'true', lang: q.lang },
    lang: q.lang ?? 'nl',
  };
}

/**
 * The municipality's monitoring report (`/municipality/v1/monitoring`, its chart, and the Measure it reports on).
 * Full paths; authentication is applied in app.ts. Every report served is audited first: who, for which
 * municipality, which period and practice (the query), with the municipality as an agent so its auditors see it.
 */
export function monitoringRouter(ctx: PipelineContext): Router {
  const router = exactRouter();

  const report = async (req: Request, res: Response, answer: 'report' | 'chart') => {
    const r = await parseRequest(ctx, req, res, answer);
    assertReportable(ctx.registry, r);
    const measureReport = await limitedMonitoringReport(ctx, r);
    await auditReportRead(ctx, req, res, r, measureReport);
    return { r, measureReport };
  };

  router.get('/municipality/v1/monitoring', async (req, res) => {
    const { r, measureReport } = await report(req, res, 'report');
    if (r.csv) {
      res
        .type('text/csv; charset=utf-8')
        .attachment(reportCsvFileName(r.municipality, r.period))
        .send(reportCsv(measureReport, r.csvOptions));
      return;
    }
    res.type('application/fhir+json').json(measureReport);
  });

  router.get('/municipality/v1/monitoring/chart.svg', async (req, res) => {
    const { r, measureReport } = await report(req, res, 'chart');
    const group = r.group ?? 'closed';
    const svg = renderChart(measureReport, group, r.lang);
    if (!svg) {
      const known = GROUPS.flatMap((g) => [g.code, ...g.stratifiers.map((s) => s.code)]);
      throw new OperationOutcomeError(
        notFoundField(
          `The report has no group or stratifier ${group}; one of ${[...new Set(known)].join(', ')}`,
          'group',
        ),
      );
    }
    res.type('image/svg+xml').send(svg);
  });

  /**
   * Pushes the report of a period to the municipality's destination, as a delivery like any other (retries, dead
   * letters, replay): 202 with the delivery, 200 with the earlier one when the same figures were pushed before,
   * 409 when the municipality has no destination or no agreement in force with purpose monitoring, 422 when the period
   * has not ended (report-push.ts). Municipalities
   * (their own) and operators; the push is audited, and so is each attempt to disclose the report.
   */
  router.post('/municipality/v1/monitoring/\\$push', async (req, res) => {
    assertRole(getPrincipal(res), 'municipality', 'operator');
    const q = parseQueryOrThrow(monitoringPushQuerySchema, req.query);
    const period = namedPeriod(q.period);
    const municipality = await municipalityOf(ctx, req, res, q.municipality);
    const actor = actorOf(req, res);
    const push = await pushMonitoringReport(ctx, {
      municipality,
      period,
      actor,
      traceId: getRequestTrace(res).traceId,
    });
    await ctx.audit.append(
      SYSTEM_TENANT,
      operatorAction({
        actor,
        action: 'push',
        target: `MeasureReport/${push.report.id ?? ''}`,
        description: `period ${period.label}, version ${push.version}, delivery ${push.delivery.id}`,
        // Whoever pushed it (an operator, too), the report is the municipality's: its auditors find the push by its
        // code, as they find the reads of its report and the disclosure.
        extraAgents: [organisationAgent('destination', 'municipality', municipality)],
      }),
    );
    res.status(push.duplicate ? 200 : 202).json({
      deliveryId: push.delivery.id,
      eventId: push.inboxId,
      destination: push.delivery.destination,
      state: push.delivery.state,
      idempotencyKey: push.delivery.idempotency_key,
      municipality,
      period: period.label,
      version: push.version,
      duplicate: push.duplicate,
    });
  });

  return router;
}

/** `GET /fhir/Measure/poh-jeugd-monitoring`: the Measure the report reports on, for every role. */
export function measureRoute(): FhirRoute {
  return {
    interaction: {
      resourceType: 'Measure',
      code: 'read',
      id: MEASURE_ID,
      documentation: 'the Measure the monitoring report (MeasureReport) reports on; the only Measure',
    },
    read: () => buildMeasure(),
  };
}
