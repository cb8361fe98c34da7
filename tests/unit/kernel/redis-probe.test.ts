import net from 'node:net';
import { isRedisUp } from '../../../src/kernel/redis';

describe('isRedisUp', () => {
  it('calls a server that takes the connection and never answers down, instead of waiting for good', async () => {
    const sockets: net.Socket[] = [];
    let received = '';
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('data', (chunk) => (received += chunk.toString()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      // Jest's 5 s test timeout fails the test when the probe waits for good, as it did before.
      await expect(isRedisUp(`redis://127.0.0.1:${port}`)).resolves.toBe(false);
      // It spoke to the server (ioredis names its connection, then asks whether it is ready) and gave up waiting.
      expect(received).toMatch(/client|info|ping/i);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
