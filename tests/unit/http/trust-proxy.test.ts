import http from 'node:http';
import express from 'express';
import { expressTrustProxy } from '../../../src/http/client-address';
import { loadConfig } from '../../../src/kernel/config';
import { serveApp } from '../../helpers/served-app';

/** The client address Express gives a request from 127.0.0.1 that came through two proxies, under TRUST_PROXY. */
async function clientAddress(trustProxy: string | undefined): Promise<string> {
  const app = express();
  app.set('trust proxy', expressTrustProxy(loadConfig({ TRUST_PROXY: trustProxy }).TRUST_PROXY));
  app.get('/', (req, res) => res.send(req.ip));
  const served = await serveApp(app);
  try {
    return await new Promise<string>((resolve, reject) => {
      // The client 198.51.100.7, then a proxy at 203.0.113.9, then the one on this host.
      const headers = { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' };
      http
        .get(served.url, { headers }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  } finally {
    served.close();
  }
}

describe('TRUST_PROXY decides whose X-Forwarded-For names the client', () => {
  it.each([
    [undefined, '203.0.113.9', 'unset: a proxy on this host is believed, the one before it is not'],
    ['none', '127.0.0.1', 'no proxy is believed'],
    ['false', '127.0.0.1', 'no proxy is believed'],
    ['1', '203.0.113.9', 'one hop'],
    ['2', '198.51.100.7', 'two hops'],
    ['203.0.113.0/24, loopback', '198.51.100.7', 'both proxies named'],
    ['::1,10.0.0.0/8', '127.0.0.1', 'neither proxy named: the socket address'],
    ['127.0.0.1', '203.0.113.9', 'the proxy on this host by its address'],
  ])('TRUST_PROXY=%j gives %s (%s)', async (value, expected, _why) => {
    expect(await clientAddress(value)).toBe(expected);
  });
});
