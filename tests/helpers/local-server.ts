import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server on 127.0.0.1 that plays a system outside our control (a municipality, a practice's HIS). It can be
 * stopped and started again on the same port, so a test can take a receiver away and bring it back at one URL.
 */
export abstract class LocalHttpServer {
  protected port = 0;
  private server: http.Server | undefined;

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  async start(): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening (connections refused) but keeps the port, so `start()` brings it back at the same URL. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}
