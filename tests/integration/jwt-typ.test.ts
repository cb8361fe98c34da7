import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { readIssuersFile } from '../../src/access/jwt';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { startJwksServer, type TestServer } from '../unit/auth/helpers';

// Two issuers on one key set: one that asks for RFC 9068 access tokens, one as issuers are configured today.
const STRICT = 'https://idp.example.test/realms/strict';
const LENIENT = 'https://idp.example.test/realms/lenient';
const AUDIENCE = 'https://jeugdbrug.example.test/api';

describe('the typ header of a JWT access token (RFC 9068), per issuer', () => {
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
      JSON.stringify([
        { issuer: STRICT, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE, requiredTyp: 'at+jwt' },
        { issuer: LENIENT, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE },
      ]),
    );
    app = await startTestApp({ testEnv, env: { JWT_ISSUERS_FILE: issuersFile } });
  });

  afterAll(async () => {
    await app.close();
    await jwks.close();
    await cleanupTestEnv(app.testEnv);
  });

  const token = (issuer: string, typ: string | undefined, claims: Record<string, unknown> = {}) =>
    new SignJWT({ jeugdbrug_role: 'operator', jeugdbrug_practices: ['*'], jeugdbrug_municipalities: ['*'], ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...(typ === undefined ? {} : { typ }) })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('client-9')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  const status = async (jwt: string) => {
    const res = await app.request('/admin/v1/queues', { key: null, headers: { authorization: `Bearer ${jwt}` } });
    return { status: res.status, text: res.status === 200 ? '' : JSON.stringify(await res.json()) };
  };

  it.each([['at+jwt'], ['application/at+jwt'], ['AT+JWT']])(
    'accepts typ %s from an issuer with requiredTyp at+jwt',
    async (typ) => {
      expect((await status(await token(STRICT, typ))).status).toBe(200);
    },
  );

  it.each([['JWT'], [undefined]])(
    'refuses typ %s from an issuer with requiredTyp at+jwt: 401 saying the token is no access token',
    async (typ) => {
      const answer = await status(await token(STRICT, typ));
      expect(answer.status).toBe(401);
      expect(answer.text).toContain('typ');
    },
  );

  it('accepts typ JWT from an issuer without requiredTyp (the default: not enforced)', async () => {
    expect((await status(await token(LENIENT, 'JWT'))).status).toBe(200);
  });

  it('refuses an issuers file whose requiredTyp is not an access token type', () => {
    const file = path.join(app.testEnv.dataDir, 'bad-issuers.json');
    fs.writeFileSync(
      file,
      JSON.stringify([{ issuer: STRICT, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE, requiredTyp: 'JWT' }]),
    );
    expect(() => readIssuersFile(file)).toThrow(/requiredTyp/);
  });
});
