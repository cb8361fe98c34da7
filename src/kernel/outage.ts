import type { Logger } from 'pino';

/**
 * PostgreSQL and Redis being away is an outage, not a bug: callers answer 503 with Retry-After, workers retry, and
 * start-up waits. This file tells the two apart and holds the small tools for waiting and timing out.
 */

/**
 * How an outage line names its error: by its code when it has one (`57P01`, a PostgreSQL shutdown; `ECONNREFUSED`),
 * which a log search can use, else by its class (pg's DatabaseError calls itself `error`); `reason` is its message.
 * A dependency's refusal to connect or answer carries no personal data: its message is kept.
 */
export function outageErrorFields(err: unknown): { error: string; reason: string } {
  const e = err as (Partial<Error> & { code?: unknown }) | undefined;
  const ownClass = typeof err === 'object' && err !== null ? err.constructor?.name : undefined;
  const error =
    typeof e?.code === 'string' && e.code !== ''
      ? e.code
      : ownClass && ownClass !== 'Object'
        ? ownClass
        : (e?.name ?? typeof err);
  return { error, reason: e?.message ?? String(err) };
}

/** What can be away: PostgreSQL (or the embedded PGlite) and Redis. */
export type Dependency = 'database' | 'redis';

const DEPENDENCIES: readonly Dependency[] = ['database', 'redis'];

/** Thrown when a dependency did not answer in time (e.g. Redis down behind ioredis's offline queue). */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: Dependency,
    message: string,
  ) {
    super(message);
  }
}

/**
 * SQLSTATE classes and codes that mean "the server is away or restarting", not "your statement is wrong":
 * 08 connection exception, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 53300 too many
 * connections.
 */
const PG_OUTAGE_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
const NODE_OUTAGE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/**
 * What pg-pool says when no connection of the pool came free in time (db.ts's `limitConnections` says it too). A
 * 503 (or a retried job) like an outage, but often only a busy pool: the outage log asks the server before it says.
 */
export const CONNECTION_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';

/** What ioredis says when Redis is away: its messages, which pg never uses. */
const REDIS_OUTAGE_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
];

const OUTAGE_MESSAGES = [
  'Connection terminated',
  'connection terminated',
  CONNECTION_WAIT_TIMEOUT,
  'Client has encountered a connection error',
  'connect ECONNREFUSED',
  'the database system is',
  'terminating connection due to administrator command',
  'Cannot use a pool after calling end',
  ...REDIS_OUTAGE_MESSAGES,
];

/** `err` and the errors it wraps (an AggregateError's first, as of several addresses refused; a `cause`), four deep. */
function* causesOf(err: unknown): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    yield e;
    e = (e as { errors?: unknown[] }).errors?.[0] ?? (e as { cause?: unknown }).cause;
  }
}

/** Whether `err` says a database or Redis connection is down (so the answer is 503, not 500). */
export function isOutageError(err: unknown): boolean {
  for (const e of causesOf(err)) {
    if (e instanceof DependencyUnavailableError) {
      return true;
    }
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (
      typeof code === 'string' &&
      (PG_OUTAGE_CODES.has(code) || code.startsWith('08') || NODE_OUTAGE_CODES.has(code))
    ) {
      return true;
    }
    if (name === 'MaxRetriesPerRequestError' || name === 'DependencyUnavailableError') {
      return true;
    }
    if (typeof message === 'string' && OUTAGE_MESSAGES.some((m) => message.includes(m))) {
      return true;
    }
  }
  return false;
}

/**
 * Which dependency an outage error (`isOutageError`) is about: the one a DependencyUnavailableError names, Redis for
 * ioredis's own errors, else the database. A request's Redis calls are bounded and say so (`redisAnswer`), so a
 * connection error that names neither (ECONNREFUSED, a SQLSTATE) is pg's.
 */
export function outageDependencyOf(err: unknown): Dependency {
  for (const e of causesOf(err)) {
    if (e instanceof DependencyUnavailableError) {
      return e.dependency;
    }
    const { message, name } = e as { message?: unknown; name?: unknown };
    if (
      name === 'MaxRetriesPerRequestError' ||
      (typeof message === 'string' && REDIS_OUTAGE_MESSAGES.some((m) => message.includes(m)))
    ) {
      return 'redis';
    }
  }
  return 'database';
}

/** Rejects with a DependencyUnavailableError when `promise` has not settled within `ms`. */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  dependency: Dependency,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new DependencyUnavailableError(dependency, `${what}: no answer within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long a request waits for Redis. A connection may keep commands queued while Redis is away (ioredis's offline
 * queue, which the workers need), and a Redis Cluster slot whose primary just died takes commands without
 * answering; without a bound a request would wait for the whole outage.
 */
export const REDIS_ANSWER_MS = 1000;

/** A Redis call bounded by REDIS_ANSWER_MS: a DependencyUnavailableError (503) instead of a hanging request. */
export function redisAnswer<T>(call: Promise<T>, what: string): Promise<T> {
  // The call itself stays in ioredis's queue; nothing else waits for it, so a late rejection must not go unhandled.
  call.catch(() => undefined);
  return withTimeout(call, REDIS_ANSWER_MS, 'redis', what);
}

/**
 * Calls `attempt` until it succeeds, waiting 0.5 s doubling to 10 s between tries and logging each failure, for at
 * most `maxWaitMs` in all; then throws the last error. Start-up uses it so that a process started while PostgreSQL
 * or Redis is still coming up waits for it instead of exiting.
 */
export async function waitForDependency<T>(
  what: string,
  attempt: () => Promise<T>,
  log: Logger,
  maxWaitMs: number,
): Promise<T> {
  const started = Date.now();
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      return await attempt();
    } catch (err) {
      const waited = Date.now() - started;
      if (!isOutageError(err) || waited + delay > maxWaitMs) {
        throw err;
      }
      log.warn(
        { dependency: what, waitedMs: waited, retryInMs: delay, ...outageErrorFields(err) },
        'dependency unavailable; waiting',
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** BullMQ's errors for a job whose keys or lock Redis no longer has when the worker renews its lock or ends it. */
const INTERRUPTED_JOB = /^(Missing (key|lock) for job |could not renew lock for job )/;

/** How often a dependency known to be away is asked again, so that the end of its outage is logged. */
const OUTAGE_PROBE_MS = 1000;

/**
 * Whether `err` (or an error it wraps) is a wait for a database connection that timed out: every connection of the
 * pool, or of the workers' share of it, was in use for CONNECTION_WAIT_MS. The process's own shortage (or a server
 * too slow to hand connections back), never a fault of whatever the caller was about to talk to.
 */
export function isConnectionWaitTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message.includes(CONNECTION_WAIT_TIMEOUT)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * How often a database that answers while the process waits for its connections is logged as busy, at most; and
 * enqueues that failed while Redis still answered (`OutageLog.deferred`).
 */
const BUSY_LOG_MS = 60_000;

/**
 * Whether `err` says that the database did not answer through the process's connections in time: no connection of
 * the pool came free, or a query did not answer within its bound. When the server itself answers meanwhile (asked on
 * a connection of its own), the connections were all in use: busy, not down.
 */
export function isSlowAnswer(err: unknown): boolean {
  if (err instanceof DependencyUnavailableError) {
    return err.dependency === 'database';
  }
  const message = (err as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message.includes(CONNECTION_WAIT_TIMEOUT);
}

/**
 * Logs an outage of PostgreSQL or Redis once when it is first noticed (`error`, with the reason) and once when the
 * dependency answers again (`info`, with how long it was away), however many requests it refuses meanwhile: each of
 * those is only its access line, at `warn`. An outage is expected operation, so it is not an "unexpected error", but
 * an operator still learns of it, once.
 *
 * An error only suggests an outage: the dependency is asked first (the database on a connection outside the pool,
 * `Db.pingServer`), and only one that does not answer is down. A database that answers while requests or jobs could
 * not get a connection in time is busy (every connection in use, e.g. workers under a bulk load): logged as
 * `dependency busy` (`warn`), at most once a minute, never as an outage.
 *
 * Work whose enqueue failed for the outage (the reconciler queues it later: `deferred`) is counted, not logged one line
 * each: the outage's end line says how many (`enqueuesDeferred`).
 */
export class OutageLog {
  private readonly outages = new Map<Dependency, { since: number; deferred: number; timer?: NodeJS.Timeout }>();
  /** Enqueues that failed while no outage of the dependency was (yet) known: its outage takes them over. */
  private readonly deferredMeanwhile = new Map<Dependency, number>();
  private lastDeferredLog = Number.NEGATIVE_INFINITY;
  /** When each dependency's last outage was logged as ended. */
  private readonly lastEnded = new Map<Dependency, number>();
  /** Dependencies being asked whether an error means they are away. */
  private readonly confirming = new Set<Dependency>();
  private lastCheck = Number.NEGATIVE_INFINITY;
  private lastBusy = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly probes: Readonly<Record<Dependency, () => Promise<unknown>>>,
    private readonly probeMs = OUTAGE_PROBE_MS,
  ) {}

  /**
   * An error a request failed with. When it is an outage, the dependency it names is asked; a driver's error (pg,
   * ioredis) does not reliably say which, so then both are asked, at most once per probe interval.
   */
  noticed(err: unknown): void {
    if (this.closed || !isOutageError(err)) {
      return;
    }
    if (err instanceof DependencyUnavailableError) {
      this.confirm(err.dependency, err);
      return;
    }
    const now = Date.now();
    if (now - this.lastCheck < this.probeMs) {
      return;
    }
    this.lastCheck = now;
    for (const dependency of DEPENDENCIES) {
      this.confirm(dependency, err);
    }
  }

  /**
   * An error a periodic task of the process met (a job, the audit signer, the destination health check): when it is
   * an outage, `noticed` asks the dependencies and logs the outage once; returns whether it was one, so the caller
   * logs only the other errors instead of a line every round.
   */
  seen(err: unknown): boolean {
    this.noticed(err);
    return isOutageError(err);
  }

  /**
   * An error a connection to `dependency` emitted by itself (a worker's, a queue's or a Redis client's 'error'
   * event, several a second while the dependency is away): when it is an outage, the dependency is asked once and,
   * if it does not answer, its outage starts (with this error's reason). Returns whether the error was an outage, so
   * the caller logs only the other errors.
   */
  connectionError(dependency: Dependency, err: unknown): boolean {
    if (!isOutageError(err)) {
      return false;
    }
    // One connection dropping (Redis closing an idle client, a failover) is not yet an outage: the probe says.
    this.confirm(err instanceof DependencyUnavailableError ? err.dependency : dependency, err);
    return true;
  }

  /**
   * Whether `err` is a queue worker's error about a job whose key or lock Redis no longer had when the job ended
   * (BullMQ's `Missing key for job …`, `Missing lock for job …`) or renewed its lock (`could not renew lock for job
   * …`), at a moment that makes it a consequence of a Redis
   * outage: during one, or within `withinMs` after its end (a job in flight across the outage ends after it; Redis
   * restarted without its data, or its lock expired meanwhile). Nothing is lost: the job's record is in PostgreSQL and
   * the reconciler queues it again. Without an outage nearby the same error means a job outran its lock, a bug.
   */
  jobInterrupted(err: unknown, withinMs: number): boolean {
    const message = (err as { message?: unknown } | undefined)?.message;
    if (typeof message !== 'string' || !INTERRUPTED_JOB.test(message)) {
      return false;
    }
    const ended = this.lastEnded.get('redis');
    return (
      this.outages.has('redis') ||
      this.confirming.has('redis') ||
      (ended !== undefined && Date.now() - ended <= withinMs)
    );
  }

  /**
   * Work already durable in PostgreSQL whose enqueue failed for an outage of `dependency` (`err`): the reconciler
   * queues it later. Counted into the outage (its end line says how many), so that a Redis outage under load is two
   * lines, not one per accepted event. When the dependency still answers (an answer that was only late), they are
   * logged at most once a minute, with their count.
   */
  deferred(dependency: Dependency, err: unknown): void {
    if (this.closed) {
      return;
    }
    const outage = this.outages.get(dependency);
    if (outage) {
      outage.deferred++;
      return;
    }
    this.deferredMeanwhile.set(dependency, (this.deferredMeanwhile.get(dependency) ?? 0) + 1);
    this.confirm(dependency, err);
  }

  /**
   * A dependency that did not answer through the process's connections (a readiness probe, a metrics source): it is
   * asked directly, and its outage starts if it does not answer that either.
   */
  down(dependency: Dependency, err: unknown): void {
    this.confirm(dependency, err);
  }

  /**
   * A dependency that answered on a connection of its own while `err` says the process's connections were all in
   * use (a readiness probe asks both): busy, logged as such at most once a minute, never an outage.
   */
  busy(dependency: Dependency, err: unknown): void {
    this.answered(dependency, err);
  }

  /** Stops asking; an outage still open is not logged as ended. */
  close(): void {
    this.closed = true;
    for (const outage of this.outages.values()) {
      clearTimeout(outage.timer);
    }
  }

  /** Asks `dependency`, once at a time: its outage starts when it does not answer; when it does, it may be busy. */
  private confirm(dependency: Dependency, err: unknown): void {
    if (this.closed || this.outages.has(dependency) || this.confirming.has(dependency)) {
      return;
    }
    this.confirming.add(dependency);
    void this.probe(dependency)
      .then(
        () => this.answered(dependency, err),
        () => this.begin(dependency, err),
      )
      .finally(() => this.confirming.delete(dependency));
  }

  /** `dependency` answered although `err` suggested it was away. */
  private answered(dependency: Dependency, err: unknown): void {
    const now = Date.now();
    const deferred = this.deferredMeanwhile.get(dependency) ?? 0;
    if (!this.closed && deferred > 0 && now - this.lastDeferredLog >= BUSY_LOG_MS) {
      this.lastDeferredLog = now;
      this.deferredMeanwhile.delete(dependency);
      this.log.warn(
        { dependency, enqueuesDeferred: deferred, ...outageErrorFields(err) },
        'enqueue failed; the reconciler will retry',
      );
    }
    if (this.closed || dependency !== 'database' || !isSlowAnswer(err) || now - this.lastBusy < BUSY_LOG_MS) {
      return;
    }
    this.lastBusy = now;
    this.log.warn({ dependency, ...outageErrorFields(err) }, 'dependency busy');
  }

  private begin(dependency: Dependency, err: unknown): void {
    if (this.closed || this.outages.has(dependency)) {
      return;
    }
    // The enqueues that failed while the dependency was being asked are this outage's.
    this.outages.set(dependency, { since: Date.now(), deferred: this.deferredMeanwhile.get(dependency) ?? 0 });
    this.deferredMeanwhile.delete(dependency);
    this.log.error({ dependency, ...outageErrorFields(err) }, 'dependency outage started');
    this.probeLater(dependency);
  }

  private probeLater(dependency: Dependency): void {
    const outage = this.outages.get(dependency);
    if (!outage || this.closed) {
      return;
    }
    outage.timer = setTimeout(() => {
      this.probe(dependency).then(
        () => {
          if (!this.closed) {
            this.outages.delete(dependency);
            this.lastEnded.set(dependency, Date.now());
            this.log.info(
              { dependency, downForMs: Date.now() - outage.since, enqueuesDeferred: outage.deferred },
              'dependency outage ended',
            );
          }
        },
        () => this.probeLater(dependency),
      );
    }, this.probeMs);
    outage.timer.unref();
  }

  private probe(dependency: Dependency): Promise<unknown> {
    return withTimeout(this.probes[dependency](), OUTAGE_PROBE_MS, dependency, 'outage probe');
  }
}
