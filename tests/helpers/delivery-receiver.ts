import type http from 'node:http';
import { Webhook } from 'standardwebhooks';
import type { Bundle } from '@medplum/fhirtypes';
import { FhirTransactionStore } from './fhir-transaction-store';
import { LocalHttpServer } from './local-server';

/**
 * A stand-in receiver for delivery tests on 127.0.0.1: a municipality's FHIR server, webhook or iSamenleving-style
 * API, or a practice's HIS. Like tests/helpers/receiver.ts it stores each idempotency key once (as a real receiver
 * should) and counts every hit; it also keeps paths and headers, verifies webhook signatures, serves
 * `/metadata` and HEAD probes, and can play an OAuth token endpoint.
 */

export interface Hit {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly raw: string;
  readonly body: unknown;
  readonly idempotencyKey: string;
  readonly at: number;
  /** For a receiver with a webhook secret: whether the signature checked out. */
  readonly signatureValid?: boolean;
}

/** How a delivery (a POST) is answered. */
export type ReceiverMode =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: string; retryAfter?: string }
  /** Stores the message, then answers with an error: the receiver has it, we think it failed. */
  | { kind: 'store-then-status'; status: number }
  | { kind: 'slow'; delayMs: number }
  /** Answers (accepts) only once `until` settles: a send held open while a test does something else. */
  | { kind: 'held'; until: Promise<unknown> }
  /** Closes the connection without an answer. */
  | { kind: 'drop' }
  /** Sends the status line, headers and part of the body, then closes the connection. */
  | { kind: 'drop-mid-response' };

export class DeliveryReceiver extends LocalHttpServer {
  readonly hits: Hit[] = [];
  readonly stored = new Map<string, Hit>();
  /** What a FHIR server would hold after the transaction Bundles stored (each idempotency key once). */
  readonly fhir = new FhirTransactionStore();
  /** Modes used one per delivery, in order, before `mode` applies. */
  script: ReceiverMode[] = [];
  mode: ReceiverMode = { kind: 'ok' };
  /** Status for GET `/metadata`, HEAD and OPTIONS probes (an OPTIONS answer names no methods in `Allow`). */
  probeStatus = 200;
  /**
   * When set, every POST must carry a valid Standard Webhooks signature made with this secret (401 otherwise). A
   * `whsec_…` secret is the specification's base64 form; any other string is the key's raw bytes.
   */
  webhookSecret: string | undefined;
  /** With `webhookSecret`: only POSTs to paths starting with this must be signed (a receiver serving other formats). */
  webhookSignedUnder: string | undefined;
  /** POSTs to paths starting with this need `Authorization: Bearer <a token this receiver issued>` (else 401). */
  requireIssuedTokenUnder: string | undefined;
  tokenLifetimeS = 3600;
  readonly issuedTokens: string[] = [];
  /** Deliveries being answered right now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;

  /** `http://127.0.0.1:<port><path>`. */
  url(path = ''): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The deliveries (POSTs other than token requests). */
  get deliveries(): Hit[] {
    return this.hits.filter((h) => h.method === 'POST' && !h.path.endsWith('/oauth/token'));
  }

  /** The probe requests (GET, HEAD, and the OPTIONS a HEAD probe asks after a 404). */
  get probes(): Hit[] {
    return this.hits.filter((h) => h.method === 'GET' || h.method === 'HEAD' || h.method === 'OPTIONS');
  }

  hitsFor(key: string): Hit[] {
    return this.deliveries.filter((h) => h.idempotencyKey === key);
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const signed = this.webhookSignedUnder === undefined || (req.url ?? '').startsWith(this.webhookSignedUnder);
      const signatureValid =
        this.webhookSecret && signed ? verifiesAsStandardWebhook(this.webhookSecret, raw, headers) : undefined;
      const hit: Hit = {
        method: req.method ?? 'GET',
        path,
        headers,
        raw,
        body,
        idempotencyKey: headers['idempotency-key'] ?? '',
        at: Date.now(),
        ...(signatureValid !== undefined ? { signatureValid } : {}),
      };
      this.hits.push(hit);

      if (req.method === 'POST' && path.endsWith('/oauth/token')) {
        const token = `tok-${this.issuedTokens.length + 1}-${Math.random().toString(36).slice(2)}`;
        this.issuedTokens.push(token);
        return this.json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: this.tokenLifetimeS });
      }
      if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
        return this.json(res, this.probeStatus, { resourceType: 'CapabilityStatement', status: 'active' });
      }
      if (signatureValid === false) {
        return this.json(res, 401, { error: 'invalid signature' });
      }
      if (this.requireIssuedTokenUnder && path.startsWith(this.requireIssuedTokenUnder)) {
        const token = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
        if (!token || !this.issuedTokens.includes(token)) {
          return this.json(res, 401, { error: 'invalid token' });
        }
      }
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.once('close', () => this.inFlight--);
      const mode = this.script.shift() ?? this.mode;
      const accept = () => {
        this.store(hit);
        this.json(res, 200, { resourceType: 'Bundle', type: 'transaction-response' });
      };
      switch (mode.kind) {
        case 'ok':
          return accept();
        case 'slow':
          // unref: a slow answer still pending when the test ends must not keep Jest's worker alive.
          setTimeout(accept, mode.delayMs).unref();
          return;
        case 'held':
          void mode.until.finally(accept);
          return;
        case 'status':
          res.writeHead(mode.status, {
            'content-type': 'application/json',
            ...(mode.retryAfter ? { 'retry-after': mode.retryAfter } : {}),
          });
          res.end(mode.body ?? JSON.stringify({ resourceType: 'OperationOutcome', issue: [] }));
          return;
        case 'store-then-status':
          this.store(hit);
          return this.json(res, mode.status, { resourceType: 'OperationOutcome', issue: [] });
        case 'drop':
          req.socket.destroy();
          return;
        case 'drop-mid-response':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"resourceType":"Bundle","ty');
          setTimeout(() => req.socket.destroy(), 20).unref();
          return;
      }
    });
  }

  /** Keeps a delivery once per idempotency key, and applies a transaction Bundle to `fhir` that once. */
  private store(hit: Hit): void {
    if (this.stored.has(hit.idempotencyKey)) {
      return;
    }
    this.stored.set(hit.idempotencyKey, hit);
    const bundle = hit.body as Bundle | undefined;
    if (bundle?.resourceType === 'Bundle' && bundle.type === 'transaction') {
      this.fhir.apply(bundle);
    }
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

/** Verified with the Standard Webhooks specification's own library, as a receiver would: not with our code. */
function verifiesAsStandardWebhook(secret: string, raw: string, headers: Record<string, string>): boolean {
  const wh = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
  try {
    wh.verify(raw, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}
