import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { postSignIn } from '../helpers/console-client';
import { Redis } from 'ioredis';
import { cleanupTestEnv, createTestEnv, startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { startJwksServer, type TestServer } from '../unit/auth/helpers';

const ISSUER = 'https://idp.example.test/realms/jeugdbrug';
const AUDIENCE = 'https://jeugdbrug.example.test/api';
const LIMIT = 4;

interface AuditRow {
  outcome: string;
  subtype: string | null;
  agents: string[];
  entities: string[];
  resource: { outcomeDesc?: string; agent?: { network?: { address?: string } }[] };
}

describe('failed authentication: recorded, counted and throttled per client address', () => {
  let jwks: TestServer;
  let key: KeyLike;
  let forger: KeyLike;
  let app: TestApp;
  // Each test its own client address (the app trusts X-Forwarded-For from loopback, as behind a local proxy).
  let client = 10;
  const nextClient = () => `203.0.113.${++client}`;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    forger = (await generateKeyPair('ES256')).privateKey;
    jwks = await startJwksServer([{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }]);
    const testEnv = createTestEnv();
    const issuersFile = path.join(testEnv.dataDir, 'issuers.json');
    fs.writeFileSync(
      issuersFile,
      JSON.stringify([{ issuer: ISSUER, jwksUri: `${jwks.url}/jwks`, audience: AUDIENCE }]),
    );
    app = await startTestApp({
      testEnv,
      env: { JWT_ISSUERS_FILE: issuersFile, AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_WINDOW_S: '120' },
    });
  });

  afterAll(async () => {
    await app.close();
    await jwks.close();
    await cleanupTestEnv(app.testEnv);
  });

  const jwt = (signer: KeyLike) =>
    new SignJWT({ jeugdbrug_role: 'operator', jeugdbrug_practices: ['*'], jeugdbrug_municipalities: ['*'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('client-7')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer);

  const get = (from: string, authorization: string) =>
    app.request('/admin/v1/queues', { key: null, headers: { authorization, 'x-forwarded-for': from } });

  const failures = (from: string) =>
    app.rt.ctx.db.query<AuditRow>(
      `SELECT outcome, subtype, agents, entities, resource::jsonb AS resource FROM audit_event
       WHERE tenant = 'system' AND type = '110114' AND $1 IN (SELECT a->'network'->>'address'
         FROM jsonb_array_elements(resource::jsonb->'agent') a) ORDER BY seq`,
      [from],
    );

  const unknownKey = 'jb_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

  it('records each refused API key as a failed User Authentication (DICOM 110114, outcome 4) without the key', async () => {
    const from = nextClient();
    const tampered = `${app.testEnv.keys.operator.slice(0, -4)}AAAA`;
    expect((await get(from, `Bearer ${unknownKey}`)).status).toBe(401);
    expect((await get(from, `Bearer ${tampered}`)).status).toBe(401);
    const rows = await failures(from);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.outcome).toBe('4');
      expect(row.subtype).toBe('110122');
      const text = JSON.stringify(row);
      // No key material: not the key sent, nor its secret part, nor the hash of the real key.
      expect(text).not.toContain(unknownKey);
      expect(text).not.toContain(tampered.split('_')[2]);
      expect(text).not.toContain('AAAAAAAAAAAAAAAA');
      expect(row.resource.outcomeDesc).toMatch(/API key/);
    }
  });

  it('names the key id a refused key was aimed at when that id is on file (unverified), never its secret', async () => {
    const from = nextClient();
    const operatorId = app.testEnv.keys.operator.split('_')[1]!;
    const wrongSecret = `${app.testEnv.keys.operator.slice(0, -4)}BBBB`;
    expect((await get(from, `Bearer ${wrongSecret}`)).status).toBe(401);
    expect((await get(from, `Bearer ${unknownKey}`)).status).toBe(401);
    const [aimed, noise] = await failures(from);
    expect(aimed!.agents).toContain(`https://jeugdbrug.nl/principal|api-key:${operatorId}`);
    expect(aimed!.resource.outcomeDesc).toContain(`key id ${operatorId} is on file`);
    expect(JSON.stringify(aimed)).not.toContain(wrongSecret.split('_')[2]!);
    // Unverified: no role is claimed for it.
    expect(JSON.stringify(aimed!.resource.agent)).not.toContain('principal-role');
    // An id that is not on file stays anonymous: it names nothing real.
    expect(noise!.agents).toContain('https://jeugdbrug.nl/principal|anonymous');
    expect(JSON.stringify(noise)).not.toContain('nosuchkey');
  });

  // report-xaudit 7: a secret of another length than a real key's made the key unparsable, so guessing at a real
  // key with a wrong-length secret was recorded as anonymous noise.
  it('names the key id on file a refused key was aimed at, whatever the length of its secret', async () => {
    const from = nextClient();
    const operatorId = app.testEnv.keys.operator.split('_')[1]!;
    for (const secret of ['short', 'wrong_secret_with_underscores_and_far_too_long_for_a_key_of_ours']) {
      expect((await get(from, `Bearer jb_${operatorId}_${secret}`)).status).toBe(401);
    }
    const rows = await failures(from);
    expect(rows.map((r) => r.agents.includes(`https://jeugdbrug.nl/principal|api-key:${operatorId}`))).toEqual([
      true,
      true,
    ]);
    expect(JSON.stringify(rows)).not.toContain('with_underscores');
  });

  it('records a forged JWT (signature by another key) and a malformed bearer token the same way', async () => {
    const from = nextClient();
    const forged = await jwt(forger);
    expect((await get(from, `Bearer ${forged}`)).status).toBe(401);
    expect((await get(from, 'Bearer not.a.jwt')).status).toBe(401);
    const rows = await failures(from);
    expect(rows.map((r) => r.outcome)).toEqual(['4', '4']);
    expect(JSON.stringify(rows)).not.toContain(forged.split('.')[2]);
    // A genuine token from the same address is not a failure.
    expect((await get(from, `Bearer ${await jwt(key)}`)).status).toBe(200);
    expect(await failures(from)).toHaveLength(2);
  });

  it(`answers 429 with Retry-After and an OperationOutcome after ${LIMIT} failures, even to a valid key then`, async () => {
    const from = nextClient();
    for (let i = 0; i < LIMIT; i++) {
      expect((await get(from, `Bearer ${unknownKey}`)).status).toBe(401);
    }
    const refused = await get(from, `Bearer ${unknownKey}`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    // While the address is throttled nothing it sends is checked, a good credential neither.
    expect((await get(from, `Bearer ${app.testEnv.keys.operator}`)).status).toBe(429);
    // Another address is not affected.
    expect((await get(nextClient(), `Bearer ${app.testEnv.keys.operator}`)).status).toBe(200);
    // The failures up to the limit are on record, and the throttling once (not each refused request).
    const rows = await failures(from);
    expect(rows).toHaveLength(LIMIT + 1);
    expect(rows[LIMIT]!.resource.outcomeDesc).toMatch(/throttled for \d+ s/);
  });

  it('records, counts and throttles failed console sign-ins with the same limit', async () => {
    const from = nextClient();
    const headers = { origin: app.url, 'x-forwarded-for': from };
    for (let i = 0; i < LIMIT; i++) {
      expect((await postSignIn(app, unknownKey, headers)).status).toBe(401);
    }
    const rows = await failures(from);
    expect(rows).toHaveLength(LIMIT);
    // A person signs in to the console: the agent is a human user.
    expect(JSON.stringify(rows[0]!.resource)).toContain('humanuser');
    expect((await postSignIn(app, unknownKey, headers)).status).toBe(429);
    const throttled = await postSignIn(app, app.testEnv.keys.operator, headers);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).not.toBeNull();
    expect(await failures(from)).toHaveLength(LIMIT + 1);
  });

  it("tells a throttled console sign-in, in the page's language, why and in how many minutes to try again", async () => {
    const from = nextClient();
    const headers = { origin: app.url, 'x-forwarded-for': from };
    for (let i = 0; i <= LIMIT; i++) {
      await postSignIn(app, unknownKey, headers);
    }
    const dutch = await postSignIn(app, app.testEnv.keys.operator, headers);
    expect(dutch.status).toBe(429);
    const minutes = Math.ceil(Number(dutch.headers.get('retry-after')) / 60);
    const page = await dutch.text();
    expect(page).toContain('Te veel mislukte aanmeldingen');
    expect(page).toContain(`Probeer het over ${minutes} minuten opnieuw`);
    expect(page).not.toContain('Het verzoek is niet geldig');
    const english = await postSignIn(app, app.testEnv.keys.operator, headers, 'jb_lang=en');
    expect(english.status).toBe(429);
    const words = await english.text();
    expect(words).toContain('Too many failed sign-ins');
    expect(words).toMatch(/try again in \d+ minutes/);
    expect(words).not.toContain('The request is not valid');
  });

  it('says on the API why an address is throttled and for how long', async () => {
    const from = nextClient();
    for (let i = 0; i <= LIMIT; i++) {
      await get(from, `Bearer ${unknownKey}`);
    }
    const refused = await get(from, `Bearer ${app.testEnv.keys.operator}`);
    expect(refused.status).toBe(429);
    const text = JSON.stringify(await refused.json());
    expect(text).toMatch(/too many refused credentials from this address; try again in \d+ s/i);
  });

  it('audits and throttles by the socket address when a trusted proxy sends an X-Forwarded-For that is no address', async () => {
    const garbage = '10.4.4.223347';
    expect((await get(garbage, `Bearer ${unknownKey}`)).status).toBe(401);
    expect(await failures(garbage)).toHaveLength(0);
    const rows = await app.rt.ctx.db.query<AuditRow>(
      `SELECT outcome, subtype, agents, entities, resource::jsonb AS resource FROM audit_event
       WHERE tenant = 'system' AND type = '110114' ORDER BY seq DESC LIMIT 1`,
    );
    expect(rows[0]!.resource.agent?.map((a) => a.network?.address).filter(Boolean)).toEqual([
      expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/),
    ]);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.exists(`${app.testEnv.prefix}:auth-failures:${garbage}`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('counts authentication failures by reason on /metrics', async () => {
    const from = nextClient();
    await get(from, `Bearer ${unknownKey}`);
    const text = await (await app.request('/metrics', { key: null })).text();
    expect(text).toMatch(/^jeugdbrug_auth_failures_total\{reason="api-key"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jeugdbrug_auth_failures_total\{reason="jwt"\} [1-9]\d*$/m);
  });

  it('keeps no count in Redis for an address whose requests all authenticate', async () => {
    const from = nextClient();
    for (let i = 0; i < 3; i++) {
      expect((await get(from, `Bearer ${app.testEnv.keys.operator}`)).status).toBe(200);
    }
    const redis = new Redis(TEST_REDIS_URL);
    // SCAN, not KEYS: the Redis is shared with other tests.
    const counted = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${app.testEnv.prefix}:auth-failures*${from}`);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    try {
      expect(await counted()).toEqual([]);
      await get(from, `Bearer ${unknownKey}`);
      expect(await counted()).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });

  it('leaves a request without any credential to the 401 it always had: not recorded, not throttled', async () => {
    const from = nextClient();
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await app.request('/admin/v1/queues', { key: null, headers: { 'x-forwarded-for': from } });
      expect(res.status).toBe(401);
    }
    expect(await failures(from)).toHaveLength(0);
  });
});
