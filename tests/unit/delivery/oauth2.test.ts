import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenCache } from '../../../mappings/municipality/shared/oauth2';

describe('OAuth2 client-credentials token cache', () => {
  let server: http.Server;
  let requests: { auth: string | undefined; body: string }[];
  let respond: (res: http.ServerResponse) => void;
  let tokenUrl: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ auth: req.headers.authorization, body });
        respond(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    requests = [];
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `t${requests.length}`, expires_in: 600 }));
    };
  });

  const auth = () => ({
    type: 'oauth2-client-credentials' as const,
    tokenUrl,
    clientId: 'jeugd brug',
    clientSecretEnv: 'SECRET',
    scope: 'system/*.write',
  });

  it('fetches once for concurrent callers and reuses the token until shortly before expiry', async () => {
    let now = 1_000_000;
    const cache = new TokenCache({ SECRET: 's3cr:t' }, () => now);
    const tokens = await Promise.all([1, 2, 3].map(() => cache.getToken(auth(), 1000)));
    expect(tokens).toEqual(['t1', 't1', 't1']);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.body).toBe('grant_type=client_credentials&scope=system%2F*.write');
    // Id and secret are form-encoded before Basic encoding (RFC 6749 §2.3.1).
    expect(requests[0]!.auth).toBe(`Basic ${Buffer.from('jeugd%20brug:s3cr%3At').toString('base64')}`);

    now += 539_000; // 600 s lifetime, renewed 60 s early: still valid at 539 s
    expect(await cache.getToken(auth(), 1000)).toBe('t1');
    now += 2_000;
    expect(await cache.getToken(auth(), 1000)).toBe('t2');
    expect(requests).toHaveLength(2);
  });

  it('fetches a new token after invalidate (the receiver answered 401)', async () => {
    const cache = new TokenCache({ SECRET: 's' });
    expect(await cache.getToken(auth(), 1000)).toBe('t1');
    cache.invalidate(auth());
    expect(await cache.getToken(auth(), 1000)).toBe('t2');
  });

  it.each([
    [503, 'RetryableDeliveryError'],
    [401, 'PermanentDeliveryError'],
    [400, 'PermanentDeliveryError'],
  ])('turns a token endpoint answering %i into a %s', async (status, name) => {
    respond = (res) => {
      res.writeHead(status);
      res.end('{"error":"invalid_client"}');
    };
    await expect(new TokenCache({ SECRET: 's' }).getToken(auth(), 1000)).rejects.toMatchObject({ name });
  });

  it('fails permanently, without asking the endpoint, when the secret is not in the environment', async () => {
    await expect(new TokenCache({}).getToken(auth(), 1000)).rejects.toMatchObject({
      name: 'PermanentDeliveryError',
      message: expect.stringContaining('SECRET'),
    });
    expect(requests).toHaveLength(0);
  });
});
