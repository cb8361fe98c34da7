import { Router } from 'express';
import type { PipelineContext } from '../../event/context';
import { listReferralTimelines } from '../../reports/referral-timelines/referral-timelines';
import { getPrincipal } from '../../access/authenticate';
import { canSeeMunicipality, type Principal } from '../../access/principal';
import { field, pageOf, sendPage } from './console-request';
import { html } from './html';
import { formatTime, stateInWords, t } from './i18n';
import { measureReportCsv, measureReportHtml } from './measure-report-html';
import { consoleMonitoringReport, type MonitoringQuery } from './monitoring-source';
import { auditReportRead } from '../monitoring-query';
import { outcomeMessage } from './outcome-message';
import { notice, table } from './layout';

/** The page's query as given: a value the report cannot use is answered with a message, not left out. */
function queryOf(principal: Principal, source: unknown): MonitoringQuery {
  return {
    municipality: principal.municipalities[0] ?? '',
    from: field(source, 'from'),
    to: field(source, 'to'),
    practice: field(source, 'practice'),
  };
}

/** `/console/municipality/…`: the monitoring report and the status timelines of referrals it received. */
export function municipalityPages(ctx: PipelineContext): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const q = queryOf(principal, req.query);
    const practices = [
      ...new Set(
        ctx.registry.agreements
          .filter((a) => canSeeMunicipality(principal, a.municipality.code))
          .map((a) => a.practice.agb),
      ),
    ];
    const form = (from = q.from, to = q.to) =>
      html`<form method="get" action="/console/municipality" class="search">
        <div class="fields">
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
      sendPage(req, res, t(lang, 'reportTitle'), html`${notice('error', outcomeMessage(err))}${form()}`, 400);
      return;
    }
    const { report, period } = shown;
    await auditReportRead(ctx, req, res, q, report);
    // The CSV link and the form name the period shown, also when none was asked for (the current year).
    const csv = new URLSearchParams(
      Object.entries({ from: period.start, to: period.end, practice: q.practice }).filter(
        (e): e is [string, string] => e[1] !== undefined,
      ),
    );
    sendPage(
      req,
      res,
      t(lang, 'reportTitle'),
      html`${form(period.start, period.end)}
        <p class="period">${t(lang, 'reportPeriod', period.start, period.end)}</p>
        ${measureReportHtml(report)}
        <p>
          <a class="button" href="/console/municipality/report.csv?${csv.toString()}" download
            >${t(lang, 'downloadCsv')}</a
          >
        </p>`,
    );
  });

  router.get('/report.csv', async (req, res) => {
    const query = queryOf(getPrincipal(res), req.query);
    const { report } = await consoleMonitoringReport(ctx, getPrincipal(res), query);
    await auditReportRead(ctx, req, res, query, report);
    res.type('text/csv; charset=utf-8').set('Content-Disposition', 'attachment; filename="monitoring.csv"');
    res.send(measureReportCsv(report));
  });

  router.get('/referrals', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const destinations = ctx.registry.destinations
      .filter((d) => canSeeMunicipality(principal, d.municipality))
      .map((d) => d.id);
    const referrals = await listReferralTimelines(ctx.db, destinations, 200);
    const rows = referrals.map(
      (r) =>
        html`<tr>
          <td>${r.id}</td>
          <td>${r.practice}</td>
          <td>${r.eventType}</td>
          <td>${formatTime(lang, r.deliveredAt)}</td>
          <td>
            <ol class="timeline">
              ${r.updates.map((u) => html`<li><time>${formatTime(lang, u.at)}</time> <strong>${u.status}</strong> (${stateInWords(lang, u.state)})</li>`)}
            </ol>
          </td>
        </tr>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'referralsTitle'),
      table(
        t(lang, 'referralsTitle'),
        ['id', t(lang, 'practice'), t(lang, 'type'), t(lang, 'deliveredAt'), t(lang, 'statusUpdates')],
        rows,
        t(lang, 'none'),
      ),
    );
  });

  return router;
}
