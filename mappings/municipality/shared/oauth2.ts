import type { EndpointAuth } from '../../../src/contracts/destination';
import { isRetryableStatus, PermanentDeliveryError, neverSentError } from '../../../src/contracts/delivery-errors';

type ClientCredentials = Extract<EndpointAuth, { type: 'oauth2-client-credentials' }>;

interface CachedToken {
  readonly accessToken: string;
  /** When we stop using it (ms since epoch): shortly before the token endpoint says it expires. */
  readonly refreshAt: number;
}

/** Used when the token endpoint gives no `expires_in`: long enough to matter, short enough to notice revocation. */
const DEFAULT_LIFETIME_S = 300;
/** Renew this long before expiry, so a token never expires between fetching it and the receiver checking it. */
const MAX_MARGIN_MS = 60_000;

/**
 * OAuth 2.0 client-credentials tokens, cached per (token URL, client, scope) until shortly before they expire.
 * Concurrent deliveries needing a token share one request to the token endpoint. Per process: each worker process
 * fetches its own token, which every authorisation server allows.
 */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  /** Requests made to token endpoints; for tests and the benchmark. */
  requests = 0;

  constructor(
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid access token; fetches one when none is cached or the cached one is about to expire. */
  async getToken(auth: ClientCredentials, timeoutMs: number): Promise<string> {
    const key = cacheKey(auth);
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) {
      return cached.accessToken;
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(auth, timeoutMs).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const token = await pending;
    this.tokens.set(key, token);
    return token.accessToken;
  }

  /** Forgets the token, after a receiver answered 401 to it (revoked, or the clocks disagree). */
  invalidate(auth: ClientCredentials): void {
    this.tokens.delete(cacheKey(auth));
  }

  private async fetchToken(auth: ClientCredentials, timeoutMs: number): Promise<CachedToken> {
    const secret = this.env[auth.clientSecretEnv];
    if (!secret) {
      throw new PermanentDeliveryError(`environment variable ${auth.clientSecretEnv} (client secret) is not set`);
    }
    this.requests++;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      ...(auth.scope ? { scope: auth.scope } : {}),
    });
    // RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
    const basic = Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(secret)}`).toString('base64');
    let res: Response;
    let text: string;
    try {
      res = await fetch(auth.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${basic}`,
        },
        body: form.toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error;
      throw neverSentError(`token endpoint: ${e.name === 'TimeoutError' ? 'timeout' : 'network error'}`);
    }
    if (!res.ok) {
      // Not the receiver's status: a refused client is a configuration problem, kept without a status.
      if (isRetryableStatus(res.status)) {
        throw neverSentError(`token endpoint answered HTTP ${res.status}`);
      }
      throw new PermanentDeliveryError(`token endpoint answered HTTP ${res.status}`);
    }
    const body = parseTokenResponse(text);
    if (!body) {
      throw neverSentError('token endpoint answered without an access_token');
    }
    const lifetimeMs = (body.expiresIn ?? DEFAULT_LIFETIME_S) * 1000;
    const margin = Math.min(MAX_MARGIN_MS, lifetimeMs / 10);
    return { accessToken: body.accessToken, refreshAt: this.now() + lifetimeMs - margin };
  }
}

function cacheKey(auth: ClientCredentials): string {
  return `${auth.tokenUrl}\u001f${auth.clientId}\u001f${auth.scope ?? ''}`;
}

function parseTokenResponse(text: string): { accessToken: string; expiresIn?: number } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) {
    return undefined;
  }
  const { access_token: accessToken, expires_in: expiresIn } = json as Record<string, unknown>;
  if (typeof accessToken !== 'string' || accessToken === '') {
    return undefined;
  }
  const seconds = typeof expiresIn === 'number' ? expiresIn : typeof expiresIn === 'string' ? Number(expiresIn) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? { accessToken, expiresIn: seconds } : { accessToken };
}

/** The process-wide cache the adapters use. */
export const tokenCache = new TokenCache();
