import net from 'node:net';
import { useTestApp } from '../helpers/test-runtime';

/**
 * A client that sends its body a byte at a time holds a connection (and its memory) for as long as the server lets
 * it: Node's default was 300 s, so a thousand such anonymous clients kept a thousand connections. REQUEST_TIMEOUT_MS
 * ends a request not received in full within it with 408.
 */
describe('a request body sent too slowly', () => {
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9', env: { REQUEST_TIMEOUT_MS: '1500' } });
  const sockets: net.Socket[] = [];

  afterAll(() => {
    sockets.forEach((s) => s.destroy());
  });

  it('is answered 408 and its connection closed once REQUEST_TIMEOUT_MS has passed', async () => {
    const { hostname, port } = new URL(app.url);
    const socket = net.connect(Number(port), hostname);
    sockets.push(socket);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      'POST /his/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n[',
    );
    // One byte a second, for longer than the test lasts: only the server can end this request.
    const dribble = setInterval(() => socket.write(' '), 1000);
    try {
      await closed;
    } finally {
      clearInterval(dribble);
      socket.destroy();
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  }, 20_000);
});
