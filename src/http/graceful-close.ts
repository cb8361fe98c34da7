import type http from 'node:http';
import type net from 'node:net';

export interface ServerClosed {
  /** Requests still unanswered when the grace ran out; their connections were cut. */
  unanswered: number;
  /** Connections cut once no request was left to answer: idle ones, and ones whose request headers had not all arrived. */
  cut: number;
}

/**
 * Follows what a server is doing, so that a shutdown can close it the way it should: stop accepting, let every
 * request it has begun answering be answered (its headers arrived; its body may still be arriving), then end every
 * connection left.
 *
 * `server.close()` alone waits for every connection: one whose request headers are still arriving (a slow or vanished
 * client) holds it until `headersTimeout`, and a kept-alive one for `keepAliveTimeout`. Neither holds a request this
 * server accepted, and waiting on them makes main.ts give up at SHUTDOWN_TIMEOUT_MS, with the last audit heads unsigned.
 */
export class ServerCloser {
  private readonly answering = new Set<http.ServerResponse>();
  private readonly connections = new Set<net.Socket>();

  constructor(private readonly server: http.Server) {
    server.on('connection', (socket: net.Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
    // 'request' comes when a request's headers are in, before its body: from then on it is answered before the end.
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      this.answering.add(res);
      res.once('close', () => this.answering.delete(res));
    });
  }

  /** Stops accepting, waits up to `graceMs` for the requests being answered, then ends the connections left. */
  close(graceMs: number): Promise<ServerClosed> {
    const { server, answering, connections } = this;
    return new Promise<ServerClosed>((resolve) => {
      let done = false;
      const end = (closed: ServerClosed) => {
        if (!done) {
          done = true;
          clearInterval(poll);
          clearTimeout(grace);
          resolve(closed);
        }
      };
      const cutTheRest = () => {
        const closed = { unanswered: answering.size, cut: connections.size };
        server.closeAllConnections();
        end(closed);
      };
      // A kept-alive connection is closed as soon as its last answer is out; once nothing is left to answer, the
      // connections left hold no request of ours.
      const poll = setInterval(() => {
        server.closeIdleConnections();
        if (answering.size === 0) {
          cutTheRest();
        }
      }, 100);
      const grace = setTimeout(cutTheRest, graceMs);
      server.close(() => end({ unanswered: 0, cut: 0 }));
      server.closeIdleConnections();
    });
  }
}
