import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RedisClient } from '../kernel/redis-client';
import { redisAnswer, type OutageLog } from '../kernel/outage';
import type { Logger } from 'pino';
import type { Config } from '../kernel/config';
import { errorFields } from '../kernel/logger';
import { z } from 'zod';
import {
  createPrincipal,
  municipalityScopeSchema,
  practiceScopeSchema,
  ROLES,
  scopeProblem,
  type Principal,
} from './principal';

/**
 * A signed-in console user's server-side session. Ids and codes only (the principal, a CSRF token, a language and
 * the ids of the operator's last replay), so Redis never holds personal data; the forms an auditor posted (which may
 * hold a BSN) only sealed with the payload key (kept-forms.ts).
 */
export interface ConsoleSession {
  readonly principal: Principal;
  /** The synchronizer token every POST form carries. */
  readonly csrf: string;
  /** Sign-in time (ms since the epoch): the session ends `maxSeconds` after it, however active. */
  readonly createdAt: number;
  /** The last forms posted for a page that shows them by GET (search, overview, consents): sealed, by opaque id. */
  readonly forms?: readonly { readonly id: string; readonly sealed: string }[] | undefined;
  /** Delivery ids of the operator's last replay, for its progress page. */
  readonly lastReplay?: readonly string[] | undefined;
  /**
   * What an action just did, said once on the page it redirects to (not in that page's address, where a reload or a
   * bookmark would say it again): its kind and the id it was about (a destination, an event).
   */
  readonly flash?: ConsoleFlash | undefined;
  /** When the credential signed in with stops holding (a JWT's `exp`, ms since the epoch): the session ends then. */
  readonly expiresAt?: number | undefined;
  /** Which API key signed in (`keyFingerprint`): the session ends when the key is re-issued under the same id. */
  readonly keyFingerprint?: string | undefined;
}

/** The kinds of action a console page confirms once after its redirect (`ConsoleSession.flash`). */
export const FLASH_KINDS = ['paused', 'resumed', 'redecided-permit', 'redecided-not', 'ended-pending'] as const;
export interface ConsoleFlash {
  readonly what: (typeof FLASH_KINDS)[number];
  readonly about: string;
}

const sessionSchema = z.object({
  principal: z.object({
    id: z.string().min(1),
    role: z.enum(ROLES),
    practices: practiceScopeSchema,
    municipalities: municipalityScopeSchema,
    via: z.enum(['api-key', 'jwt']),
  }),
  csrf: z.string().min(32),
  createdAt: z.number(),
  forms: z
    .array(z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{16}$/), sealed: z.string().max(8192) }))
    .max(20)
    .optional(),
  lastReplay: z.array(z.uuid()).max(1000).optional(),
  flash: z.object({ what: z.enum(FLASH_KINDS), about: z.string().max(200) }).optional(),
  expiresAt: z.number().optional(),
  keyFingerprint: z.string().max(64).optional(),
});

/** A fresh random token (256 bits, URL-safe): session ids and CSRF tokens. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two secrets in constant time (false for different lengths). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Console sessions in Redis, under the deployment's hash-tagged prefix. The key is the SHA-256 of the cookie's
 * token, so whoever reads Redis cannot take over a session. Every request the user makes moves the idle expiry on
 * (EXPIRE); a page's own background refresh does not. A session also ends `maxSeconds` after sign-in, and at the
 * expiry of the credential it was opened with (a JWT's `exp`). Losing Redis signs everyone out, nothing worse.
 */
export class ConsoleSessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly idleSeconds: number,
    readonly maxSeconds: number,
  ) {}

  private key(token: string): string {
    return `${this.prefix}:console-session:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
  }

  /** Seconds until the session ends, absolutely: sign-in plus `maxSeconds`, or the credential's expiry if sooner. */
  lifetimeSeconds(session: Pick<ConsoleSession, 'createdAt' | 'expiresAt'>, now = Date.now()): number {
    const end = Math.min(session.createdAt + this.maxSeconds * 1000, session.expiresAt ?? Number.POSITIVE_INFINITY);
    return Math.max(0, Math.ceil((end - now) / 1000));
  }

  /** Redis' expiry for a session: the idle timeout, or less when the session ends sooner. */
  private ttl(session: ConsoleSession): number {
    return Math.max(1, Math.min(this.idleSeconds, this.lifetimeSeconds(session)));
  }

  /**
   * Creates a session for a principal; returns the token for the cookie. `credential` is what the sign-in learnt of
   * the credential: when it expires, and which API key it was.
   */
  async create(
    principal: Principal,
    credential: Pick<ConsoleSession, 'expiresAt' | 'keyFingerprint'> = {},
  ): Promise<{ token: string; session: ConsoleSession }> {
    const token = newToken();
    const session: ConsoleSession = {
      principal,
      csrf: newToken(),
      createdAt: Date.now(),
      ...(credential.expiresAt === undefined ? {} : { expiresAt: credential.expiresAt }),
      ...(credential.keyFingerprint === undefined ? {} : { keyFingerprint: credential.keyFingerprint }),
    };
    await redisAnswer(
      this.redis.set(this.key(token), JSON.stringify(session), 'EX', this.ttl(session)),
      'create a session',
    );
    return { token, session };
  }

  /**
   * The session of a token; undefined when unknown, idle too long, too old or past its credential's expiry. Its idle
   * expiry is moved on, unless `extend` is false (a page's background refresh: not the user's activity).
   */
  async tryGet(token: string, opts: { extend?: boolean } = {}): Promise<ConsoleSession | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) {
      return undefined;
    }
    const key = this.key(token);
    const raw = await redisAnswer(this.redis.get(key), 'read a session');
    if (raw === null) {
      return undefined;
    }
    const parsed = sessionSchema.safeParse(JSON.parse(raw));
    const p = parsed.data?.principal;
    if (
      !parsed.success ||
      !p ||
      scopeProblem(p.role, p.practices, p.municipalities) !== undefined ||
      parsed.data.createdAt + this.maxSeconds * 1000 < Date.now() ||
      (parsed.data.expiresAt !== undefined && parsed.data.expiresAt <= Date.now())
    ) {
      await redisAnswer(this.redis.del(key), 'drop a session');
      return undefined;
    }
    const session = { ...parsed.data, principal: createPrincipal(parsed.data.principal) };
    if (opts.extend !== false) {
      await redisAnswer(this.redis.expire(key, this.ttl(session)), 'extend a session');
    }
    return session;
  }

  /** Stores a changed session (same token), keeping the idle expiry. */
  async update(token: string, session: ConsoleSession): Promise<void> {
    await redisAnswer(
      this.redis.set(this.key(token), JSON.stringify(session), 'EX', this.ttl(session), 'XX'),
      'update a session',
    );
  }

  /** Ends a session (sign-out). */
  async destroy(token: string): Promise<void> {
    await redisAnswer(this.redis.del(this.key(token)), 'end a session');
  }

  close(): void {
    this.redis.disconnect();
  }
}

/** The console's session store on the deployment's Redis, with the configured idle and absolute timeouts. */
export function openConsoleSessions(
  redis: RedisClient,
  config: Pick<Config, 'QUEUE_PREFIX' | 'CONSOLE_IDLE_TIMEOUT_MIN' | 'CONSOLE_SESSION_MAX_HOURS'>,
  log: Logger,
  outages: Pick<OutageLog, 'connectionError'>,
): ConsoleSessionStore {
  // Redis away means no console for a while (requests fail), never a crash; the outage is logged once (OutageLog).
  redis.on('error', (err: Error) => {
    if (!outages.connectionError('redis', err)) {
      log.warn(errorFields(err), 'console session store: Redis error');
    }
  });
  return new ConsoleSessionStore(
    redis,
    config.QUEUE_PREFIX,
    config.CONSOLE_IDLE_TIMEOUT_MIN * 60,
    config.CONSOLE_SESSION_MAX_HOURS * 3600,
  );
}
