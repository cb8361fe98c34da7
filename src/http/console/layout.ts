import type { ConsoleSession } from '../../access/console-sessions';
import type { Role } from '../../access/principal';
import { html, type HtmlValue, type SafeHtml } from './html';
import { encodeTimeIdCursor, type TimeIdCursor } from '../../reports/time-id-page';
import { t, type Lang, type MessageKey } from './i18n';

/** What every page needs to know about the request: language, session and where it is. */
export interface PageContext {
  readonly lang: Lang;
  readonly session?: ConsoleSession | undefined;
  /** The path of this page (no query string), for the current menu item. */
  readonly path: string;
  /** Where the language switch comes back to: this page with the query of its address. */
  readonly back: string;
  /** Seconds the session has left if the user does nothing more, when signed in. */
  readonly secondsLeft?: number | undefined;
}

/** How long before the idle end the warning comes: two minutes, or half the time left when that is shorter. */
const IDLE_WARNING_SECONDS = 120;

/**
 * The warning before an idle session ends (WCAG 2.2.1): hidden until console.js shows it, `warnAfter` seconds after
 * the page loaded (every page load is activity), as an alert dialog whose one button renews the session through a
 * POST like any other (CSRF token, same origin) without leaving the page, so a half-filled form is kept. When the
 * session has ended after all, it says so and links to the sign-in page, which leads back here; it never moves the
 * user away by itself. Without script there is no warning: the sign-in page then says the session ended.
 */
function idleWarning(page: PageContext): SafeHtml | '' {
  if (!page.session || page.secondsLeft === undefined) {
    return '';
  }
  const { lang } = page;
  const lead = Math.min(IDLE_WARNING_SECONDS, Math.floor(page.secondsLeft / 2));
  const minutes = Math.max(1, Math.ceil(lead / 60));
  const signIn = `/console/sign-in?why=ended&back=${encodeURIComponent(page.back)}`;
  return html`<div
    id="idle-warning"
    class="idle-warning"
    role="alertdialog"
    aria-modal="false"
    aria-labelledby="idle-warning-title"
    aria-describedby="idle-warning-text"
    data-warn-after="${page.secondsLeft - lead}"
    data-ends-after="${page.secondsLeft}"
    data-ended-title="${t(lang, 'idleEndedTitle')}"
    hidden
  >
    <h2 id="idle-warning-title">${t(lang, 'idleWarningTitle')}</h2>
    <p id="idle-warning-text">
      ${t(lang, 'idleWarningText', minutes === 1 ? t(lang, 'minuteCount') : t(lang, 'minutesCount', minutes))}
    </p>
    <form method="post" action="/console/session/renew">
      ${csrfField(page)}<input type="hidden" name="back" value="${page.back}" />
      <button type="submit">${t(lang, 'idleStay')}</button>
    </form>
    <p class="idle-ended" hidden>${t(lang, 'idleEndedText')} <a href="${signIn}">${t(lang, 'idleSignInAgain')}</a></p>
  </div>`;
}

/** The pages each role has, in menu order: the first is the role's main page. */
export const ROLE_PAGES: Record<Role, readonly { path: string; label: MessageKey }[]> = {
  auditor: [
    { path: '/console/auditor', label: 'navAuditEvents' },
    { path: '/console/auditor/overview', label: 'navOverview' },
    { path: '/console/auditor/verify', label: 'navVerify' },
    { path: '/console/auditor/export', label: 'navExport' },
    { path: '/console/auditor/consents', label: 'navConsents' },
    { path: '/console/auditor/report', label: 'navReport' },
  ],
  operator: [
    { path: '/console/operator', label: 'navQueues' },
    { path: '/console/operator/dead-letters', label: 'navDeadLetters' },
    { path: '/console/operator/to-practices', label: 'navToPractices' },
    { path: '/console/operator/destinations', label: 'navDestinations' },
    { path: '/console/operator/events', label: 'navEvent' },
    { path: '/console/operator/configuration', label: 'navConfiguration' },
    { path: '/console/operator/report', label: 'navReport' },
  ],
  municipality: [
    { path: '/console/municipality', label: 'navReport' },
    { path: '/console/municipality/referrals', label: 'navReferrals' },
  ],
  practice: [{ path: '/console/practice', label: 'navEvents' }],
};

/** The hidden CSRF field every POST form carries. */
export function csrfField(page: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${page.session?.csrf ?? ''}" />`;
}

/** A whole page: header with the role's menu, language switch and sign-out, then the content. */
export function layout(page: PageContext, title: string, content: HtmlValue): string {
  const { lang, session } = page;
  const role = session?.principal.role;
  const nav = role
    ? html`<nav aria-label="${t(lang, 'mainMenu')}">
        <ul>
          ${ROLE_PAGES[role].map(
            (p) =>
              html`<li>
                <a href="${p.path}" ${page.path === p.path ? html` aria-current="page"` : ''}>${t(lang, p.label)}</a>
              </li>`,
          )}
        </ul>
      </nav>`
    : '';
  const user = session
    ? html`<div class="user">
        <span>${t(lang, 'signedInAs', session.principal.id, t(lang, `role_${session.principal.role}`))}</span>
        <form method="post" action="/console/sign-out">
          ${csrfField(page)}<button type="submit">${t(lang, 'signOut')}</button>
        </form>
      </div>`
    : '';
  const other: Lang = lang === 'nl' ? 'en' : 'nl';
  return html`<!doctype html>
    <html lang="${lang}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · ${t(lang, 'appName')}</title>
        <link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/console/assets/console.css" />
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">${t(lang, 'skipToContent')}</a>
        <header>
          <span class="brand">${t(lang, 'appName')}</span>
          ${nav}
          <a class="lang" href="/console/lang?to=${other}&amp;back=${encodeURIComponent(page.back)}" lang="${other}"
            >${t(lang, 'otherLanguage')}</a
          >
          ${user}
        </header>
        ${idleWarning(page)}
        <main id="main" tabindex="-1">
          <h1>${title}</h1>
          ${content}
        </main>
      </body>
    </html>`.value;
}

/** A message box: `error` is announced to screen readers at once. */
export function notice(kind: 'info' | 'error' | 'ok' | 'warn', text: HtmlValue): SafeHtml {
  return html`<div class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</div>`;
}

/** A column header for screen readers only: a column of buttons or links needs a name, not a visible one. */
export function hiddenHeader(text: string): SafeHtml {
  return html`<span class="visually-hidden">${text}</span>`;
}

/** A table with a caption and header row; rows are already-built `<tr>` fragments. */
export function table(
  caption: string,
  headers: readonly HtmlValue[],
  rows: readonly SafeHtml[],
  empty: string,
): SafeHtml {
  if (rows.length === 0) {
    return html`<p class="empty">${caption}: ${empty}</p>`;
  }
  return html`<div class="table-wrap">
    <table>
      <caption>
        ${caption}
      </caption>
      <thead>
        <tr>
          ${headers.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}

/**
 * Links to the newer and older pages of a list shown newest first, at `path` with the list's filter (a list's
 * address never holds personal data) and the page's cursor token (`token`: the list's own kind of cursor; by time and
 * id unless given).
 */
export function pagingLinks<C = TimeIdCursor>(
  lang: Lang,
  page: { readonly newer?: C | undefined; readonly older?: C | undefined },
  path: string,
  filter: Readonly<Record<string, string | number | undefined>>,
  token: (cursor: C) => string = encodeTimeIdCursor as (cursor: C) => string,
): SafeHtml {
  const hrefOf = (cursor: C) => {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) {
      if (value !== undefined) {
        query.set(name, String(value));
      }
    }
    query.set('_page', token(cursor));
    return `${path}?${query.toString()}`;
  };
  if (!page.newer && !page.older) {
    return html``;
  }
  return html`<nav class="paging" aria-label="${t(lang, 'pages')}">
    ${page.newer ? html`<a href="${hrefOf(page.newer)}" rel="prev">${t(lang, 'newerPage')}</a>` : ''}
    ${page.older ? html`<a href="${hrefOf(page.older)}" rel="next">${t(lang, 'olderPage')}</a>` : ''}
  </nav>`;
}
