import http from 'node:http';
import { useTestApp } from '../helpers/test-runtime';

const LIMIT = 3;
/** The proxies TRUST_PROXY names: 127.0.0.2 and 127.0.0.3. Linux answers on all of 127.0.0.0/8, so a test can be them. */
const TRUSTED = '127.0.0.2/31';
/** A loopback address, so trusted by default, but not named in TRUST_PROXY. */
const UNTRUSTED = '127.0.0.4';

interface AuditRow {
  resource: { agent?: { network?: { address?: string } }[] };
}

describe('TRUST_PROXY: behind a named proxy each client is audited and throttled by its own address', () => {
  const app = useTestApp({
    env: { TRUST_PROXY: TRUSTED, AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_WINDOW_S: '120' },
  });

  /** A GET of the queues sent from the socket address `proxy`, saying it forwards `client`: its status. */
  const getVia = (proxy: string, client: string, key: string) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL('/admin/v1/queues', app.url);
      const headers = { authorization: `Bearer ${key}`, 'x-forwarded-for': client };
      http
        .get(url, { localAddress: proxy, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });

  /** The access points of the failed authentications recorded, in order. */
  const auditedAddresses = async () =>
    (
      await app.rt.ctx.db.query<AuditRow>(
        `SELECT resource::jsonb AS resource FROM audit_event WHERE tenant = 'system' AND type = '110114' ORDER BY seq`,
      )
    ).flatMap((r) => r.resource.agent?.map((a) => a.network?.address).filter((a) => a !== undefined) ?? []);

  const unknownKey = 'jb_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

  it('records a refused key from behind a trusted proxy with the forwarded client address', async () => {
    expect(await getVia('127.0.0.3', '203.0.113.5', unknownKey)).toBe(401);
    const audited = await auditedAddresses();
    expect(audited).toContain('203.0.113.5');
    expect(audited).not.toContain('127.0.0.3');
  });

  it('records and throttles requests from a proxy not named by the socket address, whatever they forward', async () => {
    for (let i = 0; i < LIMIT; i++) {
      expect(await getVia(UNTRUSTED, `198.51.100.${i + 1}`, unknownKey)).toBe(401);
    }
    // Each claimed another client, yet all were one address's failures: the next is throttled, a valid key too.
    expect(await getVia(UNTRUSTED, '198.51.100.98', unknownKey)).toBe(429);
    expect(await getVia(UNTRUSTED, '198.51.100.99', app.testEnv.keys.operator)).toBe(429);
    const audited = await auditedAddresses();
    expect(audited.filter((a) => a === UNTRUSTED)).toHaveLength(LIMIT + 1);
    expect(audited.filter((a) => a.startsWith('198.51.100.'))).toEqual([]);
  });

  it('does not let one client behind the proxy lock out another', async () => {
    const [bad, good] = ['203.0.113.7', '203.0.113.8'];
    for (let i = 0; i < LIMIT; i++) {
      expect(await getVia('127.0.0.2', bad, unknownKey)).toBe(401);
    }
    expect(await getVia('127.0.0.2', bad, unknownKey)).toBe(429);
    expect(await getVia('127.0.0.2', bad, app.testEnv.keys.operator)).toBe(429);
    // The other client, through the same proxy: its valid key is served, a bad one is its own first failure.
    expect(await getVia('127.0.0.2', good, app.testEnv.keys.operator)).toBe(200);
    expect(await getVia('127.0.0.2', good, unknownKey)).toBe(401);
  });
});
