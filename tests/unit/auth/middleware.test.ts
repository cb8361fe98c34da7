import type { OperationOutcome } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { ApiKeyStore, createApiKeyEntry } from '../../../src/access/api-keys';
import { createAuthenticator, getPrincipal, requireRole, tryGetPrincipal } from '../../../src/access/authenticate';
import { issueTexts, startApp, startJwksServer, type TestServer } from './helpers';

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'jeugdbrug';

let jwks: TestServer;
let app: TestServer;
let signingKey: KeyLike;
let practiceKey: string;
let operatorKey: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  jwks = await startJwksServer([{ ...(await exportJWK(pair.publicKey)), kid: 'k1' }]);

  const practice = createApiKeyEntry({ role: 'practice', practices: ['01234567'], id: 'his-a' }, []);
  const operator = createApiKeyEntry({ role: 'operator', id: 'ops' }, practice.entries);
  practiceKey = practice.key;
  operatorKey = operator.key;

  const authenticate = createAuthenticator({
    apiKeys: new ApiKeyStore(operator.entries),
    issuers: [
      {
        issuer: ISSUER,
        jwksUri: `${jwks.url}/jwks`,
        audience: AUDIENCE,
        roleClaim: 'jeugdbrug_role',
        practicesClaim: 'jeugdbrug_practices',
        municipalitiesClaim: 'jeugdbrug_municipalities',
        allowedRoles: ['practice', 'municipality', 'auditor', 'operator'],
        algorithms: ['ES256'],
      },
    ],
    clockSkewSeconds: 60,
  });
  app = await startApp((a) => {
    // Before the authenticator: nobody is known yet.
    a.get('/public', (_req, res) => {
      res.json({ principal: tryGetPrincipal(res) ?? null });
    });
    a.get('/forgot-authentication', (_req, res) => {
      res.json(getPrincipal(res));
    });
    a.use(authenticate);
    a.get('/whoami', (_req, res) => {
      res.json(getPrincipal(res));
    });
    a.get('/operations', requireRole('operator'), (_req, res) => {
      res.json({ ok: true });
    });
  });
});

afterAll(async () => {
  await app.close();
  await jwks.close();
});

function jwt(expiresInSeconds: number): Promise<string> {
  return new SignJWT({ jeugdbrug_role: 'municipality', jeugdbrug_municipalities: ['GM0226'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('gm-overbetuwe')
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(signingKey);
}

async function get(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${app.url}${path}`, { headers });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe('createAuthenticator', () => {
  it.each<[string, () => Promise<Record<string, string>> | Record<string, string>, object]>([
    [
      'an API key as a bearer token',
      () => ({ authorization: `Bearer ${practiceKey}` }),
      { id: 'api-key:his-a', via: 'api-key' },
    ],
    ['an API key in X-API-Key', () => ({ 'x-api-key': practiceKey }), { id: 'api-key:his-a', role: 'practice' }],
    [
      'a lower-case bearer scheme',
      () => ({ authorization: `bearer ${operatorKey}` }),
      { id: 'api-key:ops', role: 'operator' },
    ],
    [
      'a JWT as a bearer token',
      async () => ({ authorization: `Bearer ${await jwt(300)}` }),
      { id: `jwt:${ISSUER}#gm-overbetuwe`, role: 'municipality', municipalities: ['GM0226'], via: 'jwt' },
    ],
  ])('sets the principal for %s', async (_name, headers, expected) => {
    const res = await get('/whoami', await headers());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject(expected);
  });

  const invalid = 'Bearer realm="jeugdbrug", error="invalid_token"';
  it.each<[string, () => Promise<Record<string, string>> | Record<string, string>, string, string]>([
    ['no credentials', () => ({}), 'Authentication required', 'Bearer realm="jeugdbrug"'],
    [
      'a tampered API key',
      () => ({ authorization: `Bearer ${practiceKey.slice(0, -2)}xx` }),
      'Invalid API key',
      invalid,
    ],
    ['X-API-Key without the jb_ prefix', () => ({ 'x-api-key': practiceKey.slice(3) }), 'Invalid API key', invalid],
    ['an expired JWT', async () => ({ authorization: `Bearer ${await jwt(-120)}` }), 'Token expired', invalid],
    ['a bearer token that is not a JWT', () => ({ authorization: 'Bearer abc.def' }), 'Token is malformed', invalid],
    [
      'Basic authentication',
      () => ({ authorization: 'Basic dXNlcjpwYXNz' }),
      'Unsupported authorization scheme',
      invalid,
    ],
    ['an empty bearer token', () => ({ authorization: 'Bearer ' }), 'Bearer token is empty', invalid],
    [
      'two bearer tokens',
      () => ({ authorization: `Bearer ${practiceKey} ${practiceKey}` }),
      'Bearer takes one token, without spaces',
      invalid,
    ],
    [
      'a bearer token with characters no token has',
      () => ({ authorization: 'Bearer ab"cd' }),
      'Bearer token has characters a token cannot hold',
      invalid,
    ],
    [
      'both Authorization and X-API-Key',
      () => ({ authorization: `Bearer ${operatorKey}`, 'x-api-key': practiceKey }),
      'Send one credential',
      invalid,
    ],
  ])('answers 401 through the error handler for %s', async (_name, headers, text, wwwAuthenticate) => {
    const res = await get('/whoami', await headers());
    expect(res.status).toBe(401);
    const outcome = res.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(issueTexts(outcome).join(' | ')).toContain(text);
    expect(res.headers.get('www-authenticate')).toBe(wwwAuthenticate);
  });

  it('does not echo the credential in the error', async () => {
    const tampered = `${practiceKey.slice(0, -2)}xx`;
    const res = await fetch(`${app.url}/whoami`, { headers: { 'x-api-key': tampered } });
    expect(await res.text()).not.toContain(tampered.slice(10));
  });
});

describe('getPrincipal and tryGetPrincipal', () => {
  it('gives undefined before authentication', async () => {
    await expect(get('/public', { authorization: `Bearer ${practiceKey}` })).resolves.toMatchObject({
      status: 200,
      body: { principal: null },
    });
  });

  it('throws a 401 when a route forgot to authenticate', async () => {
    const res = await get('/forgot-authentication', { authorization: `Bearer ${practiceKey}` });
    expect(res.status).toBe(401);
    expect((res.body as OperationOutcome).id).toBe('unauthorized');
  });
});

describe('requireRole', () => {
  it.each([
    ['lets an operator through', () => operatorKey, 200],
    ['answers 403 to a practice', () => practiceKey, 403],
  ])('%s', async (_name, key, status) => {
    const res = await get('/operations', { 'x-api-key': key() });
    expect(res.status).toBe(status);
    if (status === 403) {
      expect((res.body as OperationOutcome).id).toBe('forbidden');
    }
  });
});
