import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { accessLog, traceRequests } from '../../../src/http/access-log';
import { createLogger } from '../../../src/kernel/logger';

/** An app logging at `level` into an array, with a route answering 200 and one answering 503. */
async function serve(level: string): Promise<{ url: string; lines: Record<string, unknown>[]; close: () => void }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const app = express();
  app.use(traceRequests(), accessLog(createLogger(level, sink)));
  app.get('/ok/:id', (_req, res) => {
    res.json({});
  });
  app.get('/down/:id', (_req, res) => {
    res.status(503).json({});
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lines,
    close: () => server.close(),
  };
}

describe('access log', () => {
  it('writes one info line per request at LOG_LEVEL=info', async () => {
    const s = await serve('info');
    try {
      await fetch(`${s.url}/ok/1`);
      await fetch(`${s.url}/down/2`);
      await new Promise((r) => setImmediate(r));
      expect(s.lines.map((l) => [l.msg, l.level, l.route, l.status])).toEqual([
        ['request', 30, '/ok/:id', 200],
        ['request', 50, '/down/:id', 503],
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
      await new Promise((r) => setImmediate(r));
      expect(s.lines).toEqual([
        expect.objectContaining({
          msg: 'request',
          level: 50,
          method: 'GET',
          route: '/down/:id',
          status: 503,
          durationMs: expect.any(Number),
          requestId: 'req-7',
          traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        }),
      ]);
    } finally {
      s.close();
    }
  });
});
