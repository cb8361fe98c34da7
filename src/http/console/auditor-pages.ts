import type { Consent } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '@medplum/core';
import type { Router, Request, Response } from 'express';
import { exactRouter } from '../exact-routing';
import { auditRead, chainsToVerify, readAuditEvent, readIntegrityHistory, verifyChains } from '../audit-read';
import type { SignedTenantVerdict } from '../../audit/signed-heads';
import {
  childOverview,
  type ChildOverview,
  type DecisionEntry,
  type Organisation,
} from '../../reports/child-overview/overview';
import { canReadChain, isChainName, SYSTEM_TENANT } from '../../reports/audit-scope';
import { searchAuditEvents, servedResource } from '../../reports/audit-search/search';
import { encodeCursor, parseAuditSearch } from '../../reports/audit-search/search-params';
import { listFullVerifications } from '../../audit/full-verify';
import { chainIntegrity, type ChainIntegrity, type IntegrityFinder } from '../../audit/chain-integrity';
import { lastRetentionRuns } from '../../reports/retention-runs/last-runs';
import { listChainTenants } from '../../audit/verify';
import { BSN_SYSTEM, isValidBsn, isValidIsoDate } from '../../kernel/fhir/identifiers';
import { withdrawalRecordedAt, withdrawnParties } from '../../policy/compiled-consent';
import { dayAfter } from '../../kernel/dutch-time';
import { badRequestIssues, failField, fieldIssue, httpStatusOf, unprocessableIssues } from '../../kernel/fhir/outcomes';
import type { PipelineContext } from '../../event/context';
import { CONSENT_SEARCH, searchConsents } from '../../reports/consent-search/consent-search';
import { parseFhirSearch } from '../../reports/fhir-search/parse-search';
import { acknowledgeChainBreak, auditRouter, decodeHistoryCursor, encodeHistoryCursor } from '../audit-router';
import { MAX_REASON_LENGTH, MIN_REASON_LENGTH, MIN_REASON_WORDS, reasonIssues } from '../reason-rule';
import { getPrincipal } from '../../access/authenticate';
import type { ConsoleSessionStore } from '../../access/console-sessions';
import { field, ON_SITE, pageOf, periodProblem, sendPage } from './console-request';
import { describeAuditEvent } from './describe-audit-event';
import { html, type SafeHtml } from './html';
import {
  accessInWords,
  chainProblemInWords,
  consentStatusInWords,
  formatNumber,
  formatTime,
  purposesInWords,
  reasonsInWords,
  receiptInWords,
  t,
  type Lang,
  type MessageKey,
} from './i18n';
import { csrfField, hiddenHeader, notice, pagingLinks, table, type PageContext } from './layout';
import { chainName, municipalityNameOf } from './organisation-names';
import { outcomeInWords } from './outcome-message';
import { errorSummary, fieldRefusal, fieldState, outcomeRefusal, requiredMark, type FormRefusal } from './form-fields';
import { KEPT_ID, keepForm, keptForm } from './kept-forms';
import { decidesAloneAt } from '../../policy/age';
import { namesNoEvent } from '../route-target';

const PAGE_SIZE = 20;
/** Changes of verdict the verify page lists: the newest, enough for an incident's whole life. */
const HISTORY_ROWS = 50;
/** Retention runs the verify page lists: the newest (one a day by default). */
const RETENTION_RUNS = 10;

/** The acknowledgement form of a chain as posted: refused (what, which fields), and what was filled in. */
interface AckFormState {
  readonly tenant?: string | undefined;
  readonly status?: number | undefined;
  readonly reason?: string | undefined;
  /** The refusal (an OperationOutcomeError): said by `outcomeRefusal` on the form shown, whose ids it names. */
  readonly refused?: unknown;
}

/** The words for where a decision was made; the map stage's for one without a stage of its own. */
const STAGE_WORDS: Partial<Record<string, MessageKey>> = {
  deliver: 'stage_deliver',
  redecide: 'stage_redecide',
  redeliver: 'stage_redeliver',
};

/** The search form's "type" choices, as the FHIR search parameters they stand for. */
const TYPE_FILTERS: Record<string, readonly [string, string][]> = {
  disclose: [
    ['type', '110106'],
    ['subtype', 'disclose'],
  ],
  decision: [['subtype', 'AuthZ-Consent']],
  // Refused by role (AuthZ-Role), or by scope (the refused read or search itself); both Security Alerts.
  refusal: [
    ['type', '110113'],
    ['subtype', 'AuthZ-Role,read,search-type'],
  ],
  access: [['type', 'rest']],
  import: [['type', '110107']],
  operator: [['type', '110100']],
};

/** A BSN from a form: the same checks as the API (9 digits, 11-proef), as an OperationOutcome naming the field. */
function bsnField(body: unknown): string {
  const bsn = field(body, 'bsn');
  if (bsn === undefined || !/^\d{9}$/.test(bsn) || !isValidBsn(bsn)) {
    failField('bsn: not a valid BSN (9 digits passing the 11-proef)', 'bsn');
  }
  return bsn;
}

/** The search criteria a form sent, as the FHIR search the API would get (built here: BSNs never go in a URL). */
function searchParamsOf(body: unknown): URLSearchParams {
  const p = new URLSearchParams();
  const bsn = field(body, 'bsn');
  if (bsn !== undefined) {
    p.append('patient', bsn);
  }
  const from = field(body, 'from');
  if (from !== undefined) {
    p.append('date', `ge${from}`);
  }
  const to = field(body, 'to');
  if (to !== undefined) {
    p.append('date', `le${to}`);
  }
  for (const [name, value] of TYPE_FILTERS[field(body, 'type') ?? ''] ?? []) {
    p.append(name, value);
  }
  const outcome = field(body, 'outcome');
  if (outcome !== undefined) {
    p.append('outcome', outcome);
  }
  const agent = field(body, 'agent');
  if (agent !== undefined) {
    p.append('agent', agent);
  }
  p.append('_count', String(PAGE_SIZE));
  p.append('_sort', '-date');
  p.append('_total', 'accurate');
  const page = field(body, '_page');
  if (page !== undefined) {
    p.append('_page', page);
  }
  return p;
}

function option(value: string, label: string, selected: string | undefined): SafeHtml {
  return html`<option value="${value}" ${selected === value ? html` selected` : ''}>${label}</option>`;
}

function searchForm(page: PageContext, body: unknown, refusal?: FormRefusal): SafeHtml {
  const { lang } = page;
  const v = (name: string) => field(body, name) ?? '';
  const type = field(body, 'type');
  const outcome = field(body, 'outcome');
  const state = (id: string) => fieldState(refusal, id);
  return html`<form method="post" action="/console/auditor" class="search">
    ${csrfField(page)}
    <div class="fields">
      <label
        >${t(lang, 'bsn')}<input
          name="bsn"
          inputmode="numeric"
          autocomplete="off"
          pattern="[0-9]{9}"
          title="${t(lang, 'bsnFormat')}"
          value="${v('bsn')}"
          ${fieldState(refusal, 'bsn', 'bsn-help')}
      /></label>
      <label>${t(lang, 'from')}<input type="date" name="from" value="${v('from')}" ${state('from')} /></label>
      <label>${t(lang, 'to')}<input type="date" name="to" value="${v('to')}" ${state('to')} /></label>
      <label
        >${t(lang, 'auditType')}<select name="type" ${state('type')}>
          ${option('', t(lang, 'anyType'), type)}${Object.keys(TYPE_FILTERS).map((k) =>
            option(k, t(lang, `type_${k}` as Parameters<typeof t>[1]), type),
          )}
        </select></label
      >
      <label
        >${t(lang, 'outcome')}<select name="outcome" ${state('outcome')}>
          ${option('', t(lang, 'anyOutcome'), outcome)}${['0', '4', '8'].map((o) =>
            option(o, t(lang, `outcome_${o}` as Parameters<typeof t>[1]), outcome),
          )}
        </select></label
      >
      <label
        >${t(lang, 'agent')}<input name="agent" autocomplete="off" value="${v('agent')}" ${state('agent')}
      /></label>
    </div>
    <p id="bsn-help" class="help">${t(lang, 'bsnHelp')}</p>
    <button type="submit">${t(lang, 'search')}</button>
  </form>`;
}

/** The search form's fields by the API parameters a refusal names (their ids are their names). */
const SEARCH_FIELD_IDS: Readonly<Record<string, string>> = {
  bsn: 'bsn',
  patient: 'bsn',
  agent: 'agent',
  outcome: 'outcome',
  type: 'type',
  subtype: 'type',
};

/** The search form's fields, as kept in the session (kept-forms.ts). */
const SEARCH_FIELDS = ['bsn', 'from', 'to', 'type', 'outcome', 'agent'] as const;

/**
 * A link to a page of a kept search: its id in the session and the page's cursor (sort keys and a moment, no
 * criteria), so a BSN never enters a URL.
 */
function pageLink(kept: string, cursor: string, rel: 'prev' | 'next', label: string): SafeHtml {
  const query = new URLSearchParams({ q: kept, _page: cursor });
  return html`<a href="/console/auditor?${query.toString()}" rel="${rel}">${label}</a>`;
}

/**
 * What is wrong with a search form before searching, in words, with the status the API would answer: a BSN that
 * is not 9 digits passing the 11-proef (a typo would find "0 results", read as "nobody looked at this child"), a
 * date that is none, dates the wrong way round (again nothing found, unsaid); then whatever the API's search refuses.
 */
function searchProblem(lang: Lang, body: unknown): { refusal: FormRefusal; status: number } | undefined {
  if (field(body, 'bsn') !== undefined) {
    try {
      bsnField(body);
    } catch (err) {
      return { refusal: outcomeRefusal(lang, err, SEARCH_FIELD_IDS), status: 422 };
    }
  }
  const from = field(body, 'from');
  const to = field(body, 'to');
  if (from !== undefined && to !== undefined && isValidIsoDate(from) && isValidIsoDate(to) && to < from) {
    return { refusal: fieldRefusal('to', t(lang, 'fromAfterToSearch')), status: 422 };
  }
  try {
    parseAuditSearch(searchParamsOf(body));
  } catch (err) {
    // The API's `date` is both days: the one that is no date.
    const date = from !== undefined && !isValidIsoDate(from) ? 'from' : 'to';
    return { refusal: outcomeRefusal(lang, err, { ...SEARCH_FIELD_IDS, date }), status: 400 };
  }
  return undefined;
}

/** The export form's fields by the API parameters a refusal names (their ids are their names). */
const EXPORT_FIELD_IDS: Readonly<Record<string, string>> = {
  tenant: 'tenant',
  from: 'from',
  to: 'to',
  format: 'format',
};

/** The fields of the export form as sent. */
interface ExportForm {
  readonly tenant?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly format?: string | undefined;
}

function exportFormOf(query: unknown): ExportForm {
  return {
    tenant: field(query, 'tenant'),
    from: field(query, 'from'),
    to: field(query, 'to'),
    format: field(query, 'format'),
  };
}

/** The pages an audit event's page leads back to: the kept search (with its page) or the kept overview. */
const RESULT_PAGES = ['/console/auditor', '/console/auditor/overview'];

/**
 * `back` of an audit event's page as one of the auditor's result pages (`RESULT_PAGES`) with only a kept form's id
 * and a cursor; undefined for anything else, so the link never leads off the site or carries criteria.
 */
function resultsAddress(back: string | undefined): string | undefined {
  if (back === undefined || !back.startsWith('/console/auditor')) {
    return undefined;
  }
  const url = new URL(back, ON_SITE);
  const names = [...url.searchParams.keys()];
  const ok =
    url.origin === ON_SITE.origin &&
    RESULT_PAGES.includes(url.pathname) &&
    KEPT_ID.test(url.searchParams.get('q') ?? '') &&
    names.every((n) => n === 'q' || (n === '_page' && /^[A-Za-z0-9_.~-]+$/.test(url.searchParams.get(n) ?? '')));
  return ok ? url.pathname + url.search : undefined;
}

/** A link to an audit event's page, with the result page it is listed on to lead back to. */
function detailLink(id: string, from: string | undefined): string {
  return `/console/auditor/audit-events/${id}${from !== undefined ? `?${new URLSearchParams({ back: from }).toString()}` : ''}`;
}

function outcomeWords(lang: Lang, outcome: string | undefined): string {
  return t(lang, outcome === '4' ? 'outcome_4' : outcome === '8' ? 'outcome_8' : 'outcome_0');
}

/** `/console/auditor/…`: the audit log, a child's disclosures, chain verification, export and consents. */
export function auditorPages(ctx: PipelineContext, sessions: ConsoleSessionStore): Router {
  const router = exactRouter();
  const api = auditRouter(ctx);
  /** A municipality's name from the loaded agreements, to say who received what in words. */
  const nameOf = (code: string) => municipalityNameOf(ctx, code);
  /** A chain in words for a person: its practice's or municipality's name, its id beside it (auditors quote ids). */
  const nameOfChain = (chain: string) => chainName(ctx, chain);
  /** The chains the caller may read: what a search or an overview reads, and the verify and export forms offer. */
  const chainsInScope = async (res: Response) => {
    const principal = getPrincipal(res);
    return (await listChainTenants(ctx.db)).filter((x) => canReadChain(principal, x));
  };
  /** What is known of the integrity of the chains a page reads (chain-integrity.ts), said above what it shows. */
  const integrity = async (lang: Lang, tenants: readonly string[]): Promise<SafeHtml> =>
    integrityHtml(lang, tenants, await chainIntegrity(ctx.db, tenants), nameOfChain, {
      fullVerifyIntervalMs: ctx.config.AUDIT_FULL_VERIFY_INTERVAL_MS,
      retentionDays: ctx.config.AUDIT_RETENTION_DAYS,
    });

  const blankSearch = (req: Request, res: Response, gone = false) => {
    const page = pageOf(req, res);
    sendPage(
      req,
      res,
      t(page.lang, 'auditSearchTitle'),
      html`${gone ? notice('info', t(page.lang, 'formGone')) : ''}
        <p>${t(page.lang, 'auditSearchIntro')}</p>
        ${searchForm(page, {})}`,
    );
  };

  /** The results of the search kept under `kept` (its fields in `body`, with the page's cursor). */
  const showSearch = async (req: Request, res: Response, body: Record<string, string | undefined>, kept: string) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const title = t(lang, 'auditSearchTitle');
    const params = searchParamsOf(body);
    let search;
    try {
      search = parseAuditSearch(params);
    } catch (err) {
      // A page cursor this server did not make (the criteria were checked when they were posted).
      sendPage(req, res, title, html`${notice('error', outcomeInWords(lang, err))}${searchForm(page, body)}`, 400);
      return;
    }
    const result = await searchAuditEvents(ctx.db, getPrincipal(res), search);
    const onlyPatient =
      search.patients.length === 1 && search.patients[0]?.length === 1 ? search.patients[0][0] : undefined;
    await auditRead(ctx, req, res, {
      // The search as the API would have received it: the audit row says what was looked for (the BSN stays in
      // the audit table, where the API's own search puts it too).
      query: `/fhir/AuditEvent?${params.toString()}`,
      interaction: 'search',
      patientBsn: onlyPatient,
      tenants: result.rows.map((r) => r.tenant),
    });
    // This page's own address (the kept form and the page's cursor, no criteria): where an event's page leads back.
    const here = `/console/auditor?${new URLSearchParams(
      Object.entries({ q: kept, _page: body._page }).filter((e): e is [string, string] => e[1] !== undefined),
    ).toString()}`;
    const rows = result.rows.map((r) => {
      const words = describeAuditEvent(lang, r.resource, nameOf);
      return html`<tr>
        <td>${formatTime(lang, r.resource.recorded)}</td>
        <td>${words.summary}</td>
        <td>${outcomeWords(lang, r.resource.outcome)}</td>
        <td>${nameOfChain(r.tenant)}</td>
        <td>
          <a href="${detailLink(r.resource.id ?? '', here)}"
            >${t(lang, 'details')}<span class="visually-hidden">: ${formatTime(lang, r.resource.recorded)}</span></a
          >
        </td>
      </tr>`;
    });
    const paging =
      result.previous || result.next
        ? html`<nav class="paging" aria-label="${t(lang, 'pages')}">
            ${result.previous ? pageLink(kept, encodeCursor(result.previous), 'prev', t(lang, 'previousPage')) : ''}
            ${result.next ? pageLink(kept, encodeCursor(result.next), 'next', t(lang, 'nextPage')) : ''}
          </nav>`
        : '';
    const status = await integrity(lang, await chainsInScope(res));
    sendPage(
      req,
      res,
      title,
      html`${status}${searchForm(page, body)}
        <p role="status">
          ${result.total !== undefined ? t(lang, 'resultsCount', result.total) : t(lang, 'resultsShown', rows.length)}
        </p>
        ${table(t(lang, 'navAuditEvents'), [t(lang, 'when'), t(lang, 'what'), t(lang, 'outcome'), t(lang, 'chain'), hiddenHeader(t(lang, 'details'))], rows, t(lang, 'noResults'))}
        ${paging}`,
    );
  };

  router.get('/', async (req, res) => {
    const id = field(req.query, 'q');
    const kept = keptForm(ctx.cipher, res, id);
    if (id === undefined || kept === undefined) {
      blankSearch(req, res, id !== undefined);
      return;
    }
    await showSearch(req, res, { ...kept, _page: field(req.query, '_page') }, id);
  });

  // The criteria are checked, kept in the session and shown by GET (kept-forms.ts): Back and reload work.
  router.post('/', async (req, res) => {
    const page = pageOf(req, res);
    const problem = searchProblem(page.lang, req.body);
    if (problem) {
      sendPage(
        req,
        res,
        t(page.lang, 'auditSearchTitle'),
        html`${errorSummary(problem.refusal)}${searchForm(page, req.body, problem.refusal)}`,
        problem.status,
      );
      return;
    }
    const id = await keepForm(ctx.cipher, sessions, res, req.body, SEARCH_FIELDS);
    res.redirect(303, `/console/auditor?q=${id}`);
  });

  router.get('/audit-events/:id', namesNoEvent, async (req, res) => {
    const { lang } = pageOf(req, res);
    // Read, recorded and refused exactly as GET /fhir/AuditEvent/{id}.
    const row = await readAuditEvent(ctx, req, res, req.params.id);
    const words = describeAuditEvent(lang, row.resource, nameOf);
    const facts: (readonly [string, string])[] = [
      ...words.facts,
      [t(lang, 'chainPosition'), `${nameOfChain(row.tenant)} #${row.seq}`],
    ];
    const back = resultsAddress(field(req.query, 'back'));
    const status = await integrity(lang, [row.tenant]);
    sendPage(
      req,
      res,
      t(lang, 'auditEventTitle'),
      html`${back !== undefined ? html`<p><a href="${back}" rel="up">${t(lang, 'backToResults')}</a></p>` : ''}
        ${status}
        <p class="summary">${words.summary}</p>
        <h2>${t(lang, 'inWords')}</h2>
        <dl class="facts">
          ${facts.map(
            ([k, v]) =>
              html`<dt>${k}</dt>
                <dd>${v}</dd>`,
          )}
        </dl>
        <details>
          <summary>${t(lang, 'asJson')}</summary>
          <pre>${JSON.stringify(servedResource(row), null, 2)}</pre>
        </details>`,
    );
  });

  /** The BSN form of the overview and the consents, holding what was typed (it is posted, never in a URL). */
  const overviewForm = (page: PageContext, action: string, body: unknown = {}, refusal?: FormRefusal) =>
    html`<form method="post" action="${action}" class="search">
      ${csrfField(page)}
      <label
        >${t(page.lang, 'bsn')}${requiredMark(page.lang)}<input
          name="bsn"
          inputmode="numeric"
          autocomplete="off"
          pattern="[0-9]{9}"
          title="${t(page.lang, 'bsnFormat')}"
          required
          value="${field(body, 'bsn') ?? ''}"
          ${fieldState(refusal, 'bsn', 'bsn-help')}
      /></label>
      <p id="bsn-help" class="help">${t(page.lang, 'bsnHelp')}</p>
      ${
        action === '/console/auditor/overview'
          ? html`<label
              >${t(page.lang, 'birthDateOptional')}<input
                name="birthDate"
                type="date"
                autocomplete="off"
                value="${field(body, 'birthDate') ?? ''}"
            /></label>`
          : ''
      }
      <button type="submit">${t(page.lang, 'show')}</button>
    </form>`;

  /** A BSN form refused (`err`), its error summary above it, the field marked. */
  const bsnRefused = (page: PageContext, action: string, body: unknown, err: unknown) => {
    const refusal = outcomeRefusal(page.lang, err, { bsn: 'bsn', patient: 'bsn' });
    return html`${errorSummary(refusal)}${overviewForm(page, action, body, refusal)}`;
  };

  /** Whose data a page shows, said where the form that asked for it ends. */
  const shownFor = (lang: Lang, bsn: string) =>
    html`<p class="shown-for" role="status">${t(lang, 'shownForBsn', bsn)}</p>`;

  /** POST-redirect-GET of a form of one BSN: a valid one is kept and shown by GET, a wrong one said at once. */
  const postBsnForm = (path: string, show: (req: Request, res: Response) => Promise<void>) =>
    router.post(path, async (req, res) => {
      try {
        bsnField(req.body);
      } catch {
        await show(req, res);
        return;
      }
      const id = await keepForm(ctx.cipher, sessions, res, req.body, ['bsn', 'birthDate']);
      res.redirect(303, `/console/auditor${path}?q=${id}`);
    });
  /** The page of a kept BSN form (`?q=`), else the blank form `blank` (saying so when `q` names none kept). */
  const getBsnForm = (
    path: string,
    show: (req: Request, res: Response) => Promise<void>,
    blank: (req: Request, res: Response, gone: boolean) => void,
  ) =>
    router.get(path, async (req, res) => {
      const id = field(req.query, 'q');
      const kept = keptForm(ctx.cipher, res, id);
      if (id === undefined || kept === undefined) {
        blank(req, res, id !== undefined);
        return;
      }
      req.body = kept;
      await show(req, res);
    });

  getBsnForm(
    '/overview',
    async (req, res) => showOverview(req, res),
    (req, res, gone) => {
      const page = pageOf(req, res);
      sendPage(
        req,
        res,
        t(page.lang, 'overviewTitle'),
        html`${gone ? notice('info', t(page.lang, 'formGone')) : ''}
          <p>${t(page.lang, 'overviewIntro')}</p>
          ${overviewForm(page, '/console/auditor/overview')}`,
      );
    },
  );
  postBsnForm('/overview', async (req, res) => showOverview(req, res));

  /** The child's overview of the BSN in `req.body` (kept, or a wrong one as posted). */
  const showOverview = async (req: Request, res: Response) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const title = t(lang, 'overviewTitle');
    let bsn: string;
    try {
      bsn = bsnField(req.body);
    } catch (err) {
      sendPage(req, res, title, bsnRefused(page, '/console/auditor/overview', req.body, err), 422);
      return;
    }
    const overview = await childOverview(ctx.db, getPrincipal(res), bsn, ctx.registry);
    await auditRead(ctx, req, res, {
      query: `${req.method} ${req.originalUrl}`,
      interaction: 'search',
      patientBsn: bsn,
      tenants: [...overview.entries, ...overview.accesses].map((e) => e.chain),
    });
    const kept = field(req.query, 'q');
    const overviewHere = kept !== undefined ? `/console/auditor/overview?q=${kept}` : undefined;
    const org = (o: { code: string; name?: string | undefined } | undefined) =>
      o ? `${o.name ?? ''} ${o.code}`.trim() : '';
    const entryRows = overview.entries.map((e) => {
      const row = entryColumns(lang, e);
      // Eight columns would not fit a tablet: the moment links to the AuditEvent, and purpose and agreement share one.
      return html`<tr class="${e.kind === 'decision' ? e.action : e.kind}">
        <td>
          <a href="${detailLink(e.auditEvent.replace(/^AuditEvent\//, ''), overviewHere)}"
            >${formatTime(lang, e.at)}<span class="visually-hidden"> (${t(lang, 'details')})</span></a
          >
        </td>
        <td>${row.kind}</td>
        <td>${org(row.organisation)}${row.destination ? html`<br /><small>${row.destination}</small>` : ''}</td>
        <td>${row.data}</td>
        <td>${row.purpose ?? ''}${row.agreement ? html`<br /><small>${row.agreement}</small>` : ''}</td>
        <td class="ids">${row.consents.join(', ')}</td>
      </tr>`;
    });
    const accessRows = overview.accesses.map(
      (a) =>
        html`<tr>
          <td>${formatTime(lang, a.at)}</td>
          <td>${accessInWords(lang, a.action)}</td>
          <td>${a.user ?? ''}</td>
          <td>${org(a.onBehalfOf)}</td>
          <td class="ids">${a.accessPoint ?? ''}</td>
          <td>${outcomeWords(lang, a.outcome)}</td>
          <td class="ids">${a.what.join(', ')}</td>
        </tr>`,
    );
    // Each list holds the newest rows; what was left out of one is said above it, with where to find it.
    const cut = (section: string, omitted: number, listed: readonly { at: string }[]) =>
      omitted > 0
        ? notice(
            'info',
            t(
              lang,
              'overviewCut',
              section,
              formatNumber(lang, listed.length),
              formatNumber(lang, omitted),
              formatTime(lang, listed[0]?.at),
            ),
          )
        : '';
    const status = await integrity(lang, await chainsInScope(res));
    // A child of 16 or older on the day decides itself (WGBO): the page says so, as the hand-over does.
    const birthDate = field(req.body, 'birthDate');
    const childDecides = decidesAloneAt(birthDate, new Date()) ? notice('info', t(lang, 'childDecidesNote')) : '';
    sendPage(
      req,
      res,
      title,
      html`${overviewForm(page, '/console/auditor/overview', req.body)} ${shownFor(lang, bsn)} ${childDecides} ${status}
      ${cut(t(lang, 'disclosures'), overview.omitted.entries, overview.entries)}
      ${table(t(lang, 'disclosures'), [t(lang, 'when'), t(lang, 'what'), t(lang, 'recipient'), t(lang, 'data'), t(lang, 'purposeAndAgreement'), t(lang, 'consents')], entryRows, t(lang, 'none'))}
      ${cut(t(lang, 'accesses'), overview.omitted.accesses, overview.accesses)}
      ${table(t(lang, 'accesses'), [t(lang, 'when'), t(lang, 'what'), t(lang, 'user'), t(lang, 'onBehalfOf'), t(lang, 'accessPoint'), t(lang, 'outcome'), t(lang, 'entities')], accessRows, t(lang, 'none'))}
      ${kept !== undefined ? handOverForm(page, kept) : ''}`,
    );
  };

  /**
   * The downloads of the hand-over document (the API's POST /audit/v1/overview, format csv or html). The form holds
   * the kept form's sealed id (kept-forms.ts), not the BSN: the BSN is read back from the session when it is posted.
   */
  const handOverForm = (page: PageContext, kept: string) =>
    html`<section aria-labelledby="hand-over">
      <h2 id="hand-over">${t(page.lang, 'handOverTitle')}</h2>
      <p>${t(page.lang, 'handOverIntro')}</p>
      <form method="post" action="/console/auditor/overview/download" class="actions">
        ${csrfField(page)}
        <input type="hidden" name="q" value="${kept}" />
        <button type="submit" name="format" value="csv">${t(page.lang, 'handOverCsv')}</button>
        <button type="submit" name="format" value="html">${t(page.lang, 'handOverHtml')}</button>
      </form>
    </section>`;

  /**
   * The hand-over document itself is the API's (same checks, same disclosure recorded): the BSN of the kept form is
   * given to it as a form body, as a POST to the API would carry it. A kept form that is gone, or a format the API
   * refuses, comes back as the overview's form with a message, not as a bare error page.
   */
  router.post('/overview/download', (req, res, next) => {
    const page = pageOf(req, res);
    const kept = keptForm(ctx.cipher, res, field(req.body, 'q'));
    const bsn = kept?.bsn;
    if (bsn === undefined) {
      sendPage(
        req,
        res,
        t(page.lang, 'overviewTitle'),
        html`${notice('info', t(page.lang, 'formGone'))}${overviewForm(page, '/console/auditor/overview')}`,
      );
      return;
    }
    const format = field(req.body, 'format') ?? '';
    const consoleUrl = req.url;
    req.url = '/audit/v1/overview';
    req.originalUrl = `${req.baseUrl}/overview/download`;
    req.body = new URLSearchParams({
      patient: bsn,
      format,
      ...(kept?.birthDate ? { birthDate: kept.birthDate } : {}),
    }).toString();
    api(req, res, (err?: unknown) => {
      const status = err instanceof OperationOutcomeError ? httpStatusOf(err.outcome) : 0;
      if ((status === 400 || status === 422) && !res.headersSent) {
        req.url = consoleUrl;
        req.body = kept;
        sendPage(
          req,
          res,
          t(page.lang, 'overviewTitle'),
          bsnRefused(page, '/console/auditor/overview', kept, err),
          status,
        );
        return;
      }
      next(err);
    });
  });

  /**
   * The verify page: the form, and (asked for) the verdicts of the chains verified now, each broken one with the form
   * to acknowledge its break; then the integrity history, the scheduled verifications, the retention terms and the
   * last retention runs. `ack`: the state of an acknowledgement form posted (its refusal, its values) or recorded.
   */
  const showVerify = async (req: Request, res: Response, query: unknown, ack: AckFormState = {}) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const tenants = await chainsInScope(res);
    const chosen = field(query, 'tenant');
    const form = html`<form method="get" action="/console/auditor/verify" class="search">
      <label
        >${t(lang, 'chain')}<select name="tenant">
          ${option('', t(lang, 'allChains'), chosen)}${tenants.map((x) => option(x, nameOfChain(x), chosen))}
        </select></label
      >
      <button type="submit">${t(lang, 'verify')}</button>
    </form>`;
    // The history's pages keep the page's question (the chain asked for, or all): its links ask it again.
    const asking = { tenant: chosen, run: field(query, 'run') };
    const below = async (chains: readonly string[]) => {
      const history = await historyHtml(req, res, chains, asking, field(query, '_page'));
      const verifications = await fullVerifications(lang, chains);
      const runs = await retentionRunsHtml(lang, res);
      await auditStatusRead(req, res, chosen);
      return html`${history} ${verifications} ${retentionTerms(lang)} ${runs}`;
    };
    // The form's default choice sends `tenant=` (all chains): asked, and checked. Only the page opened without a
    // question shows the bare form (`run=all` is what the page's second button used to send).
    const asked = query as Record<string, unknown>;
    if (asked.tenant === undefined && asked.run === undefined) {
      sendPage(
        req,
        res,
        t(lang, 'verifyTitle'),
        html`${await integrity(lang, tenants)}
          <p>${t(lang, 'verifyIntro')}</p>
          ${form} ${await below(tenants)}`,
      );
      return;
    }
    if (chosen !== undefined && !isChainName(chosen)) {
      const refused = t(lang, 'invalidChain', t(lang, 'chain'));
      sendPage(req, res, t(lang, 'verifyTitle'), html`${notice('error', refused)}${form}`, 400);
      return;
    }
    let chains: string[];
    try {
      chains = await chainsToVerify(ctx, req, res, chosen);
    } catch (err) {
      // A chain in scope without rows yet (a destination never paused, a practice that sent nothing): said on the
      // form, as the API's 404 says it, rather than a page that only says "not found".
      if (chosen !== undefined && err instanceof OperationOutcomeError && httpStatusOf(err.outcome) === 404) {
        sendPage(
          req,
          res,
          t(lang, 'verifyTitle'),
          html`${notice('info', t(lang, 'chainEmpty', nameOfChain(chosen)))}${form}`,
          404,
        );
        return;
      }
      throw err;
    }
    const verdicts = await verifyChains(ctx, req, res, chains);
    // A refusal of a chain that shows no break now (found intact again meanwhile): said on its own, above them.
    const refusedApart =
      ack.refused !== undefined && !verdicts.some((v) => !v.ok && v.tenant === ack.tenant)
        ? errorSummary(outcomeRefusal(lang, ack.refused, {}), t(lang, 'ackRefusedTitle'))
        : '';
    const results = verdicts.map(
      (v, i) =>
        html`${verdictHtml(lang, v, nameOfChain)}${!v.ok ? acknowledgeForm(page, v, `ack-${i}`, ack.tenant === v.tenant ? ack : {}) : ''}`,
    );
    // Said once the redirect after the form shows the chain as it is now: acknowledged at the row it named.
    const recorded = verdicts.find(
      (v) => v.ok && v.acknowledgedBreak && String(v.acknowledgedBreak.brokenAtSeq) === field(query, 'acknowledged'),
    )?.acknowledgedBreak;
    const status = await integrity(lang, chains);
    sendPage(
      req,
      res,
      t(lang, 'verifyTitle'),
      html`${
          recorded
            ? notice('ok', t(lang, 'ackRecorded', recorded.brokenAtSeq, nameOfChain(recorded.tenant), recorded.headSeq))
            : ''
        }${status}${form}
        <section aria-labelledby="verify-now" class="verdicts">
          <h2 id="verify-now">${t(lang, 'verifyNowTitle')}</h2>
          ${refusedApart}${results}
        </section>
        ${await below(chains)}`,
      ack.status,
    );
  };

  router.get('/verify', async (req, res) => {
    await showVerify(req, res, req.query);
  });

  /**
   * An acknowledgement of a break, by the API's own function (`acknowledgeChainBreak`: verified again, refused,
   * recorded and audited as `POST /audit/v1/acknowledge` is), with a reason and a confirmation the form asks for
   * first. Recorded: POST-redirect-GET to the chain's check, which shows it acknowledged. Refused: the verify page
   * again, the refusal above the form in words (the API's own text after it), the form as it was filled in.
   */
  router.post('/acknowledge', async (req, res) => {
    const tenant = field(req.body, 'tenant');
    const values = { tenant, brokenAtSeq: field(req.body, 'brokenAtSeq'), reason: field(req.body, 'reason') };
    try {
      // Both fields at once: the reason as the API checks it (coded, 422), the confirmation the form's own (400).
      const reasonUnfit = reasonIssues(values.reason);
      if (field(req.body, 'confirm') !== 'yes') {
        const unconfirmed = fieldIssue('confirm: the acknowledgement must be confirmed', 'confirm', 'required');
        throw new OperationOutcomeError(badRequestIssues([...reasonUnfit, unconfirmed]));
      }
      if (reasonUnfit.length > 0) {
        throw new OperationOutcomeError(unprocessableIssues(reasonUnfit));
      }
      const ack = await acknowledgeChainBreak(ctx, req, res, values);
      const query = new URLSearchParams({ tenant: ack.tenant, acknowledged: String(ack.brokenAtSeq) });
      res.redirect(303, `/console/auditor/verify?${query.toString()}`);
    } catch (err) {
      const status = err instanceof OperationOutcomeError ? httpStatusOf(err.outcome) : 500;
      if (status >= 500 || status === 403 || status === 404 || tenant === undefined || !isChainName(tenant)) {
        throw err;
      }
      await showVerify(req, res, { tenant }, { tenant, status, reason: values.reason, refused: err });
    }
  });

  /**
   * The form that acknowledges the break `v` names (auditor only: the page is the auditor's): the chain and row as
   * hidden fields, a reason (required), a confirmation (required); a refusal above it, focused, tied to the fields it
   * names. `id`: unique on the page (all chains verified may show several broken ones).
   */
  const acknowledgeForm = (
    page: PageContext,
    v: Extract<SignedTenantVerdict, { ok: false }>,
    id: string,
    state: AckFormState,
  ): SafeHtml => {
    const { lang } = page;
    const ids = { reason: `${id}-reason`, confirm: `${id}-confirm` };
    const refusal = state.refused === undefined ? undefined : outcomeRefusal(lang, state.refused, ids);
    return html`<section aria-labelledby="${id}-title" class="acknowledge">
      <h3 id="${id}-title">${t(lang, 'ackTitle')} · ${nameOfChain(v.tenant)}</h3>
      ${refusal ? errorSummary(refusal, t(lang, 'ackRefusedTitle')) : ''}
      <p>${t(lang, 'ackIntro')}</p>
      <form method="post" action="/console/auditor/acknowledge" class="status-form">
        ${csrfField(page)}
        <input type="hidden" name="tenant" value="${v.tenant}" />
        <input type="hidden" name="brokenAtSeq" value="${String(v.brokenAtSeq)}" />
        <p>${t(lang, 'brokenRow')}: ${String(v.brokenAtSeq)} (${chainProblemInWords(lang, v.problem)})</p>
        <label class="wide"
          >${t(lang, 'ackReason')}<textarea
            name="reason"
            rows="3"
            maxlength="${String(MAX_REASON_LENGTH)}"
            required
            ${fieldState(refusal, ids.reason, `${id}-reason-help`)}
          >
${state.reason ?? ''}</textarea>
        </label>
        <p id="${id}-reason-help" class="help">
          ${t(lang, 'ackReasonHelp', MAX_REASON_LENGTH, MIN_REASON_WORDS, MIN_REASON_LENGTH)}
        </p>
        <label class="confirm"
          ><span
            ><input type="checkbox" name="confirm" value="yes" required ${fieldState(refusal, ids.confirm)} />
            ${t(lang, 'ackConfirm', v.brokenAtSeq, nameOfChain(v.tenant))}</span
          ></label
        >
        <button type="submit">${t(lang, 'ackSubmit')}</button>
      </form>
    </section>`;
  };

  /**
   * The changes of verdict of the chains shown (migration 088), in words (broken, acknowledged, intact), newest first,
   * a page at a time (`pageToken`: a newer or older link's), with links to the newer and older pages.
   */
  const historyHtml = async (
    req: Request,
    res: Response,
    chains: readonly string[],
    filter: Readonly<Record<string, string | undefined>>,
    pageToken: string | undefined,
  ): Promise<SafeHtml> => {
    const { lang } = pageOf(req, res);
    const cursor = pageToken === undefined ? undefined : decodeHistoryCursor(pageToken);
    // Read and recorded as the API's GET /audit/v1/integrity-history of the same page.
    const asked = filter.tenant;
    const apiQuery = new URLSearchParams({
      ...(asked === undefined ? {} : { tenant: asked }),
      _count: String(HISTORY_ROWS),
      ...(pageToken === undefined ? {} : { _page: pageToken }),
    });
    const page = await readIntegrityHistory(ctx, req, res, {
      chains,
      asked,
      size: HISTORY_ROWS,
      cursor,
      query: `/audit/v1/integrity-history?${apiQuery.toString()}`,
    });
    const changes = page.changes;
    const rows = changes.map((c) => {
      const rowsNamed =
        c.brokenAtSeq === undefined
          ? chainProblemInWords(lang, c.problem ?? '')
          : t(lang, 'brokenAtRow', c.brokenAtSeq, chainProblemInWords(lang, c.problem ?? ''));
      const finder = c.foundBy ? t(lang, FOUND_BY[c.foundBy]) : '';
      const details =
        c.verdict === 'broken'
          ? t(lang, 'historyBroken', rowsNamed, finder)
          : c.verdict === 'acknowledged'
            ? t(lang, 'historyAcknowledged', rowsNamed, c.by ?? '', c.reason ?? t(lang, 'noReasonGiven'))
            : t(lang, 'historyIntact', finder);
      return html`<tr class="${c.verdict === 'broken' ? 'broken' : ''}">
        <td>${formatTime(lang, c.changedAt)}</td>
        <td>${nameOfChain(c.tenant)}</td>
        <td>${t(lang, `history_${c.verdict}`)}</td>
        <td>${details}</td>
      </tr>`;
    });
    return html`<section aria-labelledby="integrity-history">
      <h2 id="integrity-history">${t(lang, 'historyTitle')}</h2>
      <p>${t(lang, 'historyIntro')}</p>
      ${table(
        t(lang, 'historyTitle'),
        [t(lang, 'when'), t(lang, 'chain'), t(lang, 'historyChange'), t(lang, 'historyDetails')],
        rows,
        t(lang, 'none'),
      )}
      ${pagingLinks(lang, page, '/console/auditor/verify', filter, encodeHistoryCursor)}
    </section>`;
  };

  /**
   * Records what the verify page shows that no API request reads: the scheduled verifications, the retention runs and
   * the chains' known integrity (its banner), as one search per view (the integrity history and a verification asked
   * for are recorded as the API's reads). In the system chain, whose jobs these are and where their findings are
   * alerted; the chain asked for named, as the history's read names it. The other pages' banner needs no row of its
   * own: the page's read covers it, as it covers `integrity` in the API's search and overview answers.
   */
  const auditStatusRead = (req: Request, res: Response, asked: string | undefined): Promise<void> =>
    auditRead(ctx, req, res, {
      query: `${req.method} ${req.originalUrl}`,
      interaction: 'search',
      target: `audit_full_verification${asked === undefined ? '' : `/${asked}`}`,
      related: ['retention_run', 'audit_chain_integrity'],
      tenants: [SYSTEM_TENANT],
    });

  /** The last retention runs (migration 089): when, the outcome, what was removed of the chains the auditor reads. */
  const retentionRunsHtml = async (lang: Lang, res: Response): Promise<SafeHtml> => {
    const principal = getPrincipal(res);
    const runs = await lastRetentionRuns(ctx.db, (tenant) => canReadChain(principal, tenant), RETENTION_RUNS);
    const rows = runs.map((r) => {
      const removed = r.removed.map((x) =>
        x.kind === 'audit'
          ? t(lang, 'retentionRemovedAudit', formatNumber(lang, x.rows), nameOfChain(x.tenant))
          : x.kind === 'runs'
            ? t(lang, 'retentionRemovedRuns', formatNumber(lang, x.rows), r.terms.auditRetentionDays)
            : t(lang, 'retentionRemovedContent', formatNumber(lang, x.rows), nameOfChain(x.tenant)),
      );
      const outcome = t(lang, `retentionRunOutcome_${r.outcome === 'chains-skipped' ? 'chains_skipped' : r.outcome}`);
      return html`<tr class="${r.outcome === 'done' ? '' : 'broken'}">
        <td>${formatTime(lang, r.finishedAt)}</td>
        <td>${outcome}${r.problem ? html`<br /><small lang="en">${r.problem}</small>` : ''}</td>
        <td>${removed.length > 0 ? removed.join('; ') : t(lang, 'retentionRemovedNothing')}</td>
        <td>
          ${r.skipped.map((x) => t(lang, 'retentionSkippedChain', nameOfChain(x.tenant), chainProblemInWords(lang, x.reason))).join('; ')}
        </td>
      </tr>`;
    });
    const every = ctx.config.RETENTION_INTERVAL_MS / 3_600_000;
    return html`<section aria-labelledby="retention-runs">
      <h2 id="retention-runs">${t(lang, 'retentionRunsTitle')}</h2>
      <p>
        ${t(
          lang,
          'retentionRunsIntro',
          every === 24 ? t(lang, 'fullVerifyDaily') : t(lang, 'retentionRunsEvery', formatNumber(lang, every)),
        )}
      </p>
      ${table(
        t(lang, 'retentionRunsTitle'),
        [t(lang, 'when'), t(lang, 'fullVerifyResult'), t(lang, 'retentionRemoved'), t(lang, 'retentionLeftAlone')],
        rows,
        t(lang, 'none'),
      )}
    </section>`;
  };

  /** How long what is kept (retention.ts), in words: an auditor answers "how long do you keep this?" from it. */
  const retentionTerms = (lang: Lang): SafeHtml => {
    const auditDays = ctx.config.AUDIT_RETENTION_DAYS;
    const reportDays = ctx.config.REPORT_RETENTION_DAYS;
    const years = (days: number) => formatNumber(lang, Math.round((days / 365.25) * 10) / 10);
    return html`<section aria-labelledby="retention">
      <h2 id="retention">${t(lang, 'retentionTitle')}</h2>
      <ul>
        <li>${t(lang, 'retentionContent', ctx.config.INBOX_PAYLOAD_RETENTION_DAYS)}</li>
        <li>${t(lang, 'retentionIdentity', ctx.config.REFERRAL_IDENTITY_RETENTION_DAYS)}</li>
        <li>${t(lang, 'retentionAudit', auditDays, years(auditDays))}</li>
        <li>${t(lang, 'retentionConsents', auditDays)}</li>
        <li>${t(lang, 'retentionReports', reportDays, years(reportDays))}</li>
      </ul>
      <p>${t(lang, 'retentionErasure')}</p>
    </section>`;
  };

  /** When each chain was last verified whole on schedule (a worker's, full-verify.ts), and what that found. */
  const fullVerifications = async (lang: Lang, tenants: readonly string[]): Promise<SafeHtml> => {
    const last = new Map((await listFullVerifications(ctx.db)).map((v) => [v.tenant, v]));
    const rows = tenants.map((tenant) => {
      const v = last.get(tenant);
      const result = !v
        ? t(lang, 'fullVerifyNever', intervalInWords(lang, ctx.config.AUDIT_FULL_VERIFY_INTERVAL_MS))
        : v.ok
          ? t(lang, 'fullVerifyOk', v.rows)
          : t(lang, 'fullVerifyBroken', v.brokenAtSeq ?? '-', chainProblemInWords(lang, v.problem ?? ''));
      return html`<tr class="${v && !v.ok ? 'broken' : ''}">
        <td>${nameOfChain(tenant)}</td>
        <td>${v ? formatTime(lang, v.verifiedAt) : ''}</td>
        <td>${result}</td>
      </tr>`;
    });
    return table(
      t(lang, 'fullVerifyTitle'),
      [t(lang, 'chain'), t(lang, 'when'), t(lang, 'fullVerifyResult')],
      rows,
      t(lang, 'none'),
    );
  };

  /** The export form, holding the values it was sent with (and, when something is wrong with them, saying what). */
  const exportPage = async (req: Request, res: Response, form: ExportForm, refusal?: FormRefusal, status = 200) => {
    const { lang } = pageOf(req, res);
    const tenants = await chainsInScope(res);
    const state = (id: string) => fieldState(refusal, id);
    sendPage(
      req,
      res,
      t(lang, 'exportTitle'),
      html`<p>${t(lang, 'exportIntro')}</p>
        <details>
          <summary>${t(lang, 'exportTechnical')}</summary>
          <p>${t(lang, 'exportCheckHow', '/audit/v1/keys')}</p>
          <pre>
npm run audit-verify -- verify-export ${lang === 'nl' ? '<bestand> --keys <sleutels.json>' : '<file> --keys <keys.json>'}</pre>
        </details>
        ${refusal !== undefined ? errorSummary(refusal) : ''}
        <form method="get" action="/console/auditor/export/download" class="search">
          <div class="fields">
            <label
              >${t(lang, 'chain')}${requiredMark(lang)}<select name="tenant" required ${state('tenant')}>
                ${tenants.map((x) => option(x, nameOfChain(x), form.tenant))}
              </select></label
            >
            <label
              >${t(lang, 'from')}<input type="date" name="from" value="${form.from ?? ''}" ${state('from')}
            /></label>
            <label>${t(lang, 'to')}<input type="date" name="to" value="${form.to ?? ''}" ${state('to')} /></label>
            <label
              >${t(lang, 'format')}<select name="format" ${state('format')}>
                ${option('ndjson', 'NDJSON', form.format ?? 'ndjson')}${option('csv', 'CSV', form.format)}
              </select></label
            >
          </div>
          <button type="submit">${t(lang, 'download')}</button>
        </form>`,
      status,
    );
  };

  router.get('/export', async (req, res) => {
    await exportPage(req, res, {});
  });

  /**
   * The export itself is the API's (same checks, same audit, streamed): only empty form fields are left out. What
   * is wrong with the form (dates that are none or the wrong way round, and whatever the API refuses as a bad
   * request) comes back as the form with a message, not as a download or a bare error page.
   */
  router.get('/export/download', async (req, res, next) => {
    const { lang } = pageOf(req, res);
    const form = exportFormOf(req.query);
    const problem = periodProblem(lang, form, 'fromAfterTo');
    if (problem !== undefined) {
      await exportPage(req, res, form, fieldRefusal(problem.name, problem.words), 400);
      return;
    }
    const query = new URLSearchParams();
    for (const name of ['tenant', 'from', 'to', 'format'] as const) {
      const value = form[name];
      if (value !== undefined) {
        // The form's "Tot en met" is the last day included, as on the search form; the API's `to` is the first day
        // left out (docs/audit.md), so the day after it is asked for.
        query.set(name, name === 'to' ? dayAfter(value) : value);
      }
    }
    const consoleUrl = req.url;
    req.url = `/audit/v1/export?${query.toString()}`;
    req.originalUrl = `${req.baseUrl}/export/download?${query.toString()}`;
    api(req, res, (err?: unknown) => {
      const status = err instanceof OperationOutcomeError ? httpStatusOf(err.outcome) : 0;
      // 409: the chain contradicts its signed history; said on the export form, like a field that is wrong.
      if ((status === 400 || status === 409 || status === 422) && !res.headersSent) {
        req.url = consoleUrl;
        exportPage(req, res, form, outcomeRefusal(lang, err, EXPORT_FIELD_IDS), status).catch(next);
        return;
      }
      next(err);
    });
  });

  const consentsForm = (page: PageContext, body: unknown = {}) => overviewForm(page, '/console/auditor/consents', body);

  getBsnForm(
    '/consents',
    async (req, res) => showConsents(req, res),
    (req, res, gone) => {
      const page = pageOf(req, res);
      sendPage(
        req,
        res,
        t(page.lang, 'consentsTitle'),
        html`${gone ? notice('info', t(page.lang, 'formGone')) : ''}${consentsForm(page)}`,
      );
    },
  );
  postBsnForm('/consents', async (req, res) => showConsents(req, res));

  /** The consents of the child of the BSN in `req.body` (kept, or a wrong one as posted). */
  const showConsents = async (req: Request, res: Response) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const title = t(lang, 'consentsTitle');
    let bsn: string;
    try {
      bsn = bsnField(req.body);
    } catch (err) {
      sendPage(req, res, title, bsnRefused(page, '/console/auditor/consents', req.body, err), 422);
      return;
    }
    const principal = getPrincipal(res);
    // The API's consent search (scope included), as GET /fhir/Consent?patient:identifier=<bsn> would run it.
    const params = new URLSearchParams({ 'patient:identifier': `${BSN_SYSTEM}|${bsn}`, _count: '500' });
    const found = await searchConsents(ctx.db, principal, parseFhirSearch(CONSENT_SEARCH, params));
    await auditRead(ctx, req, res, {
      patientBsn: bsn,
      query: `/fhir/Consent?${params.toString()}`,
      interaction: 'search',
      tenants: found.tenants,
    });
    const rows = found.resources.map((c, i) => consentRow(lang, nameOfChain(found.tenants[i] ?? ''), c));
    sendPage(
      req,
      res,
      title,
      html`${consentsForm(page, req.body)} ${shownFor(lang, bsn)}
      ${table(t(lang, 'consents'), ['Consent', t(lang, 'practice'), t(lang, 'state'), t(lang, 'provision'), t(lang, 'parties'), t(lang, 'period'), t(lang, 'purpose')], rows, t(lang, 'none'))}`,
    );
  };

  return router;
}

/** A consent as a row; `practice` is its practice by name and AGB code (`chainName`), or the code alone. */
function consentRow(lang: Lang, practice: string, c: Consent): SafeHtml {
  const p = c.provision;
  const givenBy = (c.performer ?? []).map((x) => x.reference ?? x.display ?? '').join(', ');
  // Who withdrew it, as the withdrawal named them; a joint consent withdrawn by some of its givers stays active for
  // the others, and is said so: never plainly "valid" while the engine may refuse on it (age, guardian rule).
  const withdrawers = withdrawnParties(c);
  const withdrawnAt = withdrawalRecordedAt(c);
  const withdrawnWhen = withdrawnAt ? ` ${t(lang, 'consentWithdrawnOn', formatTime(lang, withdrawnAt))}` : '';
  const withdrawnWho = withdrawers.length > 0 ? withdrawers.join(', ') : t(lang, 'consentWithdrawerNotRecorded');
  const withdrawn =
    withdrawers.length > 0 || c.status === 'inactive'
      ? html`<br />${`${t(lang, 'consentWithdrawnBy')}: ${withdrawnWho}${withdrawnWhen}`}`
      : '';
  const state =
    c.status === 'active' && withdrawers.length > 0
      ? t(lang, 'consentPartlyWithdrawn')
      : consentStatusInWords(lang, c.status);
  const recipients = (p?.actor ?? [])
    .map((a) => a.reference?.identifier?.value ?? a.reference?.reference ?? '')
    .join(', ');
  const period = p?.period ? `${p.period.start ?? '…'} – ${p.period.end ?? '…'}` : '';
  const purposes = purposesInWords(
    lang,
    (p?.purpose ?? []).map((x) => x.code),
  );
  return html`<tr>
    <td>${c.id ?? ''}<br /><small>${formatTime(lang, c.dateTime)}</small></td>
    <td>${practice}</td>
    <td>${state}</td>
    <td>${p?.type === 'deny' ? t(lang, 'deny') : t(lang, 'permit')}</td>
    <td>${t(lang, 'consentGivenBy')}: ${givenBy}${withdrawn}<br />${t(lang, 'recipientActor')}: ${recipients}</td>
    <td>${period}</td>
    <td>${purposes}</td>
  </tr>`;
}

/**
 * A chain's verdict, as docs/audit.md asks an auditor to read it: intact and agreeing with a signed checkpoint (when,
 * which key), or intact without one, which counts as unverified (a warning, not green: a chain rewritten whole in the
 * database verifies too); with the head hash to keep outside jeugdbrug, in a field that copies whole.
 */
function verdictHtml(lang: Lang, v: SignedTenantVerdict, nameOf: (chain: string) => string): SafeHtml {
  const chain = nameOf(v.tenant);
  if (!v.ok) {
    return notice('error', t(lang, 'chainBroken', chain, v.brokenAtSeq, chainProblemInWords(lang, v.problem)));
  }
  const signed = v.signedCheckpoint;
  const unchecked = v.checkpointsNotChecked;
  const notChecked = unchecked
    ? notice(
        'warn',
        t(
          lang,
          unchecked.count === 1 ? 'checkpointsNotCheckedOne' : 'checkpointsNotChecked',
          unchecked.count,
          chain,
          unchecked.fromSeq,
          unchecked.toSeq,
          unchecked.kids.join(', '),
        ),
      )
    : '';
  const head = html`<label class="head-hash"
    >${t(lang, 'headHash')}<input type="text" readonly value="${v.headHash}" size="70" spellcheck="false"
  /></label>`;
  // Intact from an auditor's acknowledgement on: the break stays said, with who acknowledged it, when and why.
  const a = v.acknowledgedBreak;
  const acknowledged = a
    ? notice(
        'warn',
        t(
          lang,
          'chainAcknowledged',
          chain,
          a.brokenAtSeq,
          chainProblemInWords(lang, a.problem),
          a.acknowledgedBy,
          formatTime(lang, a.acknowledgedAt),
          a.reason ?? t(lang, 'noReasonGiven'),
          a.headSeq,
        ),
      )
    : '';
  return html`${acknowledged}${notChecked}${
    signed
      ? notice(
          'ok',
          html`${t(lang, 'chainOk', chain, v.rows, v.headSeq)}
          ${t(lang, 'chainSigned', formatTime(lang, signed.signedAt), signed.kid, signed.seq)}
          ${v.headSeq > signed.seq + 1 ? t(lang, 'chainNotCoveredYet', signed.seq + 1, v.headSeq) : ''}
          ${v.headSeq === signed.seq + 1 ? t(lang, 'chainRowNotCoveredYet', v.headSeq) : ''} ${head}`,
        )
      : notice('warn', html`${t(lang, 'chainUnsigned', chain, v.rows, v.headSeq)} ${head}`)
  }`;
}

const FOUND_BY: Record<IntegrityFinder, MessageKey> = {
  'head-check': 'foundBy_head_check',
  verify: 'foundBy_verify',
  'full-verify': 'foundBy_full_verify',
  retention: 'foundBy_retention',
  export: 'foundBy_export',
};

/** How often the scheduled full verification runs, in words. */
function intervalInWords(lang: Lang, ms: number): string {
  const hours = ms / 3_600_000;
  return ms === 0
    ? t(lang, 'fullVerifyOff')
    : hours === 24
      ? t(lang, 'fullVerifyDaily')
      : t(lang, 'fullVerifyEvery', formatNumber(lang, Math.round(hours * 10) / 10));
}

/**
 * The integrity of the chains a page reads, as last known to any process: each chain known broken as an alert saying
 * since when, how it was found, and what to do; the others in one line (one chain: when a whole verification last
 * found it intact, or that none has yet; more: how many are intact and the oldest of their last verifications, how
 * many not yet verified). Then how long audit rows are kept (AUDIT_RETENTION_DAYS): older ones are deleted.
 */
function integrityHtml(
  lang: Lang,
  tenants: readonly string[],
  known: ReadonlyMap<string, ChainIntegrity>,
  nameOf: (chain: string) => string,
  settings: { readonly fullVerifyIntervalMs: number; readonly retentionDays: number },
): SafeHtml {
  const broken = tenants.flatMap((tenant) => {
    const k = known.get(tenant);
    if (!k || k.ok) {
      return [];
    }
    const problem = chainProblemInWords(lang, k.problem ?? '');
    const where = k.brokenAtSeq !== undefined ? t(lang, 'brokenAtRow', k.brokenAtSeq, problem) : problem;
    return [
      notice(
        'error',
        t(
          lang,
          'chainKnownBroken',
          nameOf(tenant),
          formatTime(lang, k.brokenSince ?? k.checkedAt),
          k.foundBy ? t(lang, FOUND_BY[k.foundBy]) : '',
          where,
        ),
      ),
    ];
  });
  const rest = tenants.filter((tenant) => known.get(tenant)?.ok !== false);
  const intact = rest.flatMap((tenant) => known.get(tenant) ?? []);
  const interval = intervalInWords(lang, settings.fullVerifyIntervalMs);
  let line: string;
  const [only] = rest;
  if (only !== undefined && tenants.length === 1) {
    line = intact[0]
      ? t(lang, 'chainLastVerified', nameOf(only), formatTime(lang, intact[0].checkedAt))
      : t(lang, 'chainNotYetVerified', nameOf(only), interval);
  } else {
    const oldest = intact.reduce<Date | undefined>((o, k) => (o && o < k.checkedAt ? o : k.checkedAt), undefined);
    const unverified = rest.length - intact.length;
    // "All" and "the other" only when no chain in scope is unverified: otherwise they would not be all of them.
    const intactKey: MessageKey =
      unverified > 0
        ? intact.length === 1
          ? 'chainsIntactOne'
          : 'chainsIntact'
        : broken.length === 0
          ? 'chainsAllIntact'
          : intact.length === 1
            ? 'chainsOtherIntact'
            : 'chainsOthersIntact';
    line = [
      oldest ? t(lang, intactKey, intact.length, formatTime(lang, oldest)) : '',
      unverified > 0
        ? t(lang, unverified === 1 ? 'chainsNotYetVerifiedOne' : 'chainsNotYetVerified', unverified, interval)
        : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
  const days = settings.retentionDays;
  return html`<section class="integrity" aria-label="${t(lang, 'integrityTitle')}">
    ${broken}${line ? html`<p>${line}</p>` : ''}
    <p class="retention">
      ${t(lang, 'auditRetention', formatNumber(lang, days), formatNumber(lang, Math.round((days / 365.25) * 10) / 10))}
    </p>
  </section>`;
}

/** The columns of one overview entry in the console's table, whatever its kind. */
function entryColumns(
  lang: Lang,
  e: ChildOverview['entries'][number],
): {
  kind: string;
  organisation: Organisation | undefined;
  destination?: string | undefined;
  data: string;
  purpose?: string | undefined;
  agreement?: string | undefined;
  consents: string[];
} {
  const agreementOf = (a: DecisionEntry['agreement']) => (a ? `${a.id} v${a.version ?? '?'}` : undefined);
  // As the agreement: the version the decision read, kept after a withdrawal (GET /fhir/Consent/<id>/_history/<v>).
  const consentsOf = (cs: DecisionEntry['consentVersions']) =>
    cs.map((c) => (c.version === undefined ? c.id : `${c.id} v${c.version}`));
  switch (e.kind) {
    case 'disclosure':
      // A withdrawal notice is a Consent sent, not the child's data again: what it names, and the consent that
      // caused it, are said as such, never as data or as the consents it rested on.
      return e.sent === 'withdrawal-notice'
        ? {
            kind: t(lang, 'kind_notice'),
            organisation: e.recipient,
            destination: e.destination,
            data: `${e.dataTypes.join(', ')}; ${t(lang, 'noticeRefersTo', e.refersTo.join(', '))}`,
            purpose: e.purpose && purposesInWords(lang, [e.purpose]),
            agreement: agreementOf(e.agreement),
            consents: consentsOf(e.reasonConsentVersions).map((c) => t(lang, 'noticeReason', c)),
          }
        : {
            kind: t(lang, 'kind_disclosure'),
            organisation: e.recipient,
            destination: e.destination,
            data: e.dataTypes.join(', '),
            purpose: e.purpose && purposesInWords(lang, [e.purpose]),
            agreement: agreementOf(e.agreement),
            consents: consentsOf(e.consentVersions),
          };
    case 'decision': {
      // An event is decided twice, when it is mapped and again right before it is sent: the stage tells them apart.
      const stage = e.stage === undefined ? '' : ` (${t(lang, STAGE_WORDS[e.stage] ?? 'stage_map')})`;
      return {
        kind: `${t(lang, e.action === 'permit' ? 'kind_permit' : 'kind_deny')}${stage}`,
        organisation: e.recipient,
        data: reasonsInWords(lang, e.reasons.join(', ')),
        purpose: e.purpose && purposesInWords(lang, [e.purpose]),
        agreement: agreementOf(e.agreement),
        consents: consentsOf(e.consentVersions),
      };
    }
    case 'receipt':
      return {
        kind: t(lang, 'kind_receipt'),
        organisation: e.sender,
        data: receiptInWords(lang, e.description),
        purpose: e.purpose && purposesInWords(lang, [e.purpose]),
        consents: [],
      };
    case 'activity':
      return {
        kind: `${t(lang, 'kind_activity')}: ${e.type} ${e.action}`,
        organisation: undefined,
        data: `${outcomeWords(lang, e.outcome)} ${e.user ?? ''}`.trim(),
        consents: [],
      };
  }
}
