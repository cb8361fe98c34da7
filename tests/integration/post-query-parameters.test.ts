import { randomUUID } from 'node:crypto';
import { openConsole, postSignIn, type ConsoleClient } from '../helpers/console-client';
import { servedRoutesOf } from '../helpers/app-routes';
import { useTestApp, type KeyName } from '../helpers/test-runtime';

// The GET routes, `POST /his/v1/events`, the status and trajectory POSTs and `$explain` answered a query parameter
// they do not take with a 400 naming it (NO_QUERY); the admin routes and the console's forms took `?x=1` and acted
// as if it were not there. Every POST route is found by walking the app's routes, so one added later is held to it.
describe('a query parameter a POST route does not take', () => {
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
  const UNKNOWN = 'zz_unknown';
  let posts: string[];

  beforeAll(() => {
    const routes = servedRoutesOf(app);
    posts = routes
      .filter((r) => r.route.startsWith('POST '))
      .map((r) => r.route.slice('POST '.length).replace(/\{\w+\}/g, randomUUID()))
      // A router's own `/` is served at its mount's path (`/console/auditor`).
      .map((path) => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path));
  });

  /**
   * Routes with rules of their own: a FHIR search by POST takes its parameters in the URL and the body alike; the
   * audit's POST forms refuse any query as such ("the parameters go in the body"), naming the URL.
   */
  const own = (path: string) => /^\/fhir\/[^/]+\/_search$/.test(path) || path.startsWith('/audit/');

  /** The key that may use an API route, so that the refusal is about the query, not the caller. */
  const keyOf = (path: string): KeyName =>
    path.startsWith('/his/')
      ? 'practice'
      : path.startsWith('/policy/') || path.startsWith('/audit/')
        ? 'auditor'
        : path.startsWith('/municipality/') || path === '/fhir/Task'
          ? 'municipality'
          : 'operator';

  it('is refused by every API POST route with a 400 OperationOutcome naming it', async () => {
    const api = posts.filter((p) => !p.startsWith('/console/') && !own(p));
    expect(api).toEqual(expect.arrayContaining(['/admin/v1/dead-letters/replay', '/fhir/Task', '/his/v1/events']));
    const answers: Record<string, unknown> = {};
    for (const path of api) {
      const res = await app.request(`${path}?${UNKNOWN}=1`, { key: keyOf(path), json: {} });
      const body = (await res.json()) as { resourceType?: string; issue?: { expression?: string[] }[] };
      const named = (body.issue ?? []).some((i) => i.expression?.includes(UNKNOWN));
      answers[path] = { status: res.status, resourceType: body.resourceType, named };
    }
    const refused = { status: 400, resourceType: 'OperationOutcome', named: true };
    expect(answers).toEqual(Object.fromEntries(api.map((p) => [p, refused])));
  });

  it("is refused by every console form on the console's own error page, naming it", async () => {
    const forms = posts.filter((p) => p.startsWith('/console/') && p !== '/console/sign-in');
    expect(forms.length).toBeGreaterThan(15);
    const sessions = new Map<string, ConsoleClient>();
    const sessionFor = async (path: string): Promise<ConsoleClient> => {
      const role = /^\/console\/(auditor|operator|municipality|practice)\//.exec(path)?.[1] ?? 'operator';
      const key = role as KeyName;
      const open = sessions.get(key) ?? (await openConsole(app, key));
      sessions.set(key, open);
      return open;
    };
    const answers: Record<string, unknown> = {};
    for (const path of forms) {
      const res = await (await sessionFor(path)).post(`${path}?${UNKNOWN}=1`, {});
      const page = await res.text();
      answers[path] = { status: res.status, html: res.headers.get('content-type'), named: page.includes(UNKNOWN) };
    }
    const refused = { status: 400, html: 'text/html; charset=utf-8', named: true };
    expect(answers).toEqual(Object.fromEntries(forms.map((p) => [p, refused])));
    // Signed out by none of them: the session still opens a page.
    expect((await (await sessionFor('/console/operator')).get('/console/operator/dead-letters')).status).toBe(200);
  });

  it('is refused by the sign-in form as well, and no session is made', async () => {
    const form = await fetch(`${app.url}/console/sign-in`);
    const signedIn = await postSignIn(app, app.testEnv.keys.operator);
    expect(signedIn.status).toBe(303); // the form as such signs in
    const cookie = form.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const res = await fetch(`${app.url}/console/sign-in?${UNKNOWN}=1`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: app.url, cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, credential: app.testEnv.keys.operator }).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(UNKNOWN);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('jb_session=') && !c.includes('Max-Age=0'))).toBe(false);
  });
});
