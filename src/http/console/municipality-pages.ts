import { OperationOutcomeError } from '@medplum/core';
import type { Router, Request, Response } from 'express';
import { exactRouter } from '../exact-routing';
import type { PipelineContext } from '../../event/context';
import {
  listReceivedReferrals,
  receivingDestinationsOf,
  tryGetReferralCancellation,
  type ReferralCancellation,
  type ReceivedReferral,
  type ReceivedReferralFilter,
} from '../../reports/referral-timeline/received-referrals';
import { getPrincipal } from '../../access/authenticate';
import { ALL } from '../../access/principal';
import { field, pageOf, periodProblem, sendPage } from './console-request';
import { html, type SafeHtml } from './html';
import { formatDay, formatTime, t, type Lang } from './i18n';
import { referralStepsHtml, waitingDaysHtml } from './referral-status-html';
import { monitoringPages } from './monitoring-pages';
import { auditEventRead, auditRead } from '../audit-read';
import { organisationAgent } from '../../audit/audit-events';
import { outcomeInWords, type FieldWords } from './outcome-message';
import { csrfField, notice, table } from './layout';
import { parseStatusUpdate, recordUpdate, referralFor } from '../status-update';
import type { DeliveredReferral } from '../../event/feedback';
import { getReferralTimeline } from '../../reports/referral-timeline/timeline';
import { nextStatusesOf, REFERRAL_STATUSES, type ReferralStatus } from '../../../mappings/practice/referral-status';
import { codesOf, REFERRAL_REJECTION_REASON_SYSTEM, tryGetConcept } from '../../kernel/fhir/terminology';
import { amsterdamDay } from '../../kernel/dutch-time';
import { httpStatusOf } from '../../kernel/fhir/outcomes';
import { names } from '../route-target';

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
  const mark =
    r.cancelledOn === undefined
      ? ''
      : html`<br /><strong class="cancelled"
            >${t(lang, 'referralCancelledOn', formatDay(lang, r.cancelledOn))}</strong
          >`;
  const typeCell = html`${type ? t(lang, type) : r.eventType}${mark}`;
  return html`<tr${r.cancelledOn === undefined ? '' : html` class="cancelled"`}>
    <td>
      ${r.identifier ? html`<strong>${r.identifier.value}</strong><br /><small>${r.identifier.system}</small>` : r.id}
      <br />${
        r.referralReceived
          ? html`<a
              href="/console/municipality/referrals/${encodeURIComponent(
                r.identifier ? `${r.identifier.system ?? ''}|${r.identifier.value ?? ''}` : r.id,
              )}"
              >${t(lang, 'answerReferral')}</a
            >`
          : html`<small>${t(lang, 'referralNotReceivedHere')}</small>`
      }
    </td>
    <td>${r.practice}</td>
    <td>${typeCell}</td>
    <td>${formatDay(lang, r.timeline.referredOn)}</td>
    <td>${formatTime(lang, r.deliveredAt)}</td>
    <td>${referralStepsHtml(lang, r.timeline)}</td>
    <td>${waitingDaysHtml(lang, r.timeline)}</td>
  </tr>`;
}

/** The status form's fields, each with the label of the API's issue `expression` it becomes (`statusBodyOf`). */
const STATUS_FIELDS: FieldWords = {
  status: { label: 'statusField' },
  date: { label: 'statusDate' },
  reasonCode: { label: 'rejectionReason' },
  reason: { label: 'reasonText' },
  decision: { label: 'decisionLegend' },
  'decision.number': { label: 'decisionNumber' },
  'decision.date': { label: 'decisionDate' },
  'decision.productCategory': { label: 'productCategory' },
  'decision.period': { label: 'periodStart' },
  'decision.period.start': { label: 'periodStart' },
  'decision.period.end': { label: 'periodEnd' },
  provider: { label: 'providerAgb' },
  'provider.agb': { label: 'providerAgb' },
  startDate: { label: 'careStartDate' },
  endDate: { label: 'careEndDate' },
};

/** The form's text fields, as posted (kept to show the form again after a refusal). */
const FORM_NAMES = [
  'status',
  'date',
  'reasonCode',
  'reason',
  'decisionNumber',
  'decisionDate',
  'decisionProductCategory',
  'periodStart',
  'periodEnd',
  'providerAgb',
  'startDate',
  'endDate',
] as const;
type FormValues = Partial<Record<(typeof FORM_NAMES)[number], string>>;

function formValuesOf(body: unknown): FormValues {
  return Object.fromEntries(FORM_NAMES.flatMap((n) => (field(body, n) === undefined ? [] : [[n, field(body, n)]])));
}

/** An object without its undefined members; undefined when none is left. */
function given<T extends Record<string, unknown>>(o: T): Partial<T> | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The API's body (`POST /municipality/v1/referrals/{identifier}/status`) of what the form holds: only the fields
 * filled in, so `parseStatusUpdate` judges it exactly as it judges the API's (a decision's fields given with another
 * status, or a decision without its period, is refused there, naming the field).
 */
function statusBodyOf(v: FormValues): Record<string, unknown> {
  const decision = given({
    number: v.decisionNumber,
    date: v.decisionDate,
    productCategory: v.decisionProductCategory,
  });
  const period = given({ start: v.periodStart, end: v.periodEnd });
  return {
    ...given({
      status: v.status,
      date: v.date,
      reasonCode: v.reasonCode,
      reason: v.reason,
      startDate: v.startDate,
      endDate: v.endDate,
    }),
    ...(decision || period ? { decision: { ...decision, period: period ?? {} } } : {}),
    ...(v.providerAgb !== undefined ? { provider: { agb: v.providerAgb } } : {}),
  };
}

/**
 * What the referral's page shows besides its status: a notice (recorded, or refused), the form's values, and the
 * practice's cancellation as the request read it (`tryGetReferralCancellation`), read once per request.
 */
interface ReferralPageState {
  readonly message?: ReturnType<typeof notice>;
  readonly values: FormValues;
  readonly status?: number;
  readonly cancellation: ReferralCancellation | undefined;
}

/**
 * One referral delivered to the municipality: its statuses and waiting days, and the form to record the next
 * status, which offers only the statuses that may follow the current one.
 */
async function sendReferralPage(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  target: { referral: DeliveredReferral; municipality: string },
  key: string,
  state: ReferralPageState,
): Promise<void> {
  const page = pageOf(req, res);
  const { lang } = page;
  const { referral } = target;
  const timeline = await getReferralTimeline(ctx, referral.row);
  // A referral the practice cancelled takes no status (the API answers 409): no form, and the reason, in words.
  const { cancellation } = state;
  const allowed = cancellation ? [] : nextStatusesOf(timeline.current ?? undefined);
  const v = state.values;
  const selected = (a: string | undefined, b: string) => (a === b ? html` selected` : '');
  const input = (name: keyof FormValues, label: Parameters<typeof t>[1], type = 'text', extra = html``) =>
    html`<label>${t(lang, label)}<input type="${type}" name="${name}" value="${v[name] ?? ''}" ${extra} /></label>`;
  const cancelled =
    cancellation &&
    notice(
      'warn',
      t(lang, 'referralCancelled', formatDay(lang, cancellation.on), formatTime(lang, cancellation.reachedAt)),
    );
  const form = cancelled
    ? ''
    : allowed.length === 0
      ? html`<p>${t(lang, 'nothingMayFollow')}</p>`
      : html`<form
          method="post"
          action="/console/municipality/referrals/${encodeURIComponent(key)}/status"
          class="status-form"
        >
          ${csrfField(page)}
          <div class="fields">
            <label
              >${t(lang, 'statusField')}<select name="status" required>
                ${allowed.map(
                  (s) => html`<option value="${s}" ${selected(v.status, s)}>${t(lang, `referralStatus_${s}`)}</option>`,
                )}
              </select></label
            >
            ${input('date', 'statusDate', 'date')}
            <label
              >${t(lang, 'rejectionReason')}<select name="reasonCode">
                <option value="">${t(lang, 'chooseNone')}</option>
                ${codesOf(REFERRAL_REJECTION_REASON_SYSTEM).map(
                  (c) =>
                    html`<option value="${c}" ${selected(v.reasonCode, c)}>
                      ${tryGetConcept(REFERRAL_REJECTION_REASON_SYSTEM, c)?.display ?? c}
                    </option>`,
                )}
              </select></label
            >
            <label class="wide"
              >${t(lang, 'reasonText')}<textarea name="reason" rows="3" maxlength="2000" aria-describedby="reason-help">
${v.reason ?? ''}</textarea>
            </label>
            <p id="reason-help" class="help">${t(lang, 'reasonTextHelp')}</p>
          </div>
          <fieldset>
            <legend>${t(lang, 'decisionLegend')}</legend>
            ${input('decisionNumber', 'decisionNumber', 'text', html`maxlength="64"`)}
            ${input('decisionDate', 'decisionDate', 'date')}
            ${input('decisionProductCategory', 'productCategory', 'text', html`inputmode="numeric" size="4"`)}
            ${input('periodStart', 'periodStart', 'date')} ${input('periodEnd', 'periodEnd', 'date')}
          </fieldset>
          <fieldset>
            <legend>${t(lang, 'careLegend')}</legend>
            ${input('providerAgb', 'providerAgb', 'text', html`inputmode="numeric" size="8"`)}
            ${input('startDate', 'careStartDate', 'date')} ${input('endDate', 'careEndDate', 'date')}
          </fieldset>
          <button type="submit">${t(lang, 'recordStatus')}</button>
        </form>`;
  sendPage(
    req,
    res,
    t(lang, 'referralTitle', referral.identifier.value),
    html`${state.message ?? ''}${cancelled ?? ''}
      <p><small>${referral.identifier.system}</small> · ${t(lang, 'practice')}: ${referral.row.tenant}</p>
      <h2>${t(lang, 'statusUpdates')}</h2>
      ${referralStepsHtml(lang, timeline) || html`<p>${t(lang, cancelled ? 'none' : 'noReferralStatus')}</p>`}
      ${waitingDaysHtml(lang, timeline)}
      <h2>${t(lang, 'answerReferral')}</h2>
      <p>${t(lang, 'answerIntro')}</p>
      ${form}
      <p><a href="/console/municipality/referrals">${t(lang, 'referralsTitle')}</a></p>`,
    state.status,
  );
}

/** `/console/municipality/…`: the monitoring report and the status timelines of referrals it received. */
export function municipalityPages(ctx: PipelineContext): Router {
  const router = exactRouter();
  router.use(monitoringPages(ctx, '/console/municipality'));

  router.get('/referrals', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const destinations = receivingDestinationsOf(ctx, principal);
    const page = field(req.query, '_page');
    // Found by the practice's referral number and the days it arrived: ids and days, never a BSN, in the address.
    const filter: ReceivedReferralFilter = {
      referral: field(req.query, 'referral')?.slice(0, 200),
      from: field(req.query, 'from'),
      to: field(req.query, 'to'),
    };
    const problem = periodProblem(lang, filter, 'fromAfterToSearch', { from: 'receivedFrom', to: 'receivedTo' });
    const { referrals, next } =
      problem === undefined
        ? await listReceivedReferrals(ctx, destinations, { limit: REFERRALS_PER_PAGE, page, filter })
        : { referrals: [], next: undefined };
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
    const filtered = Object.values(filter).some((v) => v !== undefined);
    const hrefOf = (pageToken?: string) => {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries({ ...filter, _page: pageToken })) {
        if (value !== undefined) {
          query.set(name, value);
        }
      }
      return query.size === 0
        ? '/console/municipality/referrals'
        : `/console/municipality/referrals?${query.toString()}`;
    };
    const paging = html`<div class="paging">
      ${page === undefined ? '' : html`<a href="${hrefOf()}">${t(lang, 'firstPage')}</a>`}
      ${next === undefined ? '' : html`<a href="${hrefOf(next)}">${t(lang, 'nextPage')}</a>`}
    </div>`;
    const search = html`<form
      method="get"
      action="/console/municipality/referrals"
      class="search"
      role="search"
      aria-label="${t(lang, 'findReferral')}"
    >
      <div class="fields">
        <label
          >${t(lang, 'referralNumber')}<input name="referral" autocomplete="off" value="${filter.referral ?? ''}"
        /></label>
        <label>${t(lang, 'receivedFrom')}<input type="date" name="from" value="${filter.from ?? ''}" /></label>
        <label>${t(lang, 'receivedTo')}<input type="date" name="to" value="${filter.to ?? ''}" /></label>
      </div>
      <button type="submit">${t(lang, 'filter')}</button>
      ${filtered ? html`<a href="/console/municipality/referrals">${t(lang, 'allReferrals')}</a>` : ''}
    </form>`;
    sendPage(
      req,
      res,
      t(lang, 'referralsTitle'),
      html`<p>${t(lang, 'referralsIntro')}</p>
        ${search} ${problem === undefined ? '' : notice('error', problem)}
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
      problem === undefined ? undefined : 400,
    );
  });

  // One referral, addressed as the API addresses it (`referralFor`; the list links the `system|value` the municipality
  // received, not jeugdbrug's event id): read as `GET
  // /municipality/v1/referrals/{identifier}/status` is, and audited as it is.
  router.get('/referrals/:id', names('referral', 'id'), async (req, res) => {
    const { lang } = pageOf(req, res);
    const target = await referralFor(ctx, req, res, req.params.id, 'id');
    await auditEventRead(ctx, req, res, target.referral.row, [
      organisationAgent('destination', 'municipality', target.municipality),
    ]);
    const recorded = field(req.query, 'recorded');
    await sendReferralPage(ctx, req, res, target, req.params.id, {
      values: { date: amsterdamDay(new Date()) },
      cancellation: await tryGetReferralCancellation(ctx, target.referral.row.id),
      ...((REFERRAL_STATUSES as readonly string[]).includes(recorded ?? '')
        ? { message: notice('ok', t(lang, 'statusRecorded', t(lang, `referralStatus_${recorded as ReferralStatus}`))) }
        : {}),
    });
  });

  // The form's status, recorded by the API's own functions (`POST /municipality/v1/referrals/{identifier}/status`):
  // the same rules (order, decision, reason codes, dates), the same audit and actor, the same way on to the practice.
  // Refused: the page again with the form as filled in and what is wrong, by the field's label.
  router.post('/referrals/:id/status', names('referral', 'id'), async (req, res) => {
    const { lang } = pageOf(req, res);
    const target = await referralFor(ctx, req, res, req.params.id, 'id');
    const values = formValuesOf(req.body);
    // Read once, before the form is: a cancelled referral's page whatever the form holds, and not read again when
    // the status is recorded.
    const cancellation = await tryGetReferralCancellation(ctx, target.referral.row.id);
    if (cancellation) {
      // The page says why, without the form; what the API's 409 says in English is not needed beside it.
      await sendReferralPage(ctx, req, res, target, req.params.id, {
        values,
        status: 409,
        message: notice('error', t(lang, 'referralCancelledNothingRecorded')),
        cancellation,
      });
      return;
    }
    try {
      const update = parseStatusUpdate(statusBodyOf(values));
      await recordUpdate(ctx, req, res, target, update, { notCancelled: true });
      res.redirect(
        303,
        `/console/municipality/referrals/${encodeURIComponent(req.params.id)}?recorded=${update.status}`,
      );
    } catch (err) {
      const status = err instanceof OperationOutcomeError ? httpStatusOf(err.outcome) : 500;
      if (status >= 500 || status === 403 || status === 404) {
        throw err;
      }
      await sendReferralPage(ctx, req, res, target, req.params.id, {
        values,
        status,
        message: notice('error', outcomeInWords(lang, err, STATUS_FIELDS)),
        cancellation: undefined,
      });
    }
  });

  return router;
}
