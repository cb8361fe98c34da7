import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { COMMIT_PATTERN, readBuildInfo, type BuildInfo } from './build-info';

/** Booleans in the environment are words, not JSON. */
const envBoolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** `host:port,host:port`: Redis Cluster seed nodes or Sentinels. */
const hostPortList = z
  .string()
  .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'comma-separated host:port pairs such as redis-1:6379,redis-2:6379');

/**
 * A number from the environment, as `Number()` reads it (`30000`, ` 8081 `, `3.6e6`), checked against its bounds. A
 * value that is none (`abc`, `1.5` where a whole number is meant) is refused naming the value, instead of zod's
 * `expected number, received NaN`: the operator sees what was set (`DATABASE_POOL_SIZE: must be a whole number, got
 * 'abc'`). Numeric settings hold no secrets, so repeating the value is safe.
 */
function envNumber(opts: { whole?: boolean; min?: number; max?: number; above?: number } = {}) {
  const { whole = true, min, max, above } = opts;
  return z.string().transform((raw, ctx) => {
    const n = raw.trim() === '' ? Number.NaN : Number(raw);
    const problem =
      !Number.isFinite(n) || (whole && !Number.isInteger(n))
        ? `must be a ${whole ? 'whole ' : ''}number`
        : min !== undefined && n < min
          ? `must be at least ${min}`
          : max !== undefined && n > max
            ? `must be at most ${max}`
            : above !== undefined && n <= above
              ? `must be above ${above}`
              : undefined;
    if (problem) {
      ctx.issues.push({ code: 'custom', message: `${problem}, got '${raw}'`, input: raw });
      return z.NEVER;
    }
    return n;
  });
}

/**
 * Whose X-Forwarded-For names the client (Express's `trust proxy`): no proxy's, the nearest `hops` proxies', or those
 * at these addresses (IP addresses, CIDR ranges, and proxy-addr's names `loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = false | { readonly hops: number } | { readonly addresses: readonly string[] };

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** An IP address, or one with a prefix length (`10.0.0.0/8`, `fd00::/8`); `/0` would be every address. */
function isAddressOrRange(entry: string): boolean {
  const [address = '', bits, ...more] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || more.length > 0) {
    return false;
  }
  return (
    bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= (family === 4 ? 32 : 128))
  );
}

/**
 * TRUST_PROXY: `none` (or `false`), a hop count, or comma-separated addresses, CIDR ranges and range names. Checked
 * here rather than left to Express, which would refuse a bad address only when the app is built, with proxy-addr's
 * words; and `true` (every address), which Express takes, is refused: any client could then choose the address it is
 * audited and throttled by. The value is repeated in the message, as envNumber does: addresses are no secret.
 */
const trustProxy = z.string().transform((raw, ctx): TrustProxy => {
  const refuse = (problem: string) => {
    ctx.issues.push({ code: 'custom', message: `${problem}, got '${raw}'`, input: raw });
    return z.NEVER;
  };
  const value = raw.trim().toLowerCase();
  if (value === 'none' || value === 'false') {
    return false;
  }
  if (/^\d+$/.test(value)) {
    return Number(value) >= 1
      ? { hops: Number(value) }
      : refuse('a hop count must be at least 1 (none trusts no proxy)');
  }
  if (value === 'true') {
    return refuse(
      'must name the proxies or a hop count, not every address (any client could choose the address it is audited ' +
        'and throttled by)',
    );
  }
  const entries = value.split(',').map((e) => e.trim());
  const wrong = entries.find((e) => !PROXY_RANGE_NAMES.includes(e) && !isAddressOrRange(e));
  if (wrong !== undefined) {
    return refuse(
      `must be IP addresses or CIDR ranges (10.0.0.0/8), loopback, linklocal or uniquelocal, comma-separated; ` +
        `a hop count; or none${entries.length > 1 ? ` ('${wrong}' is none of these)` : ''}`,
    );
  }
  return { addresses: entries };
});

/**
 * The one schema over the environment. Every key is documented in the README's configuration table;
 * `tests/unit/config.test.ts` checks that the table and this schema name the same keys.
 */
/**
 * Five years in days, the term access logs are commonly kept under NEN 7513: AUDIT_RETENTION_DAYS's default, below
 * which config:check warns.
 */
export const AUDIT_RETENTION_FIVE_YEARS = 1826;

export const configSchema = z
  .object({
    ROLE: z.enum(['all', 'api', 'worker']).default('all'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: envNumber({ min: 0, max: 65535 }).default(8080),
    METRICS_PORT: envNumber({ min: 0, max: 65535 }).optional(),
    // Links in FHIR Bundles are built on this, never on the request's Host or X-Forwarded-* (which a client controls).
    PUBLIC_BASE_URL: z
      .url({ protocol: /^https?$/ })
      .refine((u) => !/[?#]/.test(u), 'a base URL without query or fragment, such as https://jeugdbrug.example.nl')
      .optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    CONFIG_DIR: z.string().min(1).default('./config'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    DATABASE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and underscores')
      .default('public'),
    DATABASE_POOL_SIZE: envNumber({ min: 1, max: 200 }).default(10),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
    REDIS_CLUSTER_NODES: hostPortList.optional(),
    REDIS_SENTINELS: hostPortList.optional(),
    REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    REDIS_USERNAME: z.string().min(1).optional(),
    REDIS_PASSWORD: z.string().min(1).optional(),
    REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    REDIS_TLS: envBoolean.default(false),
    QUEUE_PREFIX: z
      .string()
      // Required on one server too, so a prefix that runs today also runs on a Redis Cluster (report-drill L1).
      .regex(/^\{[^{}]+\}$/, 'always a {hash tag} such as {jeugdbrug}, on a single Redis server too')
      .default('{jeugdbrug}'),
    QUEUE_TAG_PER_QUEUE: envBoolean.default(false),
    MAX_QUEUE_DEPTH: envNumber({ min: 1 }).default(250_000),
    QUEUE_FULL_RETRY_AFTER_S: envNumber({ min: 1, max: 3600 }).default(30),
    // A job spends most of its time waiting for its group's statements and sends (stage-batch.ts), so slots, not
    // CPU, bounded a worker at 32: measured in POSTs of 100, 604-640 events/s at 32/32 against 738-804 at 128/64
    // (bench/README.md, "Stage slots"). Deliveries stay at 64: what one municipality may see at once per process.
    MAP_CONCURRENCY: envNumber({ min: 1, max: 500 }).default(128),
    DELIVER_CONCURRENCY: envNumber({ min: 1, max: 500 }).default(64),
    DELIVERY_MAX_ATTEMPTS: envNumber({ min: 1, max: 100 }).default(15),
    DELIVERY_BACKOFF_BASE_MS: envNumber({ min: 1 }).default(30_000),
    DELIVERY_BACKOFF_MAX_MS: envNumber({ min: 1 }).default(3_600_000),
    DELIVERY_TIMEOUT_MS: envNumber({ min: 100 }).default(10_000),
    JOB_LOCK_MS: envNumber({ min: 500 }).default(30_000),
    // A bulk load keeps connections busy for minutes at most; a database that frees none for longer is a fault that
    // retries and dead letters must be able to end.
    JOB_CONNECTION_WAIT_MAX_MS: envNumber({ min: 0 }).default(600_000),
    RECONCILE_INTERVAL_MS: envNumber({ min: 100 }).default(60_000),
    RECONCILE_GRACE_MS: envNumber({ min: 0 }).default(30_000),
    BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)$/, 'a size such as 1mb or 512kb')
      .default('1mb'),
    REQUEST_TIMEOUT_MS: envNumber({ min: 1000, max: 300_000 }).default(60_000),
    INBOX_KEYS: z.string().optional(),
    API_KEYS_FILE: z.string().min(1).optional(),
    JWT_ISSUERS_FILE: z.string().min(1).optional(),
    JWT_CLOCK_SKEW_S: envNumber({ min: 0, max: 300 }).default(60),
    RATE_LIMIT_PER_S: envNumber({ whole: false, above: 0 }).default(50),
    RATE_LIMIT_BURST: envNumber({ min: 1 }).default(500),
    AUTH_FAILURE_LIMIT: envNumber({ min: 1, max: 10_000 }).default(20),
    AUTH_FAILURE_WINDOW_S: envNumber({ min: 1, max: 86_400 }).default(300),
    TRUST_PROXY: trustProxy.prefault('loopback'),
    DEMO_KEYS: envBoolean.default(true),
    CORS_ORIGINS: z
      .string()
      .regex(/^https?:\/\/[^,\s]+(,https?:\/\/[^,\s]+)*$/, 'comma-separated origins such as https://portal.example.nl')
      .optional(),
    CONSOLE_IDLE_TIMEOUT_MIN: envNumber({ min: 1, max: 1440 }).default(30),
    CONSOLE_SESSION_MAX_HOURS: envNumber({ min: 1, max: 168 }).default(12),
    AUDIT_SIGNING_KEYS: z.string().optional(),
    AUDIT_SIGN_INTERVAL_MS: envNumber({ min: 100 }).default(60_000),
    // 0 turns the scheduled whole verification off; otherwise at least a second between two of one chain.
    AUDIT_FULL_VERIFY_INTERVAL_MS: envNumber({ min: 0 })
      .refine((n) => n === 0 || n >= 1000, 'must be 0 (off) or at least 1000')
      .default(86_400_000),
    AUDIT_WITNESS_URL: z.url({ protocol: /^https?$/ }).optional(),
    AUDIT_RETENTION_DAYS: envNumber({ min: 1 }).default(AUDIT_RETENTION_FIVE_YEARS),
    INBOX_PAYLOAD_RETENTION_DAYS: envNumber({ min: 1 }).default(30),
    REFERRAL_IDENTITY_RETENTION_DAYS: envNumber({ min: 1 }).default(730),
    REPORT_RETENTION_DAYS: envNumber({ min: 1 }).default(3653),
    // A year's report is seconds of PostgreSQL: this many at once per API process, twice as many waiting, the rest 503.
    MONITORING_REPORT_CONCURRENCY: envNumber({ min: 1, max: 32 }).default(2),
    MONITORING_PUSH_SCHEDULE: z.enum(['off', 'quarterly']).default('off'),
    // Practices register a quarter's last days late: its scheduled push waits this many days after its end.
    MONITORING_PUSH_DELAY_DAYS: envNumber({ min: 0, max: 60 }).default(14),
    REPORT_PSEUDONYM_KEY: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'a 32-byte key in base64')
      .optional(),
    RETENTION_INTERVAL_MS: envNumber({ min: 60_000 }).default(86_400_000),
    REDECIDE_WINDOW_DAYS: envNumber({ min: 0, max: 3650 }).default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SHUTDOWN_TIMEOUT_MS: envNumber({ min: 100 }).default(30_000),
    START_REDIS: envBoolean.default(true),
    STARTUP_WAIT_MS: envNumber({ min: 0 }).default(300_000),
    // Set by the image's build (`--build-arg JEUGDBRUG_BUILD_COMMIT=$(git rev-parse HEAD)`), not by an operator.
    JEUGDBRUG_BUILD_COMMIT: z
      .string()
      .transform((v) => v.trim().toLowerCase())
      .pipe(z.string().regex(COMMIT_PATTERN, 'a git commit id: 7 to 64 hex digits, as git rev-parse HEAD prints'))
      .optional(),
  })
  // One Redis topology at a time: a cluster and a sentinel group are different servers, so a second one set is a mistake.
  .superRefine((c, ctx) => {
    const set = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((k) => c[k] !== undefined);
    if (set.length > 1) {
      ctx.addIssue({ code: 'custom', path: [set[1] ?? ''], message: `set only one of ${set.join(', ')}` });
    }
    if ((c.REDIS_SENTINELS === undefined) !== (c.REDIS_SENTINEL_NAME === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.REDIS_SENTINELS === undefined ? 'REDIS_SENTINELS' : 'REDIS_SENTINEL_NAME'],
        message: 'REDIS_SENTINELS and REDIS_SENTINEL_NAME go together',
      });
    }
  });

export type Config = z.infer<typeof configSchema> & { readonly dataDir: string; readonly configDir: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The environment parsed once: the configuration, or every problem at once (one line `Invalid configuration: KEY:
 * message` per bad key) and no configuration.
 */
export function parseEnvironment(
  env: Record<string, string | undefined> = process.env,
): { config: Config; problems: [] } | { config: undefined; problems: string[] } {
  const parsed = configSchema.safeParse(knownKeys(env));
  if (!parsed.success) {
    return {
      config: undefined,
      problems: parsed.error.issues.map(
        (issue) => `Invalid configuration: ${String(issue.path[0] ?? 'environment')}: ${issue.message}`,
      ),
    };
  }
  return {
    config: {
      ...parsed.data,
      dataDir: path.resolve(parsed.data.DATA_DIR),
      configDir: path.resolve(parsed.data.CONFIG_DIR),
    },
    problems: [],
  };
}

function knownKeys(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.keys(configSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
}

/** Parses the environment once; throws a ConfigError naming every bad key, one per line. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const { config, problems } = parseEnvironment(env);
  if (!config) {
    throw new ConfigError(problems.join('\n'));
  }
  return config;
}

/**
 * The build a process names before its configuration is known to be valid (the fatal line of a refused start-up,
 * `config:check`'s first line): a `JEUGDBRUG_BUILD_COMMIT` that is no commit id is one of the problems listed, and
 * the checkout's commit (or `unknown`) stands in for it.
 */
export function buildBeforeConfig(env: NodeJS.ProcessEnv): BuildInfo {
  const commit = configSchema.shape.JEUGDBRUG_BUILD_COMMIT.safeParse(env.JEUGDBRUG_BUILD_COMMIT || undefined);
  return readBuildInfo(commit.success ? commit.data : undefined);
}
