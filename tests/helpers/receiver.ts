import type http from 'node:http';
import { LocalHttpServer } from './local-server';

export interface ReceivedRequest {
  readonly idempotencyKey: string;
  readonly body: unknown;
  readonly at: number;
}

/** How the stand-in answers the next request. */
export type ReceiverMode =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: string; retryAfter?: string }
  | { kind: 'slow'; delayMs: number }
  /**
   * Answers `status` with what it was sent echoed back, as some receivers' error pages do: as `{"echo": …}`, or as
   * an OperationOutcome with the request in its diagnostics and `issue` as given.
   */
  | { kind: 'echo'; status: number; as: 'json' | 'outcome'; issue?: readonly Record<string, unknown>[] }
  | { kind: 'drop' };

/**
 * A stand-in municipality FHIR endpoint on 127.0.0.1: stores each idempotency key once (as a real receiver
 * should), counts every hit, and can be told to fail, stall, drop connections, or go away altogether.
 */
export class TestReceiver extends LocalHttpServer {
  /** Every request that reached us, duplicates included. */
  readonly hits: ReceivedRequest[] = [];
  /** What was stored: one entry per idempotency key. */
  readonly stored = new Map<string, ReceivedRequest>();
  mode: ReceiverMode = { kind: 'ok' };

  get url(): string {
    return `http://127.0.0.1:${this.port}/fhir`;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      const mode = this.mode;
      const hit = { idempotencyKey: key, body, at: Date.now() };
      this.hits.push(hit);
      const accept = () => {
        if (!this.stored.has(key)) {
          this.stored.set(key, hit);
        }
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response' }));
      };
      switch (mode.kind) {
        case 'ok':
          return accept();
        case 'slow':
          setTimeout(accept, mode.delayMs);
          return;
        case 'status':
          res.writeHead(mode.status, {
            'content-type': 'application/fhir+json',
            ...(mode.retryAfter ? { 'retry-after': mode.retryAfter } : {}),
          });
          res.end(mode.body ?? JSON.stringify({ resourceType: 'OperationOutcome', issue: [] }));
          return;
        case 'echo': {
          const raw = Buffer.concat(chunks).toString('utf8');
          res.writeHead(mode.status, {
            'content-type': mode.as === 'json' ? 'application/json; charset=utf-8' : 'application/fhir+json',
          });
          res.end(
            mode.as === 'json'
              ? JSON.stringify({ echo: body })
              : JSON.stringify({
                  resourceType: 'OperationOutcome',
                  issue: (mode.issue ?? [{ severity: 'error', code: 'invalid' }]).map((i) => ({
                    diagnostics: `could not process ${raw}`,
                    ...i,
                  })),
                }),
          );
          return;
        }
        case 'drop':
          req.socket.destroy();
          return;
      }
    });
  }
}
