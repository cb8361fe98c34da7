import { z } from 'zod';

/** Consecutive failed attempts after which a destination is paused, unless it sets its own. */
export const DEFAULT_PAUSE_AFTER_FAILURES = 20;
/** How often a paused destination is probed to see whether it is back, unless it sets its own. */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable');

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
