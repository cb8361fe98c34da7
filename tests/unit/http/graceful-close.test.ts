import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServerCloser } from '../../../src/http/graceful-close';

/** A server whose handler answers only when told to: the request stays "being answered" until then. */
async function serverWithHeldAnswer(): Promise<{
  server: http.Server;
  closer: ServerCloser;
  answer: () => void;
  port: number;
}> {
  let held: http.ServerResponse | undefined;
  const server = http.createServer((_req, res) => (held = res));
  const closer = new ServerCloser(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, closer, answer: () => held?.end('done'), port: (server.address() as AddressInfo).port };
}

function get(port: number): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: new http.Agent({ keepAlive: true }) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

describe('ServerCloser', () => {
  it('lets a request being answered finish, then ends its kept-alive connection', async () => {
    const { closer, answer, port } = await serverWithHeldAnswer();
    const response = get(port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = closer.close(60_000);
    setTimeout(answer, 300);
    expect(await response).toEqual({ status: 200, body: 'done' });
    expect((await closed).unanswered).toBe(0);
  });

  it('cuts a request still unanswered when the grace runs out, and says so', async () => {
    const { closer, port } = await serverWithHeldAnswer();
    const response = get(port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await closer.close(300)).toEqual({ unanswered: 1, cut: 1 });
    expect(await response).toEqual({ error: 'ECONNRESET' });
  });
});
