import { Router } from 'express';
import type { PipelineContext } from '../../event/context';
import { listReferralTimelines } from '../../reports/referral-timelines/referral-timelines';
import { getPrincipal } from '../../access/authenticate';
import { canSeeMunicipality, type Principal } from '../../access/principal';
import { field, pageOf, sendPage } from './console-request';
import { html } from './html';
import { formatTime, stateInWords, t } from './i18n';
import { measureReportCsv, measureReportHtml } from './measure-report-html';
import { tryGetMonitoringSource, type MonitoringQuery } from './monitoring-source';
import { notice, table } from './layout';
import { auditRead } from '../audit-read';
import { organisationAgent } from '../../audit/audit-events';
import { SYSTEM_TENANT } from '../../reports/audit-scope';
import type { Request, Response } from 'express';
import type { MeasureReport } from '@medplum/fhirtypes';

/** A report read from the console is audited exactly as the API's (who, municipality, period, practice). */
async function auditReportRead(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  q: MonitoringQuery,
  report: MeasureReport,
): Promise<void> {
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    target: `MeasureReport/${report.id ?? ''}`,
    tenants: q.practice ? [q.practice] : [SYSTEM_TENANT],
    extraAgents: [organisationAgent('destination', 'municipality', q.municipality)],
  });
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function queryOf(principal: Principal, source: unknown): MonitoringQuery {
  const from = field(source, 'from');
  const to = field(source, 'to');
  const practice = field(source, 'practice');
  return {
    municipality: principal.municipalities[0] ?? '',
    from: from !== undefined && DATE.test(from) ? from : undefined,
    to: to !== undefined && DATE.test(to) ? to : undefined,
    practice: practice !== undefined && /^\d{8}$/.test(practice) ? practice : undefined,
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
    const form = html`<form method="get" action="/console/municipality" class="search">
      <div class="fields">
        <label>${t(lang, 'from')}<input type="date" name="from" value="${q.from ?? ''}" /></label>
        <label>${t(lang, 'to')}<input type="date" name="to" value="${q.to ?? ''}" /></label>
        <label
          >${t(lang, 'practice')}<select name="practice">
            <option value="">${t(lang, 'allPractices')}</option>
            ${practices.map((p) => html`<option value="${p}" ${q.practice === p ? html` selected` : ''}>${p}</option>`)}
          </select></label
        >
      </div>
      <button type="submit">${t(lang, 'show')}</button>
    </form>`;
    const source = tryGetMonitoringSource();
    if (!source) {
      sendPage(req, res, t(lang, 'reportTitle'), html`${form}${notice('info', t(lang, 'reportNotAvailable'))}`);
      return;
    }
    const report = await source(ctx, principal, q);
    await auditReportRead(ctx, req, res, q, report);
    const csv = new URLSearchParams(
      Object.entries({ from: q.from, to: q.to, practice: q.practice }).filter(
        (e): e is [string, string] => e[1] !== undefined,
      ),
    );
    sendPage(
      req,
      res,
      t(lang, 'reportTitle'),
      html`${form}${measureReportHtml(report)}
        <p>
          <a class="button" href="/console/municipality/report.csv?${csv.toString()}" download
            >${t(lang, 'downloadCsv')}</a
          >
        </p>`,
    );
  });

  router.get('/report.csv', async (req, res) => {
    const source = tryGetMonitoringSource();
    const principal = getPrincipal(res);
    if (!source) {
      res.status(404).type('text/plain').send('not available yet');
      return;
    }
    const query = queryOf(principal, req.query);
    const report = await source(ctx, principal, query);
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
