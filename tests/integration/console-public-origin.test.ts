import { postSignIn } from '../helpers/console-client';
import { useTestApp } from '../helpers/test-runtime';

const PUBLIC = 'https://jeugdbrug.example.test';

/**
 * The README's production set-up: a proxy on another host terminates TLS and forwards plain HTTP, so the app (which
 * trusts `X-Forwarded-*` from loopback only) sees `http` and the proxy's idea of Host, while the browser's Origin is
 * the https address in PUBLIC_BASE_URL. The requests here come without X-Forwarded-Proto, as from such a proxy.
 */
describe('the console behind a TLS proxy: PUBLIC_BASE_URL is its origin', () => {
  const app = useTestApp({ env: { ROLE: 'api', PUBLIC_BASE_URL: `${PUBLIC}/` } });

  const sessionCookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('jb_session='));

  it('signs in from the public https origin, with a Secure session cookie, and takes the session’s POSTs', async () => {
    const res = await postSignIn(app, app.testEnv.keys.operator, { origin: PUBLIC });
    expect(res.status).toBe(303);
    const cookie = sessionCookieOf(res);
    expect(cookie).toMatch(/; Secure$/);
    const home = await fetch(`${app.url}/console/operator/destinations`, {
      headers: { cookie: cookie!.split(';')[0]! },
    });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] ?? '';
    const signOut = await fetch(`${app.url}/console/sign-out`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        origin: PUBLIC,
        cookie: cookie!.split(';')[0]!,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    });
    expect(signOut.status).toBe(303);
    expect(signOut.headers.get('location')).toBe('/console/sign-in?why=out');
  });

  it('takes a Referer on the public origin when there is no Origin', async () => {
    const res = await postSignIn(app, app.testEnv.keys.operator, { referer: `${PUBLIC}/console/sign-in` });
    expect(res.status).toBe(303);
  });

  it('still takes the request’s own origin (direct use), without Secure over plain HTTP', async () => {
    const res = await postSignIn(app, app.testEnv.keys.operator, { origin: app.url });
    expect(res.status).toBe(303);
    expect(sessionCookieOf(res)).not.toMatch(/Secure/);
  });

  it.each([
    ['another site', 'https://evil.example'],
    ['the public host over http', 'http://jeugdbrug.example.test'],
    ['the public host on another port', 'https://jeugdbrug.example.test:8443'],
    ['a look-alike host', 'https://jeugdbrug.example.test.evil.example'],
  ])('refuses %s as Origin (403, no session)', async (_what, origin) => {
    const res = await postSignIn(app, app.testEnv.keys.operator, { origin });
    expect(res.status).toBe(403);
    expect(sessionCookieOf(res)).toBeUndefined();
  });
});
