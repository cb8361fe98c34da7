import net from 'node:net';
import { cleanupTestEnv, startTestApp } from '../helpers/test-runtime';

/**
 * Shutting down lets the requests in flight be answered, then ends. The HTTP server keeps idle keep-alive
 * connections for 65 s (behind a load balancer); one whose request was still being answered when the shutdown began
 * must not hold the shutdown for that long after its answer.
 */
describe('shutting down with a keep-alive request in flight', () => {
  it('answers the request, closes its connection and stops, not a keep-alive timeout later', async () => {
    const app = await startTestApp({});
    try {
      const { hostname, port } = new URL(app.url);
      const socket = net.connect(Number(port), hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        socket.once('close', () => resolve(text));
      });
      // The request is in flight while its body is still arriving: the server cannot answer it yet.
      const body = '{"not":"a his record"}';
      socket.write(
        `POST /his/v1/events HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n` +
          `Authorization: Bearer ${app.testEnv.keys.practice}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const stopped = app.close();
      socket.write(body.slice(5));
      // Answered (a refusal of the body, with its OperationOutcome), then the connection is closed by the server.
      expect(await answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      // Within the test's timeout (60 s, jest.config), which the 65 s the connection would otherwise be kept overruns.
      await stopped;
    } finally {
      await app.close();
      await cleanupTestEnv(app.testEnv);
    }
  });
});
