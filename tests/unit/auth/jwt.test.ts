import fs from 'node:fs';
import path from 'node:path';
import { unauthorizedTokenAudience, unauthorizedTokenExpired } from '@medplum/core';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type KeyLike } from 'jose';
import { ConfigError } from '../../../src/kernel/config';
import { unauthorizedTokenNotYetValid } from '../../../src/access/auth-outcomes';
import { createJwtVerifier, parseIssuersFile, type IssuerConfigInput, type JwtVerifier } from '../../../src/access/jwt';
import { deadUrl, issueTexts, outcomeErrorOf, startJwksServer, type TestServer } from './helpers';

const ISSUER = 'https://idp.example.test/realms/his';
const AUDIENCE = 'https://jeugdbrug.example.test/fhir';
const KID = 'key-1';

let jwks: TestServer;
let signingKey: KeyLike;
let otherKey: KeyLike;
let verifier: JwtVerifier;

function issuer(overrides: Partial<IssuerConfigInput> = {}): IssuerConfigInput {
  return { issuer: ISSUER, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE, ...overrides };
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  jwks = await startJwksServer([publicJwk]);
  verifier = createJwtVerifier(parseIssuersFile([issuer()], 'issuers.json'), { clockSkewSeconds: 60 });
});

afterAll(async () => {
  await jwks.close();
});

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface TokenOptions {
  claims?: Record<string, unknown>;
  key?: KeyLike;
  iss?: string;
  aud?: string;
  sub?: string | null;
  /** Seconds from now. */
  exp?: number | null;
  nbf?: number;
}

/** A signed token with sensible defaults: a practice client of the configured issuer, valid for five minutes. */
function token(o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ jeugdbrug_role: 'practice', jeugdbrug_practices: ['01234567'], ...o.claims })
    .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt();
  if (o.sub !== null) {
    jwt.setSubject(o.sub ?? 'his-vendor-a');
  }
  if (o.exp !== null) {
    jwt.setExpirationTime(nowSeconds() + (o.exp ?? 300));
  }
  if (o.nbf !== undefined) {
    jwt.setNotBefore(nowSeconds() + o.nbf);
  }
  return jwt.sign(o.key ?? signingKey);
}

describe('JWT verification', () => {
  it('turns a valid token into a principal that keeps only subject and scope', async () => {
    const principal = await verifier.verify(
      await token({ claims: { name: 'Jan Jansen', email: 'jan@example.test', jeugdbrug_municipalities: ['GM0226'] } }),
    );
    expect(principal).toEqual({
      id: `jwt:${ISSUER}#his-vendor-a`,
      role: 'practice',
      practices: ['01234567'],
      municipalities: ['GM0226'],
      via: 'jwt',
    });
  });

  it.each<[string, TokenOptions]>([
    ['a token that expired within the clock skew', { exp: -30 }],
    ['a token that becomes valid within the clock skew', { nbf: 30 }],
    ['an auditor token with all practices', { claims: { jeugdbrug_role: 'auditor', jeugdbrug_practices: ['*'] } }],
  ])('accepts %s', async (_name, options) => {
    await expect(verifier.verify(await token(options))).resolves.toMatchObject({ via: 'jwt' });
  });

  const malformed = ['Unauthorized', 'Token is malformed'];
  const badSignature = ['Unauthorized', 'Token signature is invalid'];
  // Since report-xhis X5 a refused role or scope names the claim and the shape it must have (was one coarse text,
  // "Token does not grant a valid jeugdbrug role and scope", which left an IdP admin guessing).
  const badRole = [
    'Unauthorized',
    "Token's jeugdbrug_role claim must be one of practice, municipality, auditor, operator",
  ];
  const badPractices = [
    'Unauthorized',
    "Token's jeugdbrug_practices claim must be an array of AGB codes of 8 digits (or '*'), or one string of them " +
      'separated by spaces',
  ];
  it.each<[string, () => Promise<string>, (string | undefined)[]]>([
    ['an expired token', () => token({ exp: -120 }), issueTexts(unauthorizedTokenExpired)],
    ['a token not yet valid beyond the skew', () => token({ nbf: 120 }), issueTexts(unauthorizedTokenNotYetValid)],
    [
      'a token for another audience',
      () => token({ aud: 'https://other.example.test' }),
      issueTexts(unauthorizedTokenAudience),
    ],
    ['a token signed with another key', () => token({ key: otherKey }), badSignature],
    [
      'a token from an unknown issuer',
      () => token({ iss: 'https://evil.example.test' }),
      ['Unauthorized', 'Token issuer is not trusted'],
    ],
    ['a token without an issuer', () => token({ iss: '' }), ['Unauthorized', 'Token issuer is not trusted']],
    ['a token without exp', () => token({ exp: null }), ['Unauthorized', 'Token has no exp claim']],
    ['a token without sub', () => token({ sub: null }), ['Unauthorized', 'Token has no sub claim']],
    ['a token with an empty sub', () => token({ sub: '' }), ['Unauthorized', 'Token has no sub claim']],
    [
      'a token whose sub is a number',
      () => token({ sub: null, claims: { sub: 42 } }),
      ['Unauthorized', "Token's sub claim has the wrong type"],
    ],
    ['a token without a role', () => token({ claims: { jeugdbrug_role: undefined } }), badRole],
    ['a token with an unknown role', () => token({ claims: { jeugdbrug_role: 'admin' } }), badRole],
    [
      'a practice token for all practices',
      () => token({ claims: { jeugdbrug_practices: ['*'] } }),
      ['Unauthorized', "Token's jeugdbrug_practices claim: '*' is only allowed for roles auditor, operator"],
    ],
    ['a practice token with a bad AGB code', () => token({ claims: { jeugdbrug_practices: ['0123'] } }), badPractices],
    [
      'a token whose scope is a number, not an array or a string',
      () => token({ claims: { jeugdbrug_practices: 1234567 } }),
      badPractices,
    ],
    [
      'a token whose scope is a string with a bad code',
      () => token({ claims: { jeugdbrug_practices: '01234567 0765' } }),
      badPractices,
    ],
    [
      'a practice token without practices',
      () => token({ claims: { jeugdbrug_practices: undefined } }),
      ['Unauthorized', "Token's jeugdbrug_practices claim: a practice needs at least one AGB code"],
    ],
    [
      'a municipality token with a bad municipality code',
      () => token({ claims: { jeugdbrug_role: 'municipality', jeugdbrug_municipalities: ['0226'] } }),
      [
        'Unauthorized',
        "Token's jeugdbrug_municipalities claim must be an array of CBS municipality codes such as GM0226 (or '*'), " +
          'or one string of them separated by spaces',
      ],
    ],
    ['a token that is not a JWT', () => Promise.resolve('not-a-jwt'), malformed],
    ['a token whose payload is not JSON', () => Promise.resolve('eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln'), malformed],
    [
      'an unsigned token (alg none)',
      () =>
        Promise.resolve(
          new UnsecuredJWT({ jeugdbrug_role: 'operator' })
            .setIssuer(ISSUER)
            .setAudience(AUDIENCE)
            .setSubject('x')
            .setExpirationTime('5m')
            .encode(),
        ),
      badSignature,
    ],
    [
      'a token signed with HMAC',
      () =>
        new SignJWT({ jeugdbrug_role: 'operator' })
          .setProtectedHeader({ alg: 'HS256', kid: KID })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('x')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('a shared secret that nobody configured')),
      badSignature,
    ],
  ])('refuses %s with a 401 saying why', async (_name, make, texts) => {
    const err = await outcomeErrorOf(async () => verifier.verify(await make()));
    expect(httpStatusOf(err.outcome)).toBe(401);
    expect(issueTexts(err.outcome)).toEqual(texts);
  });

  it('refuses a role the issuer may not grant', async () => {
    const limited = createJwtVerifier(parseIssuersFile([issuer({ allowedRoles: ['practice'] })], 'issuers.json'));
    await expect(limited.verify(await token())).resolves.toMatchObject({ role: 'practice' });
    const err = await outcomeErrorOf(async () =>
      limited.verify(await token({ claims: { jeugdbrug_role: 'operator', jeugdbrug_practices: [] } })),
    );
    expect(issueTexts(err.outcome)).toEqual(['Unauthorized', "Token's jeugdbrug_role claim must be one of practice"]);
  });

  // An IdP admin often cannot make a claim an array; OAuth's own `scope` is a space-separated string.
  it.each([
    ['one code as a string', '01234567', ['01234567']],
    ['codes separated by spaces, as OAuth scope', ' 01234567  07654321 ', ['01234567', '07654321']],
  ])('takes a practice claim of %s', async (_name, claim, practices) => {
    await expect(verifier.verify(await token({ claims: { jeugdbrug_practices: claim } }))).resolves.toMatchObject({
      practices,
    });
  });

  it('names Authorization on every 401, an expired token and another audience included', async () => {
    for (const options of [{ exp: -120 }, { aud: 'https://other.example.test' }] satisfies TokenOptions[]) {
      const err = await outcomeErrorOf(async () => verifier.verify(await token(options)));
      expect(err.outcome.issue?.map((i) => i.expression)).toEqual([['Authorization'], ['Authorization']]);
    }
  });

  it('reads role and scope from configured claim names', async () => {
    const custom = createJwtVerifier(
      parseIssuersFile([issuer({ roleClaim: 'role', municipalitiesClaim: 'gm' })], 'issuers.json'),
    );
    const principal = await custom.verify(await token({ claims: { role: 'municipality', gm: ['GM1734'] } }));
    expect(principal).toMatchObject({ role: 'municipality', municipalities: ['GM1734'] });
  });

  it("refuses a token valid for longer than its issuer's maxLifetimeS (401 naming exp), and takes one within it", async () => {
    const bounded = createJwtVerifier(parseIssuersFile([issuer({ maxLifetimeS: 3600 })], 'issuers.json'));
    await expect(bounded.verify(await token({ exp: 3000 }))).resolves.toMatchObject({ role: 'practice' });
    const err = await outcomeErrorOf(async () => bounded.verify(await token({ exp: 10 * 365 * 24 * 3600 })));
    expect(httpStatusOf(err.outcome)).toBe(401);
    expect(issueTexts(err.outcome).join(' ')).toContain('exp');
  });

  it('honours a smaller clock skew', async () => {
    const strict = createJwtVerifier(parseIssuersFile([issuer()], 'issuers.json'), { clockSkewSeconds: 0 });
    const err = await outcomeErrorOf(async () => strict.verify(await token({ exp: -30 })));
    // Its texts; it names Authorization too since report-xhis X5 (@medplum/core's own outcome names no field).
    expect(issueTexts(err.outcome)).toEqual(issueTexts(unauthorizedTokenExpired));
  });

  it('answers 503, not 401, when the issuer key set cannot be fetched', async () => {
    const offline = createJwtVerifier(parseIssuersFile([issuer({ jwksUri: `${await deadUrl()}/jwks` })], 'x'));
    const err = await outcomeErrorOf(async () => offline.verify(await token()));
    expect(httpStatusOf(err.outcome)).toBe(503);
  });

  it.each([-1, 301, Number.NaN])('refuses a clock skew of %p seconds', (skew) => {
    expect(() => createJwtVerifier([], { clockSkewSeconds: skew })).toThrow(ConfigError);
  });
});

describe('parseIssuersFile', () => {
  const base = { issuer: ISSUER, jwksUri: 'https://idp.example.test/jwks', audience: AUDIENCE };

  it('applies the default claim names, roles and algorithms', () => {
    expect(parseIssuersFile([base], 'issuers.json')).toEqual([
      {
        ...base,
        roleClaim: 'jeugdbrug_role',
        practicesClaim: 'jeugdbrug_practices',
        municipalitiesClaim: 'jeugdbrug_municipalities',
        allowedRoles: ['practice', 'municipality', 'auditor', 'operator'],
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      },
    ]);
  });

  it.each([
    ['a file that is not an array', base, 'issuers.json: expected an array'],
    ['a missing audience', [{ ...base, audience: undefined }], 'issuers.json: issuer 0: audience:'],
    ['an empty audience list', [{ ...base, audience: [] }], 'issuer 0: audience:'],
    [
      'plain http to another host',
      [{ ...base, jwksUri: 'http://idp.example.test/jwks' }],
      'issuer 0: jwksUri: https is required',
    ],
    ['a jwksUri that is not a URL', [{ ...base, jwksUri: 'idp' }], 'issuer 0: jwksUri:'],
    ['a symmetric algorithm', [{ ...base, algorithms: ['HS256'] }], 'issuer 0: algorithms.0:'],
    ['an unknown role', [{ ...base, allowedRoles: ['admin'] }], 'issuer 0: allowedRoles.0:'],
    ['a misspelt field', [{ ...base, roleclaim: 'x' }], 'issuer 0: Unrecognized key: "roleclaim"'],
    ['the same issuer twice', [base, base], 'issuer 1: issuer: "https://idp.example.test/realms/his" appears twice'],
  ])('names the issuer and field for %s', (_name, value, message) => {
    expect(() => parseIssuersFile(value, 'issuers.json')).toThrow(ConfigError);
    expect(() => parseIssuersFile(value, 'issuers.json')).toThrow(message);
  });

  it('allows plain http on the loopback interface', () => {
    expect(() => parseIssuersFile([{ ...base, jwksUri: 'http://127.0.0.1:8081/jwks' }], 'issuers.json')).not.toThrow();
  });
});

// report-xhis X5: the issuer file and the claims a token needs were undocumented. The README's examples must work.
describe("the README's example issuer file and token", () => {
  const section = fs
    .readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8')
    .split('### Tokens from an identity provider')[1]!
    .split('\n### ')[0]!;
  const [issuersJson, payloadJson] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map(
    (m) => JSON.parse(m[1]!) as unknown,
  ) as [IssuerConfigInput[], Record<string, unknown>];

  it('parses as an issuer file, and its token is taken as the practice it names', async () => {
    const [example] = parseIssuersFile(issuersJson, 'README.md');
    expect(example).toMatchObject({ roleClaim: 'jeugdbrug_role', practicesClaim: 'jeugdbrug_practices' });
    // The README's issuer with the test's key set in place of its own.
    const readmeVerifier = createJwtVerifier(
      parseIssuersFile([{ ...issuersJson[0], jwksUri: `${jwks.url}/jwks` }], 'x'),
    );
    const { iss, aud, sub, exp, ...claims } = payloadJson;
    expect(exp).toBeGreaterThan(nowSeconds());
    const signed = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: KID })
      .setIssuer(iss as string)
      .setAudience(aud as string)
      .setSubject(sub as string)
      // The README's issuer takes tokens expiring within its maxLifetimeS: the example's exp, or sooner as it says.
      .setExpirationTime(Math.min(exp as number, nowSeconds() + (example?.maxLifetimeS ?? Infinity)))
      .sign(signingKey);
    await expect(readmeVerifier.verify(signed)).resolves.toMatchObject({ role: 'practice', practices: ['01234567'] });
    // As written, the example's exp lies further ahead than the issuer allows: the README says it is refused.
    const asWritten = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: KID })
      .setIssuer(iss as string)
      .setAudience(aud as string)
      .setSubject(sub as string)
      .setExpirationTime(exp as number)
      .sign(signingKey);
    await expect(readmeVerifier.verify(asWritten)).rejects.toThrow(/exp claim lies further ahead/);
  });
});
