import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from './test-runtime';
import { waitFor } from './wait-for';

/** A console session opened without a browser: sign-in form, cookie and CSRF token, for fetch-level tests. */
export interface ConsoleClient {
  readonly csrf: string;
  /** A GET with the session cookie (and `cookie`, e.g. `jb_lang=en`, beside it). */
  get(pathname: string, opts?: { cookie?: string }): Promise<Response>;
  /** Posts a form with the session and its CSRF token (and `headers`, and `cookie` such as `jb_lang=en`, beside them). */
  post(
    pathname: string,
    form: Record<string, string>,
    opts?: { headers?: Record<string, string>; cookie?: string },
  ): Promise<Response>;
  /** Posts a form as a browser submits it: a 303 answer is followed by a GET of its Location. */
  submit(pathname: string, form: Record<string, string>): Promise<Response>;
}

function cookieOf(res: Response, name: string): string {
  const found = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  if (!found) {
    throw new Error(`no ${name} cookie in the answer (${res.status})`);
  }
  return found.split(';')[0] ?? '';
}

const csrfOf = (page: string): string => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

/**
 * Posts the sign-in form with a credential, as a browser would (with its Origin; `origin` headers replace that one,
 * `{}` sends none); the answer is not followed. `cookie` (e.g. `jb_lang=en`) goes beside the form's own.
 */
export async function postSignIn(
  app: TestApp,
  credential: string,
  origin: Record<string, string> = { origin: app.url },
  cookie?: string,
): Promise<Response> {
  const form = await fetch(`${app.url}/console/sign-in`);
  return fetch(`${app.url}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...origin,
      cookie: [cookieOf(form, 'jb_signin'), ...(cookie ? [cookie] : [])].join('; '),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ _csrf: csrfOf(await form.text()), credential }).toString(),
  });
}

/** Signs in on `/console/sign-in` with the test key of `key` (or a credential such as a JWT). */
export async function openConsole(app: TestApp, key: KeyName | { credential: string }): Promise<ConsoleClient> {
  const credential = typeof key === 'string' ? app.testEnv.keys[key] : key.credential;
  // The session store's Redis connection fails fast (503) rather than queue commands: on a loaded machine it may
  // still be connecting just after the app started (ROLE=api starts quickly), so a 503 is asked again, briefly.
  const signIn = await waitFor(
    'a sign-in answer other than 503',
    async () => {
      const res = await postSignIn(app, credential);
      return res.status === 503 ? undefined : res;
    },
    10_000,
    200,
  );
  if (signIn.status !== 303) {
    throw new Error(`console sign-in failed: ${signIn.status}`);
  }
  return sessionOf(app, signIn);
}

async function sessionOf(app: TestApp, signIn: Response): Promise<ConsoleClient> {
  const cookie = cookieOf(signIn, 'jb_session');
  const home = await fetch(`${app.url}${signIn.headers.get('location') ?? '/console'}`, { headers: { cookie } });
  const csrf = csrfOf(await home.text());
  const get = (pathname: string, opts: { cookie?: string } = {}) =>
    fetch(`${app.url}${pathname}`, {
      headers: { cookie: opts.cookie ? `${cookie}; ${opts.cookie}` : cookie },
      redirect: 'manual',
    });
  const post = (
    pathname: string,
    body: Record<string, string>,
    opts: { headers?: Record<string, string>; cookie?: string } = {},
  ) =>
    fetch(`${app.url}${pathname}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        ...opts.headers,
        origin: app.url,
        cookie: opts.cookie ? `${cookie}; ${opts.cookie}` : cookie,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ _csrf: csrf, ...body }).toString(),
    });
  return {
    csrf,
    get,
    post,
    async submit(pathname, body) {
      const res = await post(pathname, body);
      const location = res.headers.get('location');
      return res.status === 303 && location !== null ? get(location) : res;
    },
  };
}

/**
 * The fields of the form in `page` that posts to `action`, as a browser would send them (the CSRF token left out: the
 * client adds its own), to post a form exactly as the page offered it.
 */
export function formFields(page: string, action: string): Record<string, string> {
  const at = page.indexOf(`action="${action}"`);
  const form = at < 0 ? undefined : page.slice(at, page.indexOf('</form>', at));
  if (form === undefined) {
    throw new Error(`no form posting to ${action} on the page`);
  }
  const fields: Record<string, string> = {};
  for (const input of form.matchAll(/<input\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(input[0])?.[1];
    if (name !== undefined && name !== '_csrf') {
      fields[name] = unescapeHtml(/\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '');
    }
  }
  return fields;
}

function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * For a describe block: the product without workers (ROLE=api: nothing moves unless a test moves it) and a console
 * signed in for each key, started before the block's tests and stopped (storage cleaned up) after them. Read `app`
 * and the clients inside the tests.
 */
export function useConsoleApp<K extends KeyName>(
  keys: readonly K[],
  opts: Omit<Parameters<typeof startTestApp>[0], 'env'> = {},
): { readonly app: TestApp; readonly consoles: Readonly<Record<K, ConsoleClient>> } {
  let app: TestApp | undefined;
  const consoles = {} as Record<K, ConsoleClient>;
  beforeAll(async () => {
    app = await startTestApp({ ...opts, env: { ROLE: 'api' } });
    for (const key of keys) {
      consoles[key] = await openConsole(app, key);
    }
  });
  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });
  return {
    get app(): TestApp {
      if (!app) {
        throw new Error('useConsoleApp: the app is not started yet (read it inside a test)');
      }
      return app;
    },
    consoles,
  };
}
