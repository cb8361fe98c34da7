import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** Consecutive failed attempts after which a destination is paused, unless it sets its own. */
export const DEFAULT_PAUSE_AFTER_FAILURES = 20;
/** How often a paused destination is probed to see whether it is back, unless it sets its own. */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable');

/** The `allowPlainHttp` field of a destination or practice endpoint file. */
export const allowPlainHttpSchema = z.boolean().optional();

/**
 * How jeugdbrug authenticates towards a receiver. Secrets never sit in the file: each names the environment
 * variable that holds it, so configuration can be shared and versioned without leaking them.
 */
export const endpointAuthSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('bearer'), tokenEnv: envName }).strict(),
  /** OAuth 2.0 client credentials (RFC 6749 §4.4); the client authenticates with HTTP Basic at the token URL. */
  z
    .object({
      type: z.literal('oauth2-client-credentials'),
      tokenUrl: z.url({ protocol: /^https?$/ }),
      clientId: z.string().min(1),
      clientSecretEnv: envName,
      scope: z.string().min(1).optional(),
    })
    .strict(),
  /** Webhooks only: every request is signed per Standard Webhooks (HMAC-SHA256; see docs/delivery.md). */
  z.object({ type: z.literal('hmac'), secretEnv: envName }).strict(),
]);
export type EndpointAuth = z.infer<typeof endpointAuthSchema>;

export type AuthType = EndpointAuth['type'];

/**
 * Where a municipality receives what is shared with it. One JSON file per destination under
 * `$CONFIG_DIR/destinations/`, validated at start-up. Each destination has its own `deliver` queue.
 *
 * The optional fields stay optional in the parsed type (defaults are applied where they are used), so code and
 * tests that build a destination by hand need not repeat every default.
 */
export const destinationFieldsSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]{1,48}$/, 'lower-case letters, digits and dashes'),
    municipality: z.string().regex(/^GM\d{4}$/, 'a CBS municipality code such as GM0226'),
    /** A destination format: a folder under mappings/municipality/ (checked against their list there). */
    adapter: z.string(),
    baseUrl: z.url({ protocol: /^https?$/ }),
    /**
     * `true` lets `baseUrl` (and an OAuth `auth.tokenUrl`) be plain `http://` to a host that is not local (loopback, a
     * private address or a name without a dot): BSNs, referral content and the client secret would cross networks
     * unencrypted, so this must be said explicitly (`checkPlainHttp`).
     */
    allowPlainHttp: allowPlainHttpSchema,
    auth: endpointAuthSchema.default({ type: 'none' }),
    /** HTTP timeout per attempt; DELIVERY_TIMEOUT_MS when absent. */
    timeoutMs: z.number().int().min(100).optional(),
    /** At most `max` requests leave in any `durationMs`, counted across every worker process (event/send-window.ts). */
    rateLimit: z
      .object({ max: z.number().int().min(1), durationMs: z.number().int().min(10) })
      .strict()
      .optional(),
    /** Overrides of DELIVERY_MAX_ATTEMPTS, DELIVERY_BACKOFF_BASE_MS and DELIVERY_BACKOFF_MAX_MS. */
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(100).optional(),
        backoffBaseMs: z.number().int().min(1).optional(),
        backoffMaxMs: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Pause after this many consecutive failed attempts (default 20); 0 never pauses. */
    pauseAfterFailures: z.number().int().min(0).max(100_000).optional(),
    /** How often a paused destination is probed (default 30 s). */
    probeIntervalMs: z.number().int().min(100).optional(),
  })
  .strict();

export type Destination = z.infer<typeof destinationFieldsSchema>;

/**
 * What the adapters need to reach any receiver: a municipality's destination or a practice's HIS endpoint
 * (feedback). `id` names it in logs and errors.
 */
export interface Endpoint {
  readonly id: string;
  readonly adapter: string;
  readonly baseUrl: string;
  readonly auth: EndpointAuth;
  readonly timeoutMs?: number | undefined;
}

/** Addresses that do not leave this machine or the organisation's own network (RFC 1918, RFC 4193, link-local). */
const LOCAL_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('10.0.0.0', 8, 'ipv4');
  list.addSubnet('172.16.0.0', 12, 'ipv4');
  list.addSubnet('192.168.0.0', 16, 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addSubnet('fc00::', 7, 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  return list;
})();

/**
 * Whether a host is reached without crossing the internet: localhost, a loopback or private address, or a name
 * without a dot (a container or service name on the same network, such as docker compose's `municipality`).
 * A name without a dot is taken on trust, not resolved: a resolver's search domain could make it a remote host, so
 * such a name is for a network whose names the operator controls.
 */
export function isLocalHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  const family = isIP(host);
  if (family !== 0) {
    return LOCAL_ADDRESSES.check(host, family === 4 ? 'ipv4' : 'ipv6');
  }
  return host === 'localhost' || host.endsWith('.localhost') || !host.includes('.');
}

/**
 * An endpoint's addresses may be plain `http://` only to a local host, or with `allowPlainHttp: true`: `baseUrl`
 * receives BSNs (a destination's deliveries, a practice's feedback), and an OAuth `auth.tokenUrl` the client secret.
 * Added to the destination and practice endpoint schemas with superRefine (see mappings/municipality/index.ts).
 */
export function checkPlainHttp(
  value: { baseUrl: string; auth?: EndpointAuth | undefined; allowPlainHttp?: boolean | undefined },
  ctx: z.RefinementCtx,
): void {
  if (value.allowPlainHttp === true) {
    return;
  }
  const addresses = [{ path: ['baseUrl'], url: value.baseUrl, carries: 'BSNs' }];
  if (value.auth?.type === 'oauth2-client-credentials') {
    addresses.push({ path: ['auth', 'tokenUrl'], url: value.auth.tokenUrl, carries: 'the client secret' });
  }
  for (const { path, url, carries } of addresses) {
    const { protocol, hostname } = new URL(url);
    if (protocol === 'http:' && !isLocalHost(hostname)) {
      ctx.addIssue({
        code: 'custom',
        path,
        message:
          `plain http:// to ${hostname}, which is not a local host, would send ${carries} unencrypted: use https://, ` +
          'or set "allowPlainHttp": true if the network between is protected otherwise',
      });
    }
  }
}
