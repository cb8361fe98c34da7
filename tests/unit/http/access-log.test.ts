import express from 'express';
import { accessLog, traceRequests } from '../../../src/http/access-log';
import { collectingLogger, serveApp } from '../../helpers/served-app';

/** An app logging at `level` into an array, with routes answering 200, 503 (a dependency away) and 500. */
async function serve(level: string): Promise<{ url: string; lines: Record<string, unknown>[]; close: () => void }> {
  const { log, lines } = collectingLogger(level);
  const app = express();
  app.use(traceRequests(), accessLog(log));
  app.get('/ok/:id', (_req, res) => {
    res.json({});
  });
  app.get('/down/:id', (_req, res) => {
    res.status(503).json({});
  });
  app.get('/broken/:id', (_req, res) => {
    res.status(500).json({});
  });
  return { ...(await serveApp(app)), lines };
}

describe('access log', () => {
  it('writes one line per request at LOG_LEVEL=info: info, warn for a 503 (an outage is expected), error for a 500', async () => {
    const s = await serve('info');
    try {
      await fetch(`${s.url}/ok/1`);
      await fetch(`${s.url}/down/2`);
      await fetch(`${s.url}/broken/3`);
      await new Promise((r) => setImmediate(r));
      expect(s.lines.map((l) => [l.msg, l.level, l.route, l.status])).toEqual([
        ['request', 'info', '/ok/:id', 200],
        ['request', 'warn', '/down/:id', 503],
        ['request', 'error', '/broken/:id', 500],
      ]);
    } finally {
      s.close();
    }
  });

  it('above info, writes only the failed requests, with the same fields', async () => {
    const s = await serve('warn');
    try {
      await fetch(`${s.url}/ok/1`);
      await fetch(`${s.url}/down/2`, { headers: { 'x-request-id': 'req-7' } });
      await fetch(`${s.url}/broken/3`, { headers: { 'x-request-id': 'req-8' } });
      await new Promise((r) => setImmediate(r));
      expect(s.lines).toEqual([
        expect.objectContaining({
          msg: 'request',
          level: 'warn',
          method: 'GET',
          route: '/down/:id',
          status: 503,
          durationMs: expect.any(Number),
          requestId: 'req-7',
          traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        }),
        expect.objectContaining({
          msg: 'request',
          level: 'error',
          route: '/broken/:id',
          status: 500,
          requestId: 'req-8',
        }),
      ]);
    } finally {
      s.close();
    }
  });
});
