import type { Request, Response } from 'express';
import type { ConsoleSession } from '../../access/console-sessions';
import { decodeTimeIdCursor, type TimeIdCursor } from '../../reports/time-id-page';
import type { HtmlValue } from './html';
import { isValidIsoDate } from '../../kernel/fhir/identifiers';
import { isLang, t, type Lang, type MessageKey } from './i18n';
import { layout, type PageContext } from './layout';

const STATE_LOCAL = 'console';

/** A base to read a path (and query) against, to tell whether it stays on this site. */
export const ON_SITE = new URL('http://console.invalid');

/** What the console keeps per request in `res.locals`. */
export interface ConsoleState {
  lang: Lang;
  session?: ConsoleSession | undefined;
  /** The session cookie's token, to update or end the session. */
  token?: string | undefined;
  /** Seconds the session has left without the user doing anything (idle timeout, or less near its absolute end). */
  secondsLeft?: number | undefined;
}

export function setConsoleState(res: Response, state: ConsoleState): void {
  res.locals[STATE_LOCAL] = state;
}

export function getConsoleState(res: Response): ConsoleState {
  const state = res.locals[STATE_LOCAL] as ConsoleState | undefined;
  return state ?? { lang: 'nl' };
}

/** The page context of this request. */
export function pageOf(req: Request, res: Response): PageContext {
  const state = getConsoleState(res);
  const path = req.baseUrl + (req.path === '/' ? '' : req.path);
  // A GET's query is the page's filter or paging, never personal data (that is only ever posted): keep it.
  const query = req.method === 'GET' ? new URL(req.originalUrl, ON_SITE).search : '';
  return { lang: state.lang, session: state.session, secondsLeft: state.secondsLeft, path, back: path + query };
}

/** Sends a whole page. Console pages are never cached: they may hold personal data. */
export function sendPage(req: Request, res: Response, title: string, content: HtmlValue, status = 200): void {
  res
    .status(status)
    .type('html')
    .set('Cache-Control', 'no-store')
    .send(layout(pageOf(req, res), title, content));
}

/** A single text field of a urlencoded form body (or query), trimmed; undefined when absent or empty. */
export function field(source: unknown, name: string): string | undefined {
  if (typeof source !== 'object' || source === null) {
    return undefined;
  }
  const value = (source as Record<string, unknown>)[name];
  const text: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof text === 'string' && text.trim() !== '' ? text.trim() : undefined;
}

/** The page cursor of a list's address (`_page`), if any; a token this server did not make is a 400. */
export function pageCursorOf(query: unknown): TimeIdCursor | undefined {
  const token = field(query, '_page');
  return token !== undefined ? decodeTimeIdCursor(token) : undefined;
}

/** Parses the cookie header into a map (the few cookies the console sets; no library needed for that). */
export function cookiesOf(req: Request): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) {
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      try {
        out.set(name, decodeURIComponent(value));
      } catch {
        // A malformed cookie is ignored, as a browser would.
      }
    }
  }
  return out;
}

/** The language chosen by cookie, else Dutch. */
export function langOf(req: Request): Lang {
  const chosen = cookiesOf(req).get('jb_lang');
  return isLang(chosen) ? chosen : 'nl';
}

/**
 * What is wrong with a form's period (`from`, `to`: the first and the last day), in words, and which field it is
 * about: not dates (a form's date fields send YYYY-MM-DD; named by the fields' `labels`), or the wrong way round
 * (`wrongWay` says what that leaves; about `to`), which would otherwise find or export nothing, unsaid.
 */
export function periodProblem(
  lang: Lang,
  form: { readonly from?: string | undefined; readonly to?: string | undefined },
  wrongWay: MessageKey,
  labels: { readonly from: MessageKey; readonly to: MessageKey } = { from: 'from', to: 'to' },
): { readonly name: 'from' | 'to'; readonly words: string } | undefined {
  for (const name of ['from', 'to'] as const) {
    const value = form[name];
    if (value !== undefined && !isValidIsoDate(value)) {
      return { name, words: t(lang, 'invalidDate', t(lang, labels[name])) };
    }
  }
  return form.from !== undefined && form.to !== undefined && form.to < form.from
    ? { name: 'to', words: t(lang, wrongWay) }
    : undefined;
}
