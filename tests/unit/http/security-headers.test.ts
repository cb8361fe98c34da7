import http from 'node:http';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { HELMET_OPTIONS, securityHeaders } from '../../../src/http/security-headers';
import { serveApp } from '../../helpers/served-app';

/** The headers of one answer, in the order sent, as name and value; `date` left out (it is the time sent). */
async function headersOf(headers: RequestHandler, route: RequestHandler): Promise<[string, string][]> {
  const app = express();
  app.disable('x-powered-by');
  app.use(headers);
  app.get('/', route);
  const served = await serveApp(app);
  try {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${served.url}/`, resolve).on('error', reject);
    });
    res.resume();
    const pairs: [string, string][] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      if (res.rawHeaders[i]!.toLowerCase() !== 'date') {
        pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      }
    }
    return pairs;
  } finally {
    served.close();
  }
}

// securityHeaders runs helmet once and replays what it did on every answer (app.ts): the answers must carry exactly
// the headers helmet itself gives them, in the same order, with one Content-Security-Policy.
describe('the security headers, recorded once from helmet', () => {
  it.each<[string, RequestHandler]>([
    ['a JSON answer', (_req, res) => void res.json({ ok: true })],
    [
      'a page that replaces the policy with its own',
      (_req, res) => {
        res.setHeader('Content-Security-Policy', "default-src 'self'");
        res.type('html').send('<p>page</p>');
      },
    ],
  ])('are those helmet sets, in its order: %s', async (_name, route) => {
    const replayed = await headersOf(securityHeaders(), route);
    expect(replayed).toEqual(await headersOf(helmet(HELMET_OPTIONS), route));
    expect(replayed.filter(([name]) => name.toLowerCase() === 'content-security-policy')).toHaveLength(1);
  });

  it('include the API policy and the frame options that agree with it', async () => {
    const headers = new Map(
      (await headersOf(securityHeaders(), (_req, res) => void res.end())).map(([n, v]) => [n.toLowerCase(), v]),
    );
    expect(headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none';base-uri 'none'");
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(headers.get('strict-transport-security')).toBeDefined();
    expect(headers.get('x-content-type-options')).toBe('nosniff');
  });
});
