import { getStatus, OperationOutcomeError } from '@medplum/core';
import { municipalityName } from './organisation-names';
import type { Router } from 'express';
import { exactRouter } from '../exact-routing';
import type { PipelineContext } from '../../event/context';
import { getPrincipal } from '../../access/authenticate';
import { ALL, type Principal } from '../../access/principal';
import { reportCsv, reportCsvFileName, type CsvOptions } from '../../reports/monitoring/report-csv';
import { auditReportRead, isPracticeScopedReader, partnersOf } from '../monitoring-query';
import { field, pageOf, sendPage } from './console-request';
import { html } from './html';
import { t, type Lang } from './i18n';
import { notice } from './layout';
import { measureReportHtml } from './measure-report-html';
import { consoleMonitoringReport, periodChoices, type MonitoringQuery } from './monitoring-source';
import { outcomeInWords } from './outcome-message';

/**
 * What the form offers a caller: the municipalities and practices it may choose from (the API decides what it may
 * read; this only keeps the choices to those). A practice's auditor or operator chooses among its own practices and,
 * for the one chosen, the municipalities it has an agreement with, and never "all practices": the municipality's
 * figures are not its to read. Anyone else chooses among its municipalities (all with an agreement for `*`) and, of
 * the one chosen, all practices or one.
 */
interface Choices {
  readonly municipalities: readonly string[];
  readonly practices: readonly string[];
  /** Whether "all practices" (the municipality's whole report) is offered. */
  readonly wholeMunicipality: boolean;
}

function practicesOf(ctx: PipelineContext, municipality: string | undefined): string[] {
  return [
    ...new Set(ctx.registry.agreements.filter((a) => a.municipality.code === municipality).map((a) => a.practice.agb)),
  ];
}

/**
 * The page's query as given, with the caller's first choice for what it leaves out (the page then says which it
 * shows): a value the report cannot use is answered with a message, one outside the caller's scope is refused.
 */
function queryAndChoices(
  ctx: PipelineContext,
  principal: Principal,
  source: unknown,
): { q: MonitoringQuery; choices: Choices } {
  const asked = {
    period: field(source, 'period'),
    from: field(source, 'from'),
    to: field(source, 'to'),
  };
  if (isPracticeScopedReader(principal)) {
    const own = principal.practices.filter((p) => p !== ALL);
    const practice = field(source, 'practice') ?? own[0];
    const municipalities = practice === undefined ? [] : partnersOf(ctx.registry, practice);
    const municipality = field(source, 'municipality') ?? municipalities[0];
    return {
      q: { ...asked, municipality, practice },
      choices: { municipalities, practices: own, wholeMunicipality: false },
    };
  }
  const agreed = [...new Set(ctx.registry.agreements.map((a) => a.municipality.code))];
  const municipalities = principal.municipalities.includes(ALL) ? agreed.sort() : [...principal.municipalities];
  const municipality = field(source, 'municipality') ?? municipalities[0];
  return {
    q: { ...asked, municipality, practice: field(source, 'practice') },
    choices: { municipalities, practices: practicesOf(ctx, municipality), wholeMunicipality: true },
  };
}

/** A period's name in the page's language: "3e kwartaal 2026", "2e halfjaar 2026", "Heel 2026". */
function periodWords(lang: Lang, label: string): string {
  const [year = '', part = ''] = label.split('-');
  return part.startsWith('Q')
    ? t(lang, 'quarterOf', part.slice(1), year)
    : part.startsWith('H')
      ? t(lang, 'halfYearOf', part.slice(1), year)
      : t(lang, 'wholeYear', year);
}

/** The second CSV link's options: what a spreadsheet in a Dutch locale opens as columns, with × and – intact. */
const EXCEL_NL = { delimiter: 'semicolon', bom: 'true' } as const;

/** The CSV's options as the API takes them (`delimiter`, `bom`); anything else is the default CSV. */
function csvOptionsOf(source: unknown): CsvOptions {
  return {
    delimiter: field(source, 'delimiter') === 'semicolon' ? 'semicolon' : 'comma',
    bom: field(source, 'bom') === 'true',
  };
}

/**
 * The monitoring report page at `base` and its CSV at `base`/report.csv: a municipality's policy officer's, and a
 * practice's auditor's or operator's (its practice's figures). Whose figures a caller may read, and how a refused
 * read is recorded, is decided as the API decides it (`consoleMonitoringReport`); every report shown is audited.
 */
export function monitoringPages(ctx: PipelineContext, base: string): Router {
  const router = exactRouter();

  router.get('/', async (req, res) => {
    const { lang } = pageOf(req, res);
    const { q, choices } = queryAndChoices(ctx, getPrincipal(res), req.query);
    const periods = q.municipality === undefined ? [] : periodChoices(ctx, q.municipality);
    const option = (value: string, chosen: string | undefined, words: string) =>
      html`<option value="${value}" ${chosen === value ? html` selected` : ''}>${words}</option>`;
    // The form's period: the one shown, or the one asked for when it cannot be shown (to choose again).
    const form = (chosen = q.period) =>
      html`<form method="get" action="${base}" class="search">
        <div class="fields">
          ${
            choices.municipalities.length > 1
              ? html`<label
                  >${t(lang, 'municipality')}<select name="municipality">
                    ${choices.municipalities.map((m) => option(m, q.municipality, municipalityName(ctx, m)))}
                  </select></label
                >`
              : ''
          }
          <label
            >${t(lang, 'period')}<select name="period">
              ${[...new Set(periods.map((c) => c.slice(0, 4)))].map(
                (year) =>
                  html`<optgroup label="${year}">
                    ${periods.filter((c) => c.startsWith(year)).map((c) => option(c, chosen, periodWords(lang, c)))}
                  </optgroup>`,
              )}
            </select></label
          >
          ${
            choices.wholeMunicipality || choices.practices.length > 1
              ? html`<label
                  >${t(lang, 'practice')}<select name="practice">
                    ${choices.wholeMunicipality ? html`<option value="">${t(lang, 'allPractices')}</option>` : ''}
                    ${choices.practices.map((p) => option(p, q.practice, p))}
                  </select></label
                >`
              : ''
          }
        </div>
        <button type="submit">${t(lang, 'show')}</button>
      </form>`;
    let shown;
    try {
      shown = await consoleMonitoringReport(ctx, req, res, q);
    } catch (err) {
      if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 403) {
        // Figures outside the caller's scope: refused (and recorded, as the API records it) as another role's page.
        throw err;
      }
      sendPage(req, res, t(lang, 'reportTitle'), html`${notice('error', outcomeInWords(lang, err))}${form()}`, 400);
      return;
    }
    const { report, period, scope } = shown;
    await auditReportRead(ctx, req, res, scope, report);
    // The CSV links and the form name the period shown, also when none was asked for (the last quarter ended).
    const csv = new URLSearchParams(
      Object.entries({ period: period.label, practice: q.practice, municipality: scope.municipality }).filter(
        (e): e is [string, string] => e[1] !== undefined,
      ),
    );
    sendPage(
      req,
      res,
      t(lang, 'reportTitle'),
      html`${form(period.label)}
        <p class="municipality">${t(lang, 'reportMunicipality', municipalityName(ctx, scope.municipality))}</p>
        ${scope.practice !== undefined ? html`<p class="practice">${t(lang, 'reportPractice', scope.practice)}</p>` : ''}
        <p class="period">${t(lang, 'reportPeriod', period.start, period.end)}</p>
        ${report.status === 'pending' ? html`<p class="pending">${t(lang, 'reportPending')}</p>` : ''}
        ${measureReportHtml(lang, report)}
        <p>
          <a class="button" href="${base}/report.csv?${csv.toString()}" download>${t(lang, 'downloadCsv')}</a>
          <a
            class="button"
            href="${base}/report.csv?${new URLSearchParams([...csv, ...Object.entries(EXCEL_NL)]).toString()}"
            download
            >${t(lang, 'downloadCsvExcelNl')}</a
          >
        </p>`,
    );
  });

  // The API's CSV (`GET /municipality/v1/monitoring?_format=csv`), file name included: counts, withheld, scores and
  // the period in every row, so a spreadsheet made from the console reads the same as one made from the API.
  router.get('/report.csv', async (req, res) => {
    const { q } = queryAndChoices(ctx, getPrincipal(res), req.query);
    const { report, period, scope } = await consoleMonitoringReport(ctx, req, res, q);
    await auditReportRead(ctx, req, res, scope, report);
    res
      .type('text/csv; charset=utf-8')
      .attachment(reportCsvFileName(scope.municipality, period))
      .send(reportCsv(report, csvOptionsOf(req.query)));
  });

  return router;
}
