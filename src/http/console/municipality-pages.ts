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
import { outcomeDetail, outcomeInWords, type FieldWords } from './outcome-message';
import { errorSummary, fieldRefusal, fieldState, requiredMark } from './form-fields';
import { csrfField, notice, table } from './layout';
import { parseStatusUpdate, recordUpdate, referralFor } from '../status-update';
import type { DeliveredReferral } from '../../event/feedback';
import { getReferralTimeline, type ReferralTimeline } from '../../reports/referral-timeline/timeline';
import { nextStatusesOf, REFERRAL_STATUSES, type ReferralStatus } from '../../../mappings/practice/referral-status';
import { codesOf, REFERRAL_REJECTION_REASON_SYSTEM, tryGetDisplayIn } from '../../kernel/fhir/terminology';
import { JZ020_SYSTEM } from '../../kernel/fhir/systems';
import { fieldIssue, httpStatusOf, unprocessableIssues } from '../../kernel/fhir/outcomes';
import { amsterdamDay } from '../../kernel/dutch-time';
import { isValidBsn } from '../../kernel/fhir/identifiers';
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
  // Below the event's kind: the practice's cancellation, and that the consent no longer covers what this delivery
  // disclosed (GET /fhir/ServiceRequest tags it consent-withdrawn).
  const marks = [
    r.cancelledOn && { cls: 'cancelled', text: t(lang, 'referralCancelledOn', formatDay(lang, r.cancelledOn)) },
    r.withdrawalNoticeAt && {
      cls: 'withdrawn',
      text: t(lang, 'referralConsentWithdrawn', formatTime(lang, r.withdrawalNoticeAt)),
    },
  ].flatMap((m) => (m ? [html`<br /><strong class="${m.cls}">${m.text}</strong>`] : []));
  const typeCell = html`${type ? t(lang, type) : r.eventType}${marks}`;
  return html`<tr${r.cancelledOn === undefined ? '' : html` class="cancelled"`}>
    <td>
      ${r.identifier ? html`<strong>${r.identifier.value}</strong><br /><small>${r.identifier.system}</small>` : r.id}
      <br />${
        r.referralReceived
          ? html`<a
              href="/console/municipality/referrals/${encodeURIComponent(
                r.identifier ? `${r.identifier.system ?? ''}|${r.identifier.value ?? ''}` : r.id,
              )}"
              >${t(lang, 'answerReferral')}<span class="visually-hidden">
                ${t(lang, 'answerReferralFor', r.identifier?.value ?? r.id)}</span
              ></a
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
  // A day not in the API's form names the form (JJJJ-MM-DD), as the referral list's filter does.
  date: { label: 'statusDate', says: 'invalidDate' },
  reasonCode: { label: 'rejectionReason', says: 'chooseRejectionReason' },
  reason: { label: 'reasonText' },
  decision: { label: 'decisionLegend' },
  'decision.number': { label: 'decisionNumber' },
  'decision.date': { label: 'decisionDate', says: 'invalidDate' },
  'decision.productCategory': { label: 'productCategory' },
  'decision.period': { label: 'periodStart' },
  'decision.period.start': { label: 'periodStart', says: 'invalidDate' },
  'decision.period.end': { label: 'periodEnd', says: 'invalidDate' },
  provider: { label: 'providerAgb' },
  'provider.agb': { label: 'providerAgb' },
  startDate: { label: 'careStartDate', says: 'invalidDate' },
  endDate: { label: 'careEndDate', says: 'invalidDate' },
  confirm: { label: 'confirmFinal', says: 'confirmFinalMissing' },
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
  'confirm',
] as const;
type FormName = (typeof FORM_NAMES)[number];
type FormValues = Partial<Record<FormName, string>>;

/** The list's query parameter that says a BSN typed as the referral number was refused (and taken out). */
const BSN_REFUSED = 'bsnRefused';

/** A value that is a BSN (9 digits passing the 11-proef, written with spaces, dots or hyphens or without). */
function looksLikeBsn(value: string): boolean {
  return isValidBsn(value.replace(/[\s.-]/g, ''));
}

/** The label of each form field, for what a case worker typed shown back after a refusal (`typedHtml`). */
const FORM_LABELS: Readonly<Record<Exclude<FormName, 'confirm'>, Parameters<typeof t>[1]>> = {
  status: 'statusField',
  date: 'statusDate',
  reasonCode: 'rejectionReason',
  reason: 'reasonText',
  decisionNumber: 'decisionNumber',
  decisionDate: 'decisionDate',
  decisionProductCategory: 'productCategory',
  periodStart: 'periodStart',
  periodEnd: 'periodEnd',
  providerAgb: 'providerAgb',
  startDate: 'careStartDate',
  endDate: 'careEndDate',
};

/**
 * What the case worker filled in, shown back as it was typed (codes in words) when the status can no longer be
 * recorded, to take it over into another; empty when nothing was. Only in the answer to the post, never in an
 * address.
 */
function typedHtml(lang: Lang, v: FormValues): SafeHtml {
  const words = (name: keyof typeof FORM_LABELS, value: string): string =>
    name === 'status' && isStatus(value)
      ? t(lang, `referralStatus_${value}`)
      : name === 'reasonCode'
        ? (tryGetDisplayIn(REFERRAL_REJECTION_REASON_SYSTEM, value, lang) ?? value)
        : name === 'decisionProductCategory'
          ? `${value} – ${tryGetDisplayIn(JZ020_SYSTEM, value, lang) ?? ''}`
          : value;
  const rows = (Object.keys(FORM_LABELS) as (keyof typeof FORM_LABELS)[]).flatMap((name) => {
    const value = v[name]?.trim();
    return value
      ? [
          html`<dt>${t(lang, FORM_LABELS[name])}</dt>
            <dd>${words(name, value)}</dd>`,
        ]
      : [];
  });
  return rows.length > 0
    ? html`<p>${t(lang, 'typedNotRecorded')}</p>
        <dl class="typed">${rows}</dl>`
    : html``;
}

/**
 * The refusal of a status a colleague's (or the API's) update made impossible meanwhile (the API's 409 at `status`):
 * the referral's status now, recorded when and for which day, what may follow it, and that nothing was recorded.
 */
function movedOnWords(lang: Lang, timeline: ReferralTimeline, allowed: readonly ReferralStatus[]): string {
  const now = timeline.steps.at(-1);
  if (!now) {
    return t(lang, 'fieldInvalid', t(lang, 'statusField'));
  }
  const status = t(lang, `referralStatus_${now.status}`);
  const at = formatTime(lang, now.receivedAt);
  const day = now.date ? formatDay(lang, now.date) : '';
  return allowed.length > 0
    ? t(
        lang,
        'statusMovedOn',
        t(lang, 'statusField'),
        status,
        at,
        day,
        allowed.map((a) => t(lang, `referralStatus_${a}`)).join(', '),
      )
    : t(lang, 'statusMovedOnFinal', t(lang, 'statusField'), status, at, day);
}

/** The form field each issue `expression` of the API (`STATUS_FIELDS`) is about: marked invalid, tied to the error. */
const FORM_FIELD_OF: Readonly<Record<string, FormName>> = {
  date: 'date',
  reasonCode: 'reasonCode',
  reason: 'reason',
  decision: 'decisionNumber',
  'decision.number': 'decisionNumber',
  'decision.date': 'decisionDate',
  'decision.productCategory': 'decisionProductCategory',
  'decision.period': 'periodStart',
  'decision.period.start': 'periodStart',
  'decision.period.end': 'periodEnd',
  provider: 'providerAgb',
  'provider.agb': 'providerAgb',
  startDate: 'startDate',
  endDate: 'endDate',
  confirm: 'confirm',
};

/** The form fields a refusal names (`FORM_FIELD_OF`). */
function invalidFieldsOf(err: unknown): ReadonlySet<FormName> {
  const issues = err instanceof OperationOutcomeError ? (err.outcome.issue ?? []) : [];
  return new Set(issues.flatMap((i) => i.expression ?? []).flatMap((e) => FORM_FIELD_OF[e] ?? []));
}

/**
 * Statuses after which the referral cannot go back (`mayFollow`): the form asks to confirm them, as a slip (an arrow
 * key on the status) would otherwise reach the practice for good.
 */
const FINAL_STATUSES: ReadonlySet<ReferralStatus> = new Set(['rejected', 'care-ended', 'closed']);

/** The fields the form shows for each status: only those its body takes (`statusUpdateSchema`). */
const FIELDS_OF: Readonly<Record<ReferralStatus, { decision?: true; care?: 'start' | 'end'; reasonCode?: true }>> = {
  received: {},
  accepted: {},
  rejected: { reasonCode: true },
  'decision-issued': { decision: true },
  allocated: { care: 'start' },
  'care-started': { care: 'start' },
  'care-ended': { care: 'end' },
  closed: {},
};

const isStatus = (s: string | undefined): s is ReferralStatus =>
  (REFERRAL_STATUSES as readonly string[]).includes(s ?? '');

/**
 * A final status (`FINAL_STATUSES`) the case worker did not confirm: a 422 naming `confirm`, before anything is
 * recorded. The API takes a final status without it: its client decides in code, not with an arrow key.
 */
/**
 * The form's status update, judged as the API judges it, with the confirmation of a final status judged beside the
 * other fields: one refusal names every problem, not one at a time.
 */
function parseConfirmedUpdate(v: FormValues): ReturnType<typeof parseStatusUpdate> {
  const unconfirmed =
    isStatus(v.status) && FINAL_STATUSES.has(v.status) && v.confirm !== 'yes'
      ? [fieldIssue('a final status is recorded only when confirmed', 'confirm')]
      : [];
  let update: ReturnType<typeof parseStatusUpdate>;
  try {
    update = parseStatusUpdate(statusBodyOf(v));
  } catch (err) {
    if (unconfirmed.length > 0 && err instanceof OperationOutcomeError && httpStatusOf(err.outcome) === 422) {
      throw new OperationOutcomeError({ ...err.outcome, issue: [...err.outcome.issue, ...unconfirmed] });
    }
    throw err;
  }
  if (unconfirmed.length > 0) {
    throw new OperationOutcomeError(unprocessableIssues(unconfirmed));
  }
  return update;
}

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
  /** A refusal of the form, in words: shown above it, focused, and tied to the fields it names (`invalid`). */
  readonly error?: SafeHtml;
  readonly invalid?: ReadonlySet<FormName>;
  /**
   * The status was refused because the referral moved on meanwhile (a 409 at `status`): the error says so from the
   * page's timeline, with the API's own words (`detail`) after it, and what was typed is shown back.
   */
  readonly movedOn?: { readonly detail: SafeHtml };
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
  const invalid = state.invalid ?? new Set<FormName>();
  const pagePath = `/console/municipality/referrals/${encodeURIComponent(key)}`;
  // The status chosen: asked for in a first step (`?status=`), or the one of a refused form shown again while it may
  // still follow; one that may not (the referral moved on meanwhile) is asked for again, the refusal beside it.
  const chosen = isStatus(v.status) && allowed.includes(v.status) ? v.status : undefined;
  const selected = (a: string | undefined, b: string) => (a === b ? html` selected` : '');
  /** A field refused: marked so, and its error read out with it. */
  const validity = (name: FormName) =>
    invalid.has(name) ? html` aria-invalid="true" aria-describedby="status-error"` : '';
  /** A field, `required` said in its label too. */
  const input = (name: FormName, label: Parameters<typeof t>[1], type = 'text', extra = html``, required = false) =>
    html`<label
      >${t(lang, label)}${required ? requiredMark(lang) : ''}<input
        type="${type}"
        name="${name}"
        value="${v[name] ?? ''}"
        ${extra}${required ? html` required` : ''}${validity(name)}
    /></label>`;
  const codeSelect = (name: FormName, label: Parameters<typeof t>[1], system: string, withCode: boolean) =>
    html`<label
      >${t(lang, label)}${requiredMark(lang)}<select name="${name}" required${validity(name)}>
        <option value="">${t(lang, 'chooseOne')}</option>
        ${codesOf(system).map((c) => {
          const words = tryGetDisplayIn(system, c, lang) ?? c;
          return html`<option value="${c}" ${selected(v[name], c)}>${withCode ? `${c} – ${words}` : words}</option>`;
        })}
      </select></label
    >`;
  const cancelled =
    cancellation &&
    notice(
      'warn',
      t(lang, 'referralCancelled', formatDay(lang, cancellation.on), formatTime(lang, cancellation.reachedAt)),
    );
  const refusal = state.movedOn
    ? html`${movedOnWords(lang, timeline, allowed)}${state.movedOn.detail}${typedHtml(lang, v)}`
    : state.error;
  const error =
    refusal && html`<div class="notice error" role="alert" id="status-error" tabindex="-1" autofocus>${refusal}</div>`;
  // First the status, without a default (an arrow key pressed in passing chose one before), then only its fields.
  const choice = html`<form method="get" action="${pagePath}" class="status-form status-choice">
    <p>${t(lang, 'chooseStatusStep')}</p>
    <div class="fields">
      <label
        >${t(lang, 'statusField')}${requiredMark(lang)}<select name="status" required>
          <option value="">${t(lang, 'chooseOne')}</option>
          ${allowed.map((s) => html`<option value="${s}">${t(lang, `referralStatus_${s}`)}</option>`)}
        </select></label
      >
    </div>
    <button type="submit">${t(lang, 'nextStep')}</button>
  </form>`;
  const fieldsOf = chosen ? FIELDS_OF[chosen] : {};
  const details = chosen
    ? html`<form method="post" action="${pagePath}/status" class="status-form">
        ${csrfField(page)}
        <input type="hidden" name="status" value="${chosen}" />
        <p>
          <strong>${t(lang, 'chosenStatus', t(lang, `referralStatus_${chosen}`))}</strong>
          · <a href="${pagePath}">${t(lang, 'otherStatus')}</a>
        </p>
        <div class="fields">
          ${input('date', 'statusDate', 'date')}
          ${
            fieldsOf.reasonCode
              ? codeSelect('reasonCode', 'rejectionReason', REFERRAL_REJECTION_REASON_SYSTEM, false)
              : ''
          }
          <label class="wide"
            >${t(lang, 'reasonText')}<textarea
              name="reason"
              rows="3"
              maxlength="2000"
              aria-describedby="reason-help${invalid.has('reason') ? ' status-error' : ''}"
              ${invalid.has('reason') ? html`aria-invalid="true"` : ''}
            >
${v.reason ?? ''}</textarea>
          </label>
          <p id="reason-help" class="help">${t(lang, 'reasonTextHelp')}</p>
        </div>
        ${
          fieldsOf.decision
            ? html`<fieldset>
                <legend>${t(lang, 'decisionLegend')}</legend>
                ${input('decisionNumber', 'decisionNumber', 'text', html`maxlength="64"`, true)}
                ${input('decisionDate', 'decisionDate', 'date', html``, true)}
                ${codeSelect('decisionProductCategory', 'productCategory', JZ020_SYSTEM, true)}
                ${input('periodStart', 'periodStart', 'date', html``, true)} ${input('periodEnd', 'periodEnd', 'date')}
              </fieldset>`
            : ''
        }
        ${
          fieldsOf.care
            ? html`<fieldset>
                <legend>${t(lang, 'careLegend')}</legend>
                ${
                  fieldsOf.care === 'start'
                    ? html`${input(
                        'providerAgb',
                        'providerAgb',
                        'text',
                        html`inputmode="numeric" size="8" pattern="[0-9]{8}"`,
                      )}
                      ${input('startDate', 'careStartDate', 'date')}`
                    : input('endDate', 'careEndDate', 'date', html``, true)
                }
              </fieldset>`
            : ''
        }
        ${
          FINAL_STATUSES.has(chosen)
            ? html`${notice('warn', t(lang, 'finalStatusWarning'))}
                <label class="confirm"
                  ><span
                    ><input type="checkbox" name="confirm" value="yes" required${validity('confirm')} />
                    ${t(lang, 'confirmFinal')}${requiredMark(lang)}</span
                  ></label
                >`
            : ''
        }
        <button type="submit">${t(lang, 'recordStatus')}</button>
      </form>`
    : '';
  const form = cancelled ? '' : allowed.length === 0 ? html`<p>${t(lang, 'nothingMayFollow')}</p>` : details || choice;
  sendPage(
    req,
    res,
    t(lang, 'referralTitle', referral.identifier.value),
    html`${state.message ?? ''}${error ?? ''}${cancelled ?? ''}
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
    if (filter.referral !== undefined && looksLikeBsn(filter.referral)) {
      // A BSN typed as the number (console.js refuses it before it is sent; a browser without script sends it): not
      // searched, nor read into the audit's query, and out of the address at once, the refusal said on the page.
      const query = new URLSearchParams({ [BSN_REFUSED]: '1' });
      for (const name of ['from', 'to'] as const) {
        if (filter[name] !== undefined) {
          query.set(name, filter[name]);
        }
      }
      res.redirect(303, `/console/municipality/referrals?${query.toString()}`);
      return;
    }
    const problem =
      field(req.query, BSN_REFUSED) !== undefined
        ? { name: 'referral' as const, words: t(lang, 'referralNotBsn') }
        : periodProblem(lang, filter, 'fromAfterToSearch', { from: 'receivedFrom', to: 'receivedTo' });
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
    const refusal = problem && fieldRefusal(problem.name, problem.words);
    const state = (id: string) => fieldState(refusal, id);
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
    // The number field refuses a BSN before it is sent (console.js), in the words the server refuses it with.
    const noBsn = html`data-bsn-refusal="${t(lang, 'referralNotBsn')}"${state('referral')}`;
    const referralInput = html`<input name="referral" autocomplete="off" value="${filter.referral ?? ''}" ${noBsn} />`;
    const search = html`<form
      method="get"
      action="/console/municipality/referrals"
      class="search"
      role="search"
      aria-label="${t(lang, 'findReferral')}"
    >
      <div class="fields">
        <label>${t(lang, 'referralNumber')}${referralInput}</label>
        <label
          >${t(lang, 'receivedFrom')}<input type="date" name="from" value="${filter.from ?? ''}" ${state('from')}
        /></label>
        <label>${t(lang, 'receivedTo')}<input type="date" name="to" value="${filter.to ?? ''}" ${state('to')} /></label>
      </div>
      <button type="submit">${t(lang, 'filter')}</button>
      ${filtered ? html`<a href="/console/municipality/referrals">${t(lang, 'allReferrals')}</a>` : ''}
    </form>`;
    sendPage(
      req,
      res,
      t(lang, 'referralsTitle'),
      html`<p>${t(lang, 'referralsIntro')}</p>
        ${refusal === undefined ? '' : errorSummary(refusal)} ${search}
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
    const status = field(req.query, 'status');
    await sendReferralPage(ctx, req, res, target, req.params.id, {
      values: { date: amsterdamDay(new Date()), ...(isStatus(status) ? { status } : {}) },
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
      const update = parseConfirmedUpdate(values);
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
      const movedOn =
        status === 409 &&
        err instanceof OperationOutcomeError &&
        (err.outcome.issue ?? []).some((i) => i.expression?.[0] === 'status');
      await sendReferralPage(ctx, req, res, target, req.params.id, {
        values,
        status,
        ...(movedOn && err instanceof OperationOutcomeError
          ? { movedOn: { detail: outcomeDetail(lang, err) } }
          : { error: outcomeInWords(lang, err, STATUS_FIELDS) }),
        invalid: invalidFieldsOf(err),
        cancellation: undefined,
      });
    }
  });

  return router;
}
