import { getStatus, OperationOutcomeError } from '@medplum/core';
import { Router } from 'express';
import type { PipelineContext } from '../../event/context';
import { listReceivedReferrals, type ReceivedReferral } from '../../reports/referral-timeline/received-referrals';
import { getPrincipal } from '../../access/authenticate';
import { ALL, canSeeMunicipality, type Principal } from '../../access/principal';
import { field, pageOf, sendPage } from './console-request';
import { html, type SafeHtml } from './html';
import { formatDay, formatTime, t, type Lang } from './i18n';
import { referralStepsHtml, waitingDaysHtml } from './referral-status-html';
import { measureReportHtml } from './measure-report-html';
import { reportCsv, reportCsvFileName } from '../../reports/monitoring/report-csv';
import { consoleMonitoringReport, type MonitoringQuery } from './monitoring-source';
import { auditReportRead } from '../monitoring-query';
import { auditRead } from '../audit-read';
import { organisationAgent } from '../../audit/audit-events';
import { outcomeInWords } from './outcome-message';
import { notice, table } from './layout';

/**
 * The municipalities a key may see a report of, in the order of its scope (all those with an agreement for `*`):
 * a regional key has several, and chooses (the API asks it to name one).
 */
function municipalitiesOf(ctx: PipelineContext, principal: Principal): string[] {
  const agreed = [...new Set(ctx.registry.agreements.map((a) => a.municipality.code))];
  return principal.municipalities.includes(ALL) ? agreed.sort() : [...principal.municipalities];
}

/** A municipality in words: its name from the loaded agreements, and its code. */
function municipalityName(ctx: PipelineContext, code: string): string {
  const name = ctx.registry.agreements.find((a) => a.municipality.code === code)?.municipality.name;
  return name ? `${name} (${code})` : code;
}

/**
 * The page's query as given: a value the report cannot use is answered with a message, not left out. Without a
 * municipality, the first of the key's (and the page says which it is); one outside the key's scope is refused.
 */
function queryOf(ctx: PipelineContext, principal: Principal, source: unknown): MonitoringQuery {
  return {
    municipality: field(source, 'municipality') ?? municipalitiesOf(ctx, principal)[0] ?? '',
    from: field(source, 'from'),
    to: field(source, 'to'),
    practice: field(source, 'practice'),
  };
}

/** A page of the referrals list: enough to find a recent one at a glance, small enough to open each event. */
const REFERRALS_PER_PAGE = 50;

const REFERRAL_EVENTS: Record<string, 'referralEvent_created' | 'referralEvent_cancelled'> = {
  'referral.created': 'referralEvent_created',
  'referral.cancelled': 'referralEvent_cancelled',
};

/**
 * One referral: the identifier the municipality received (the practice's referral id, its system beside it), each
 * status on the day it took effect (when jeugdbrug received it, and whether it reached the practice, after it),
 * and the waiting days, as the API's timeline gives them.
 */
function referralRow(lang: Lang, r: ReceivedReferral): SafeHtml {
  const type = REFERRAL_EVENTS[r.eventType];
  return html`<tr>
    <td>
      ${r.identifier ? html`<strong>${r.identifier.value}</strong><br /><small>${r.identifier.system}</small>` : r.id}
    </td>
    <td>${r.practice}</td>
    <td>${type ? t(lang, type) : r.eventType}</td>
    <td>${formatDay(lang, r.timeline.referredOn)}</td>
    <td>${formatTime(lang, r.deliveredAt)}</td>
    <td>${referralStepsHtml(lang, r.timeline)}</td>
    <td>${waitingDaysHtml(lang, r.timeline)}</td>
  </tr>`;
}

/** `/console/municipality/…`: the monitoring report and the status timelines of referrals it received. */
export function municipalityPages(ctx: PipelineContext): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const q = queryOf(ctx, principal, req.query);
    const municipalities = municipalitiesOf(ctx, principal);
    // The practices with an agreement with the municipality shown.
    const practices = [
      ...new Set(
        ctx.registry.agreements.filter((a) => a.municipality.code === q.municipality).map((a) => a.practice.agb),
      ),
    ];
    const form = (from = q.from, to = q.to) =>
      html`<form method="get" action="/console/municipality" class="search">
        <div class="fields">
          ${
            municipalities.length > 1
              ? html`<label
                  >${t(lang, 'municipality')}<select name="municipality">
                    ${municipalities.map(
                      (m) =>
                        html`<option value="${m}" ${q.municipality === m ? html` selected` : ''}>
                          ${municipalityName(ctx, m)}
                        </option>`,
                    )}
                  </select></label
                >`
              : ''
          }
          <label>${t(lang, 'from')}<input type="date" name="from" value="${from ?? ''}" /></label>
          <label>${t(lang, 'to')}<input type="date" name="to" value="${to ?? ''}" /></label>
          <label
            >${t(lang, 'practice')}<select name="practice">
              <option value="">${t(lang, 'allPractices')}</option>
              ${practices.map((p) => html`<option value="${p}" ${q.practice === p ? html` selected` : ''}>${p}</option>`)}
            </select></label
          >
        </div>
        <button type="submit">${t(lang, 'show')}</button>
      </form>`;
    let shown;
    try {
      shown = await consoleMonitoringReport(ctx, principal, q);
    } catch (err) {
      if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 403) {
        // A municipality outside the key's scope: refused (and audited) as another role's page is.
        throw err;
      }
      sendPage(req, res, t(lang, 'reportTitle'), html`${notice('error', outcomeInWords(lang, err))}${form()}`, 400);
      return;
    }
    const { report, period } = shown;
    await auditReportRead(ctx, req, res, q, report);
    // The CSV link and the form name the period shown, also when none was asked for (the current year).
    const csv = new URLSearchParams(
      Object.entries({ from: period.start, to: period.end, practice: q.practice, municipality: q.municipality }).filter(
        (e): e is [string, string] => e[1] !== undefined,
      ),
    );
    sendPage(
      req,
      res,
      t(lang, 'reportTitle'),
      html`${form(period.start, period.end)}
        <p class="municipality">${t(lang, 'reportMunicipality', municipalityName(ctx, q.municipality))}</p>
        <p class="period">${t(lang, 'reportPeriod', period.start, period.end)}</p>
        ${measureReportHtml(lang, report)}
        <p>
          <a class="button" href="/console/municipality/report.csv?${csv.toString()}" download
            >${t(lang, 'downloadCsv')}</a
          >
        </p>`,
    );
  });

  // The API's CSV (`GET /municipality/v1/monitoring?_format=csv`), file name included: counts, withheld, scores and
  // the period in every row, so a spreadsheet made from the console reads the same as one made from the API.
  router.get('/report.csv', async (req, res) => {
    const query = queryOf(ctx, getPrincipal(res), req.query);
    const { report, period } = await consoleMonitoringReport(ctx, getPrincipal(res), query);
    await auditReportRead(ctx, req, res, query, report);
    res
      .type('text/csv; charset=utf-8')
      .attachment(reportCsvFileName(query.municipality, period))
      .send(reportCsv(report));
  });

  router.get('/referrals', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const destinations = ctx.registry.destinations
      .filter((d) => canSeeMunicipality(principal, d.municipality))
      .map((d) => d.id);
    const page = field(req.query, '_page');
    const { referrals, next } = await listReceivedReferrals(ctx, destinations, { limit: REFERRALS_PER_PAGE, page });
    // Statuses and decisions about children: the page is a search of them, on record in each practice's chain shown.
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      target: 'inbox',
      tenants: referrals.map((r) => r.practice),
      extraAgents: principal.municipalities
        .filter((m) => m !== ALL)
        .map((m) => organisationAgent('destination', 'municipality', m)),
    });
    const rows = referrals.map((r) => referralRow(lang, r));
    const paging = html`<div class="paging">
      ${page === undefined ? '' : html`<a href="/console/municipality/referrals">${t(lang, 'firstPage')}</a>`}
      ${next === undefined ? '' : html`<a href="/console/municipality/referrals?_page=${next}">${t(lang, 'nextPage')}</a>`}
    </div>`;
    sendPage(
      req,
      res,
      t(lang, 'referralsTitle'),
      html`<p>${t(lang, 'referralsIntro')}</p>
        ${table(
          t(lang, 'referralsTitle'),
          [
            t(lang, 'referral'),
            t(lang, 'practice'),
            t(lang, 'type'),
            t(lang, 'referredOn'),
            t(lang, 'deliveredAt'),
            t(lang, 'statusUpdates'),
            t(lang, 'waitingDays'),
          ],
          rows,
          t(lang, 'none'),
        )}
        ${paging}`,
    );
  });

  return router;
}
