import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { generateApiKey, hashApiKey } from '../../src/access/api-keys';
import { OTHER_PRACTICE_AGB } from '../helpers/builders';
import { openConsole, postSignIn } from '../helpers/console-client';
import { Redis } from 'ioredis';
import { cleanupTestEnv, createTestEnv, startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { startJwksServer, type TestServer } from '../unit/auth/helpers';

const ISSUER = 'https://idp.example.test/realms/jeugdbrug';
const AUDIENCE = 'https://jeugdbrug.example.test/console';

describe('signing in to the console with a JWT, and what ends a session', () => {
  let jwks: TestServer;
  let key: KeyLike;
  let app: TestApp;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    jwks = await startJwksServer([{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }]);
    const testEnv = createTestEnv();
    const issuersFile = path.join(testEnv.dataDir, 'issuers.json');
    fs.writeFileSync(
      issuersFile,
      JSON.stringify([{ issuer: ISSUER, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE }]),
    );
    app = await startTestApp({ testEnv, env: { JWT_ISSUERS_FILE: issuersFile } });
  });

  afterAll(async () => {
    await app.close();
    await jwks.close();
    await cleanupTestEnv(app.testEnv);
  });

  const jwt = (claims: Record<string, unknown>, expiresInS = 300) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('privacy-officer-7')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInS)
      .sign(key);

  it('gives a JWT of a configured issuer the same principal as the API, in a session', async () => {
    const token = await jwt({ jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'], jeugdbrug_municipalities: ['*'] });
    const session = await openConsole(app, { credential: token });
    const page = await session.get('/console/auditor');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`jwt:${ISSUER}#privacy-officer-7`);
    expect((await session.get('/console/operator')).status).toBe(403);
  });

  it('refuses an expired JWT and an unknown API key with the sign-in page again (401), and no session', async () => {
    const expired = await jwt({ jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'] }, -600);
    for (const credential of [expired, 'jb_unknown_0000000000000000000000000000000000000000000']) {
      const res = await postSignIn(app, credential);
      expect(res.status).toBe(401);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('jb_session='))).toBe(false);
      expect(await res.text()).toContain('Aanmelden mislukt');
    }
  });

  it('refuses, saying so, a JWT that expired within the allowed clock skew instead of a session that ends at once', async () => {
    const justExpired = await jwt({ jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'] }, -30);
    const res = await postSignIn(app, justExpired);
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('jb_session='))).toBe(false);
    const page = await res.text();
    expect(page).toContain('Aanmelden mislukt');
    expect(page).toContain('verlopen');
  });

  it('logs a JWT subject only as a pseudonym at sign-in and on access lines, never as sent', async () => {
    const token = await jwt({ jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'], jeugdbrug_municipalities: ['*'] });
    const session = await openConsole(app, { credential: token });
    expect((await session.get('/console/auditor')).status).toBe(200);
    const lines = fs.readFileSync(app.testEnv.logFile, 'utf8').split('\n');
    const principals = lines.filter((l) => l.includes(`jwt:${ISSUER}#`));
    expect(principals.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('privacy-officer-7');
  });

  it('records each sign-in and sign-out in the system chain (DICOM 110114, 110122 Login / 110123 Logout, outcome 0)', async () => {
    const operator = `api-key:${app.testEnv.keys.operator.split('_')[1]!}`;
    const sessionsOf = () =>
      app.rt.ctx.db.query<{
        subtype: string;
        outcome: string;
        resource: { agent: { who?: unknown; role?: unknown; network?: unknown; type?: unknown }[] };
      }>(
        `SELECT subtype, outcome, resource::jsonb AS resource FROM audit_event
         WHERE tenant = 'system' AND type = '110114' AND outcome = '0' AND agents @> ARRAY[$1] ORDER BY seq`,
        [`https://jeugdbrug.nl/principal|${operator}`],
      );
    const before = (await sessionsOf()).length;
    const c = await openConsole(app, 'operator');
    expect((await c.post('/console/sign-out', {})).status).toBe(303);
    await app.rt.ctx.audit.flush();
    const rows = (await sessionsOf()).slice(before);
    expect(rows.map((r) => [r.subtype, r.outcome])).toEqual([
      ['110122', '0'],
      ['110123', '0'],
    ]);
    const text = JSON.stringify(rows);
    // A person, with the role and the client address; never the key.
    expect(text).toContain('humanuser');
    expect(text).toContain('"code":"operator"');
    expect(text).toContain('"network"');
    expect(text).not.toContain(app.testEnv.keys.operator.split('_')[2]!);
  });

  it('refuses a sign-in form without its own CSRF token', async () => {
    const res = await fetch(`${app.url}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ credential: app.testEnv.keys.auditor }).toString(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('jb_session='))).toBe(false);
  });

  it.each<[string, number, (url: string) => Record<string, string>]>([
    ['another Origin', 403, () => ({ origin: 'https://evil.example' })],
    ['neither Origin nor Referer', 403, () => ({})],
    ['a Referer from another site and no Origin', 403, () => ({ referer: 'https://evil.example/console/sign-in' })],
    ['a Referer on the console and no Origin', 303, (url) => ({ referer: `${url}/console/sign-in` })],
  ])('answers a sign-in with a valid token and %s with %d', async (_what, status, headers) => {
    const res = await postSignIn(app, app.testEnv.keys.auditor, headers(app.url));
    expect(res.status).toBe(status);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('jb_session='))).toBe(status === 303);
  });

  it('ends the sessions of an API key once it is revoked', async () => {
    const session = await openConsole(app, 'auditor');
    expect((await session.get('/console/auditor')).status).toBe(200);
    const file = app.testEnv.apiKeysFile;
    const entries = JSON.parse(fs.readFileSync(file, 'utf8')) as { id: string; disabled?: boolean }[];
    fs.writeFileSync(file, JSON.stringify(entries.map((e) => (e.id === 'auditor' ? { ...e, disabled: true } : e))));
    // The key file is watched (polled every 2 s); the next request after the reload finds the session ended.
    await waitForSessionEnd(() => session.get('/console/auditor'));
  });

  it('ends a JWT session when the token expires, and says so in the cookie: the IdP decides how long it lasts', async () => {
    const token = await jwt({ jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'] }, 3);
    const signIn = await postSignIn(app, token);
    expect(signIn.status).toBe(303);
    const cookie = signIn.headers.getSetCookie().find((c) => c.startsWith('jb_session='))!;
    expect(Number(/Max-Age=(\d+)/.exec(cookie)?.[1])).toBeLessThanOrEqual(3);
    const get = () =>
      fetch(`${app.url}/console/auditor`, { headers: { cookie: cookie.split(';')[0]! }, redirect: 'manual' });
    expect((await get()).status).toBe(200);
    // The server does not rely on the browser dropping the cookie: the session itself ends at the token's exp.
    await new Promise((r) => setTimeout(r, 3500));
    const after = await get();
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/console/sign-in?why=ended&back=%2Fconsole%2Fauditor');
  });

  it("answers a form sent after the session ended with a sign-in that says nothing was recorded, back to the form's page", async () => {
    const signIn = await postSignIn(app, app.testEnv.keys.operator);
    const cookie = signIn.headers
      .getSetCookie()
      .find((c) => c.startsWith('jb_session='))!
      .split(';')[0]!;
    const token = cookie.slice('jb_session='.length);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.del(`${app.testEnv.prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`);
    } finally {
      redis.disconnect();
    }
    const formPage = '/console/operator/destinations';
    const post = (referer: string) =>
      fetch(`${app.url}/console/operator/destinations/gm0226/pause`, {
        method: 'POST',
        redirect: 'manual',
        headers: { origin: app.url, referer, cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: 'of-the-ended-session', reason: 'onderhoud' }).toString(),
      });
    const res = await post(`${app.url}${formPage}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/console/sign-in?why=unsent&back=${encodeURIComponent(formPage)}`);
    const page = await (await fetch(`${app.url}${res.headers.get('location')}`)).text();
    expect(page).toContain('er is niets vastgelegd of verstuurd');
    expect(page).toContain(`name="back" value="${formPage}"`);
    // A Referer from elsewhere is no page to return to.
    const elsewhere = await post('https://evil.example/console/operator/destinations');
    expect(elsewhere.headers.get('location')).toBe('/console/sign-in?why=unsent');
  });

  /** Rewrites the key file's entry `id` with `change`, as an administrator editing api-keys.json would. */
  const changeKey = (id: string, change: (e: Record<string, unknown>) => Record<string, unknown>) => {
    const file = app.testEnv.apiKeysFile;
    const entries = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>[];
    fs.writeFileSync(file, JSON.stringify(entries.map((e) => (e.id === id ? change(e) : e))));
  };

  it('ends the sessions of an API key whose scope changed in the key file, as the API applies the new scope', async () => {
    const session = await openConsole(app, 'practice');
    expect((await session.get('/console/practice')).status).toBe(200);
    changeKey('practice', (e) => ({ ...e, practices: [OTHER_PRACTICE_AGB] }));
    await waitForSessionEnd(() => session.get('/console/practice'));
  });

  it('ends the sessions of an API key re-issued under the same id (a new secret), and keeps the others', async () => {
    const municipality = await openConsole(app, 'municipality');
    const operator = await openConsole(app, 'operator');
    const reissued = generateApiKey('municipality');
    changeKey('municipality', (e) => ({ ...e, hash: hashApiKey(reissued) }));
    await waitForSessionEnd(() => municipality.get('/console/municipality'));
    // The old secret is refused by the API as well; the new one signs in; the operator's session went on.
    expect((await app.request('/municipality/v1/referrals/r-1/status', { key: 'municipality' })).status).toBe(401);
    expect((await postSignIn(app, reissued)).status).toBe(303);
    expect((await operator.get('/console/operator')).status).toBe(200);
  });
});

async function waitForSessionEnd(get: () => Promise<Response>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await get();
    if (res.status === 303 && res.headers.get('location')?.startsWith('/console/sign-in?why=ended')) {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the session of a revoked key did not end');
}

describe('signing in from a link', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({});
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  // A link from mail or a ticket arrives without the SameSite=Strict cookie: signing in used to land on the role's
  // first page instead of the one linked.
  it('goes on to the page asked for after signing in, when it is one of the role’s, else to the role’s first page', async () => {
    const asked = '/console/operator/dead-letters?destination=gm0226&status=422';
    const first = await fetch(`${app.url}${asked}`, { redirect: 'manual' });
    expect(first.headers.get('location')).toBe(`/console/sign-in?back=${encodeURIComponent(asked)}`);
    const signInWith = async (key: string, back: string) => {
      const form = await fetch(`${app.url}/console/sign-in?back=${encodeURIComponent(back)}`);
      const page = await form.text();
      if (back.startsWith('/console')) {
        expect(page).toContain(`name="back" value="${back.replaceAll('&', '&amp;')}"`);
      } else {
        expect(page).not.toContain('name="back"'); // not even carried along
      }
      return fetch(`${app.url}/console/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          origin: app.url,
          cookie: form.headers
            .getSetCookie()
            .find((c) => c.startsWith('jb_signin='))!
            .split(';')[0]!,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          _csrf: /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '',
          credential: key,
          back,
        }).toString(),
      });
    };
    expect((await signInWith(app.testEnv.keys.operator, asked)).headers.get('location')).toBe(asked);
    // Another role's page, or somewhere else: the role's own first page.
    const municipality = app.testEnv.keys.municipality;
    expect((await signInWith(municipality, asked)).headers.get('location')).toBe('/console/municipality');
    expect((await signInWith(municipality, 'https://evil.example/console')).headers.get('location')).toBe(
      '/console/municipality',
    );
  });
});
