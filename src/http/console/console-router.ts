import fs from 'node:fs';
import path from 'node:path';
import { getStatus, notFound, OperationOutcomeError, unauthorizedTokenExpired } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import express, {
  type Router,
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { exactRouter } from '../exact-routing';
import { newToken, sameSecret, type ConsoleSession, type ConsoleSessionStore } from '../../access/console-sessions';
import { errorFields, unexpectedErrorFields } from '../../kernel/logger';
import { isOutageError } from '../../kernel/outage';
import { httpStatusOf, isAuthFailuresThrottled } from '../../kernel/fhir/outcomes';
import { RETRY_AFTER_S } from '../error-handler';
import type { PipelineContext } from '../../event/context';
import { requireRole, setPrincipal, type VerifiedCredential } from '../../access/authenticate';
import { loggedPrincipalId } from '../../access/principal';
import { auditRefusal } from '../refusal-audit';
import { actorOf } from '../request-context';
import { consoleSession } from '../../audit/audit-events';
import { SYSTEM_TENANT } from '../../reports/audit-scope';
import type { AuthFailures } from '../auth-failures';
import { auditorPages } from './auditor-pages';
import {
  cookiesOf,
  field,
  getConsoleState,
  langOf,
  ON_SITE,
  pageOf,
  sendPage,
  setConsoleState,
} from './console-request';
import { html, type HtmlValue, type SafeHtml } from './html';
import { errorSummary, fieldRefusal, fieldState, requiredMark, type FormRefusal } from './form-fields';
import { isLang, t, type Lang, type MessageKey } from './i18n';
import { notice, ROLE_PAGES } from './layout';
import { monitoringPages } from './monitoring-pages';
import { municipalityPages } from './municipality-pages';
import { operatorPages } from './operator-pages';
import { redeliverPages } from './redeliver-pages';
import { outcomeDetail, outcomeInWords } from './outcome-message';
import { practicePages } from './practice-pages';
import { strictCsp } from '../content-security-policy';
import { namesNoEvent } from '../route-target';
import { noteInvalidUtf8, rejectUnstorableText } from '../text-guard';
import { assertNoQuery } from '../../kernel/zod-outcome';

/** What the console needs besides the pipeline: sessions, and the API's own credential check. */
export interface ConsoleOptions {
  readonly sessions: ConsoleSessionStore;
  /**
   * The API's credential check (API key or JWT): a session gets exactly the principal the API would, and ends when
   * the credential expires (a JWT's `exp`).
   */
  readonly verifyCredential: (credential: string) => Promise<VerifiedCredential>;
  /**
   * Whether the credential behind a session still grants what it did at sign-in: an API key revoked, re-issued
   * (a new secret) or given another role or scope in the key file ends its sessions at once.
   */
  readonly isCurrent: (session: ConsoleSession) => boolean;
  /** Failed sign-ins recorded and throttled per client address, as the API's failed authentications are. */
  readonly authFailures?: AuthFailures | undefined;
}

const SESSION_COOKIE = 'jb_session';
const SIGN_IN_COOKIE = 'jb_signin';
/** Sent by console.js on the refreshes it makes by itself. */
const REFRESH_HEADER = 'x-console-refresh';
/** Scripts and styles only from the console's own files: no inline script or style anywhere. */
const CSP = strictCsp();

const ASSETS: Record<string, string> = {
  'console.css': 'text/css',
  'console.js': 'text/javascript',
  'favicon.svg': 'image/svg+xml',
};
const ASSET_DIR = path.join(__dirname, 'assets');

/** A POST without the session's CSRF token, or from another origin. */
class CsrfRefused extends Error {
  override readonly name = 'CsrfRefused';
}

/**
 * The origins a console POST may come from: the request's own (direct use, or a proxy on loopback that passes the
 * scheme and Host on) and, when set, that of `PUBLIC_BASE_URL`, the address the browser uses behind a TLS proxy on
 * another host (which the app does not trust for `X-Forwarded-Proto`, so it sees `http` and the proxy's Host).
 */
interface Origins {
  /** `PUBLIC_BASE_URL`'s origin, when configured. */
  readonly public: string | undefined;
}

function originsOf(publicBaseUrl: string | undefined): Origins {
  return { public: publicBaseUrl === undefined ? undefined : new URL(publicBaseUrl).origin };
}

/**
 * Whether the browser reached us over TLS: directly or through a trusted proxy (`req.secure`), or through a proxy
 * elsewhere, told by its X-Forwarded-Proto or by a request naming the https public origin (Origin) or host (Host).
 * Neither header is trusted for anything else: a cookie marked Secure needlessly only fails its own client.
 */
function overTls(req: Request, origins: Origins): boolean {
  if (req.secure || req.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https') {
    return true;
  }
  if (origins.public === undefined || !origins.public.startsWith('https:')) {
    return false;
  }
  return req.get('origin') === origins.public || req.get('host') === new URL(origins.public).host;
}

function cookie(
  req: Request,
  origins: Origins,
  name: string,
  value: string,
  opts: { path: string; maxAge: number },
): string {
  return `${name}=${value}; Path=${opts.path}; Max-Age=${opts.maxAge}; HttpOnly; SameSite=Strict${overTls(req, origins) ? '; Secure' : ''}`;
}

/**
 * `back` of the language switch as an address on this site, in the console, with its query; undefined for
 * anything else (another host, `//host`, a scheme, a path that leaves /console once `..` is resolved).
 */
/**
 * The sign-in page for a request without a live session: "your session ended" only when there was one (a first visit
 * is no ended session), and the page asked for, to go on to after signing in (a link from mail or a ticket arrives
 * without the SameSite=Strict cookie, and used to land on the role's first page instead).
 */
function signInAddress(hadSession: boolean, asked: string | undefined, unsent = false): string {
  const query = new URLSearchParams();
  if (unsent) {
    query.set('why', 'unsent');
  } else if (hadSession) {
    query.set('why', 'ended');
  }
  const back = consoleAddress(asked);
  if (back !== undefined && back !== '/console') {
    query.set('back', back);
  }
  const search = query.toString();
  return `/console/sign-in${search ? `?${search}` : ''}`;
}

function consoleAddress(back: string | undefined): string | undefined {
  if (back === undefined || !back.startsWith('/console')) {
    return undefined;
  }
  const url = new URL(back, ON_SITE);
  // Percent-encoded octets too: a referral's page is addressed by `system|value` (`urn%3Aagb%3A…%7C…`).
  return url.origin === ON_SITE.origin && /^\/console(\/([a-z0-9/-]|%[0-9A-F]{2})*)?$/i.test(url.pathname)
    ? url.pathname + url.search
    : undefined;
}

/**
 * The console page a form was posted from, by the Referer our Referrer-Policy (same-origin) keeps: where to return
 * after signing in again when the session ended before the form was sent. Undefined for another origin.
 */
function formPageOf(req: Request, origins: Origins): string | undefined {
  const referer = req.get('referer');
  if (referer === undefined || !URL.canParse(referer)) {
    return undefined;
  }
  const url = new URL(referer);
  const own = [`${req.protocol}://${req.get('host') ?? ''}`, ...(origins.public === undefined ? [] : [origins.public])];
  return own.includes(url.origin) ? consoleAddress(url.pathname + url.search) : undefined;
}

/**
 * Same-origin check: browsers send Origin on every POST (and our Referrer-Policy keeps a same-origin Referer); a POST
 * naming another origin, or none at all, did not come from a page of the console and is refused. The console's
 * origins are the request's own and `PUBLIC_BASE_URL`'s (see `Origins`); the scheme and port count.
 */
function assertSameOrigin(req: Request, origins: Origins): void {
  const own = [`${req.protocol}://${req.get('host') ?? ''}`, ...(origins.public === undefined ? [] : [origins.public])];
  const origin = req.get('origin');
  if (origin !== undefined) {
    if (!own.includes(origin)) {
      throw new CsrfRefused();
    }
    return;
  }
  const referer = req.get('referer');
  if (referer === undefined || !URL.canParse(referer) || !own.includes(new URL(referer).origin)) {
    throw new CsrfRefused();
  }
}

/**
 * `/console`: the web console for auditors, operators, municipalities and practices. Server-rendered pages with
 * one small script and stylesheet of our own; sign-in with an API key or JWT for a session in Redis; a CSRF token
 * on every POST; the same role and scope checks and the same audit of reads as the API.
 */
export function consoleRouter(ctx: PipelineContext, opts: ConsoleOptions): Router {
  const router = exactRouter();
  const { sessions } = opts;
  const origins = originsOf(ctx.config.PUBLIC_BASE_URL);

  router.use((req, res, next) => {
    res.set('Content-Security-Policy', CSP);
    // Not no-referrer: with it, Chromium sends `Origin: null` on our own form posts, and the origin check needs it.
    res.set('Referrer-Policy', 'same-origin');
    setConsoleState(res, { lang: langOf(req) });
    next();
  });
  // The app reads a form body as text, and checks it, for a request without a credential header (app.ts): the
  // console reads its fields from that. One with such a header the app leaves unread until an authenticator it
  // never meets here (the console's is the session), so the console reads that one itself, with the same check.
  router.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 50, verify: noteInvalidUtf8 }));
  router.use((req, _res, next) => {
    if (typeof req.body === 'string') {
      req.body = Object.fromEntries(new URLSearchParams(req.body));
    }
    next();
  });
  router.use(rejectUnstorableText());

  router.get('/assets/:file', namesNoEvent, (req, res) => {
    // An own property only: `__proto__`, `constructor` and the like are inherited by every object.
    const type = Object.hasOwn(ASSETS, req.params.file) ? ASSETS[req.params.file] : undefined;
    if (!type) {
      throw new OperationOutcomeError(notFound);
    }
    res
      .type(type)
      .set('Cache-Control', 'no-cache')
      .send(fs.readFileSync(path.join(ASSET_DIR, req.params.file)));
  });

  /** The language switch: a preference cookie, then back to the page (a console path only). */
  router.get('/lang', (req, res) => {
    const to = field(req.query, 'to');
    const back = field(req.query, 'back');
    if (isLang(to)) {
      res.append(
        'Set-Cookie',
        `jb_lang=${to}; Path=/console; Max-Age=31536000; SameSite=Lax${overTls(req, origins) ? '; Secure' : ''}`,
      );
    }
    res.redirect(303, consoleAddress(back) ?? '/console');
  });

  /**
   * The sign-in page: above the form a notice (`message`), or a refused credential as an error summary tied to the
   * field; titled by what it says (a session ended, signed out, a sign-in refused), so the tab and a screen reader's
   * first words tell it apart from the plain sign-in page.
   */
  const signInPage = (
    req: Request,
    res: Response,
    shown: { message?: SafeHtml; refusal?: FormRefusal; title?: MessageKey } = {},
    status = 200,
  ) => {
    const { lang } = pageOf(req, res);
    const back = consoleAddress(field(req.method === 'POST' ? req.body : req.query, 'back'));
    const token = newToken();
    res.append('Set-Cookie', cookie(req, origins, SIGN_IN_COOKIE, token, { path: '/console/sign-in', maxAge: 3600 }));
    sendPage(
      req,
      res,
      t(lang, shown.title ?? 'signIn'),
      html`${shown.refusal ? errorSummary(shown.refusal) : (shown.message ?? '')}
        <form method="post" action="/console/sign-in" class="sign-in">
          <input type="hidden" name="_csrf" value="${token}" />
          ${back !== undefined ? html`<input type="hidden" name="back" value="${back}" />` : ''}
          <label for="credential">${t(lang, 'credential')}${requiredMark(lang)}</label>
          <input
            name="credential"
            type="password"
            autocomplete="off"
            required
            ${fieldState(shown.refusal, 'credential', 'credential-help')}
          />
          <p id="credential-help" class="help">${t(lang, 'credentialHelp')}</p>
          <button type="submit">${t(lang, 'signIn')}</button>
        </form>`,
      status,
    );
  };

  router.get('/sign-in', (req, res) => {
    const { lang } = pageOf(req, res);
    const why = field(req.query, 'why');
    signInPage(
      req,
      res,
      why === 'ended'
        ? { message: notice('info', t(lang, 'sessionEnded')), title: 'sessionEndedTitle' }
        : why === 'unsent'
          ? { message: notice('error', t(lang, 'sessionEndedUnsent')), title: 'sessionEndedTitle' }
          : why === 'out'
            ? { message: notice('ok', t(lang, 'signedOut')), title: 'signedOutTitle' }
            : {},
    );
  });

  /** The sign-in page again (401) saying why, the failure recorded; the 429 instead once the address is over the limit. */
  const refuseSignIn = async (
    req: Request,
    res: Response,
    credential: string,
    outcome: OperationOutcome,
    why: string,
    detail: HtmlValue = '',
  ): Promise<void> => {
    const throttled = await opts.authFailures?.failed(req, res, credential, outcome);
    if (throttled) {
      throw throttled;
    }
    const refusal = fieldRefusal('credential', `${t(pageOf(req, res).lang, 'signInFailed')}: ${why}`, detail);
    signInPage(req, res, { refusal, title: 'signInFailed' }, 401);
  };

  /**
   * A sign-in or sign-out in the system chain (DICOM 110114, outcome 0), as the refused ones are: who, when, from
   * where, for whom. A failure to record it is logged, not shown: the user's session is not the audit's to refuse.
   */
  const auditSession = async (req: Request, res: Response, event: 'login' | 'logout'): Promise<void> => {
    await ctx.audit
      .append(
        SYSTEM_TENANT,
        consoleSession({ actor: actorOf(req, res), event, route: `${req.method} ${req.baseUrl}${req.path}` }),
      )
      .catch((e: unknown) => ctx.log.error(errorFields(e), `could not audit a console ${event}`));
  };

  router.post('/sign-in', async (req, res) => {
    assertSameOrigin(req, origins);
    const expected = cookiesOf(req).get(SIGN_IN_COOKIE);
    const sent = field(req.body, '_csrf');
    if (expected === undefined || sent === undefined || !sameSecret(expected, sent)) {
      throw new CsrfRefused();
    }
    assertNoQuery(req);
    const { lang } = pageOf(req, res);
    // A throttled address is answered 429 before its credential is checked, as on the API.
    opts.authFailures?.assertNotThrottled(req, res);
    const credential = field(req.body, 'credential') ?? '';
    let verified: VerifiedCredential;
    try {
      verified = await opts.verifyCredential(credential);
    } catch (err) {
      if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 401) {
        await refuseSignIn(
          req,
          res,
          credential,
          err.outcome,
          t(lang, 'credentialNotAccepted'),
          outcomeDetail(lang, err),
        );
        return;
      }
      throw err;
    }
    // A JWT that expired within the allowed clock skew verifies, but its session would end at once and send the user
    // back here without a word: refused, saying why.
    if (verified.expiresAt !== undefined && verified.expiresAt <= Date.now()) {
      await refuseSignIn(req, res, credential, unauthorizedTokenExpired, t(lang, 'tokenExpired'));
      return;
    }
    const { principal } = verified;
    const { token, session } = await sessions.create(principal, verified);
    ctx.log.info({ principal: loggedPrincipalId(principal), role: principal.role }, 'console sign-in');
    setPrincipal(res, principal);
    await auditSession(req, res, 'login');
    res.append('Set-Cookie', `${SIGN_IN_COOKIE}=; Path=/console/sign-in; Max-Age=0; HttpOnly; SameSite=Strict`);
    // The cookie lasts as long as the session can: the browser forgets it when a JWT's expiry ends the session.
    const maxAge = sessions.lifetimeSeconds(session);
    res.append('Set-Cookie', cookie(req, origins, SESSION_COOKIE, token, { path: '/console', maxAge }));
    // The page asked for before signing in, when it is one of this role's; else the role's first page.
    const back = consoleAddress(field(req.body, 'back'));
    const home = ROLE_PAGES[principal.role][0]?.path ?? '/console';
    res.redirect(303, back?.startsWith(`/console/${principal.role}`) ? back : home);
  });

  /** Everything below needs a live session; its principal goes where the API's authenticator puts it. */
  const requireSession: RequestHandler = async (req, res, next) => {
    const token = cookiesOf(req).get(SESSION_COOKIE);
    // A page's own background refresh (console.js) is not the user's activity: it must not keep an unattended
    // session alive past CONSOLE_IDLE_TIMEOUT_MIN. The header can only make a session end sooner.
    const background = req.method === 'GET' && req.get(REFRESH_HEADER) === '1';
    const session = token !== undefined ? await sessions.tryGet(token, { extend: !background }) : undefined;
    if (!token || !session || !opts.isCurrent(session)) {
      if (token && session) {
        await sessions.destroy(token);
      }
      res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict`);
      // A form sent after the session ended is not acted on (nor kept: it may hold personal data) and not sent
      // again after signing in: the sign-in page says nothing was recorded, and leads back to the form's page.
      const posted = req.method === 'POST' && token !== undefined && req.path !== '/sign-out';
      res.redirect(
        303,
        posted
          ? signInAddress(true, formPageOf(req, origins), true)
          : signInAddress(token !== undefined, req.method === 'GET' ? req.originalUrl : undefined),
      );
      return;
    }
    const secondsLeft = Math.min(sessions.idleSeconds, sessions.lifetimeSeconds(session));
    setConsoleState(res, { ...getConsoleState(res), session, token, secondsLeft });
    setPrincipal(res, session.principal);
    next();
  };
  router.use(requireSession);

  router.use((req, _res, next) => {
    if (req.method === 'POST') {
      assertSameOrigin(req, origins);
      const session = getConsoleState(_res).session;
      const sent = field(req.body, '_csrf');
      if (!session || sent === undefined || !sameSecret(session.csrf, sent)) {
        throw new CsrfRefused();
      }
      // A form posts its fields in the body: a query parameter is none of its own (a hand-made URL, a typo), refused
      // on the console's error page naming it, as the API's POST routes answer it.
      assertNoQuery(req);
    }
    next();
  });

  router.get('/', (_req, res) => {
    const role = getConsoleState(res).session?.principal.role ?? 'practice';
    res.redirect(303, ROLE_PAGES[role][0]?.path ?? '/console/sign-in');
  });

  // "Stay signed in" of the idle warning: reaching this route (a session checked, its CSRF token too) has already
  // moved the idle expiry on. console.js posts it in the background and gets the seconds now left; without script
  // the form posts it and returns to the page it was on.
  router.post('/session/renew', (req, res) => {
    const { secondsLeft } = getConsoleState(res);
    if (req.accepts(['html', 'json']) === 'json') {
      res.set('Cache-Control', 'no-store').json({ secondsLeft });
      return;
    }
    res.redirect(303, consoleAddress(field(req.body, 'back')) ?? '/console');
  });

  router.post('/sign-out', async (_req, res) => {
    const { token, session } = getConsoleState(res);
    if (token) {
      await sessions.destroy(token);
    }
    ctx.log.info({ principal: session && loggedPrincipalId(session.principal) }, 'console sign-out');
    await auditSession(_req, res, 'logout');
    res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict`);
    res.redirect(303, '/console/sign-in?why=out');
  });

  // The monitoring report of a practice for its own auditor or operator (a key scoped to practices alone), and of
  // the municipalities in scope for any other: the municipality's page, with the API's scope rules.
  router.use('/auditor/report', requireRole('auditor'), monitoringPages(ctx, '/console/auditor/report'));
  router.use('/operator/report', requireRole('operator'), monitoringPages(ctx, '/console/operator/report'));
  router.use('/auditor', requireRole('auditor'), auditorPages(ctx, sessions));
  router.use('/operator', requireRole('operator'), operatorPages(ctx, sessions));
  router.use('/operator', requireRole('operator'), redeliverPages(ctx));
  router.use('/municipality', requireRole('municipality'), municipalityPages(ctx));
  router.use('/practice', requireRole('practice'), practicePages(ctx));

  router.use(() => {
    throw new OperationOutcomeError(notFound);
  });
  router.use(consoleErrors(ctx));
  return router;
}

/**
 * The console's error pages for what is refused under /console before its router is reached (a path ending in `/`,
 * a body too large), for a browser (one that prefers HTML): a page in the user's language with its title, not the
 * API's OperationOutcome, which any other client still gets.
 */
export function consoleErrorPages(ctx: PipelineContext): ErrorRequestHandler {
  const pages = consoleErrors(ctx);
  return (err: unknown, req, res, next) => {
    if (req.accepts(['json', 'html']) !== 'html') {
      next(err);
      return;
    }
    res.set('Content-Security-Policy', CSP);
    setConsoleState(res, { lang: langOf(req) });
    return pages(err, req, res, next);
  };
}

/** A wait of whole seconds (Retry-After) in whole minutes, rounded up: "1 minuut", "5 minuten". */
function minutesOf(lang: Lang, seconds: number): string {
  const minutes = Math.max(1, Math.ceil((Number.isFinite(seconds) ? seconds : 60) / 60));
  return minutes === 1 ? t(lang, 'minuteCount') : t(lang, 'minutesCount', minutes);
}

/**
 * Errors as pages in the user's language. A 403 (another role's page, or a CSRF attempt) is audited as the API
 * audits refusals; unexpected errors are logged with ids only and shown without details; an outage is logged once.
 */
function consoleErrors(ctx: PipelineContext): ErrorRequestHandler {
  return async (err: unknown, req, res, _next) => {
    const { lang } = pageOf(req, res);
    let status = 500;
    let title = t(lang, 'errorTitle');
    let text: HtmlValue = '';
    if (err instanceof CsrfRefused) {
      status = 403;
      title = t(lang, 'csrfTitle');
      text = t(lang, 'csrfText');
    } else if (err instanceof OperationOutcomeError) {
      status = httpStatusOf(err.outcome);
      if (status === 403) {
        title = t(lang, 'forbiddenTitle');
        text = t(lang, 'forbiddenText');
      } else if (status === 404) {
        title = t(lang, 'notFoundTitle');
      } else if (isAuthFailuresThrottled(err.outcome)) {
        title = t(lang, 'throttledTitle');
        text = t(lang, 'throttledText', minutesOf(lang, Number(res.getHeader('Retry-After'))));
      } else {
        title = t(lang, status === 400 ? 'badRequestTitle' : status >= 500 ? 'serverErrorTitle' : 'errorTitle');
        text = outcomeInWords(lang, err);
      }
    } else if (isOutageError(err)) {
      // PostgreSQL or Redis is away or not answering (restart, failover): come back shortly, nothing is lost.
      status = 503;
      title = t(lang, 'unavailableTitle');
      text = t(lang, 'unavailableText');
      res.setHeader('Retry-After', String(RETRY_AFTER_S));
    } else if (typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number') {
      // body-parser's errors (too large, malformed): a client problem, its message names no content.
      status = err.status < 500 ? err.status : 500;
      title = t(lang, status === 400 ? 'badRequestTitle' : 'errorTitle');
    }
    if (status === 500) {
      // Said as what it is (the server's fault, logged), not as "something went wrong" that every page could say.
      title = t(lang, 'serverErrorTitle');
      text = t(lang, 'serverErrorText');
    }
    if (status === 403) {
      await auditRefusal(ctx, req, res).catch((e: Error) => ctx.log.error(errorFields(e), 'could not audit a refusal'));
    }
    // A 503 is expected operation, as in the API's error handler: its access line (warn) is all it logs, and the
    // outage itself is logged once.
    ctx.outages.noticed(err);
    if (status >= 500 && status !== 503) {
      ctx.log.error({ method: req.method, path: req.baseUrl, ...unexpectedErrorFields(err) }, 'console error');
    }
    if (res.headersSent) {
      return;
    }
    sendPage(
      req,
      res,
      title,
      html`${text ? notice('error', text) : ''}
        <p><a href="/console">${t(lang, 'home')}</a></p>`,
      status,
    );
  };
}
