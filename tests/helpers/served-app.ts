import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type express from 'express';
import type { Logger } from 'pino';
import { createLogger } from '../../src/kernel/logger';

/** The product's logger at `level`, each line it writes parsed into `lines`, for tests of what is logged. */
export function collectingLogger(level: string): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

/** Serves an Express app on 127.0.0.1 at a port of its own, for unit tests of middleware and small apps. */
export async function serveApp(app: express.Express): Promise<{ url: string; close: () => void }> {
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
