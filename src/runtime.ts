import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { openConsoleSessions, type ConsoleSessionStore } from './access/console-sessions';
import { startRetention } from './event/retention';
import { startReportRetention } from './event/monitoring-writer';
import { startMonitoringPushSchedule } from './reports/monitoring/report-push';
import { AuditWriter } from './audit/writer';
import { startFullVerification } from './audit/full-verify';
import { HeadSigner, openSignedHeads } from './audit/signed-heads';
import { readBuildInfo } from './kernel/build-info';
import type { Config } from './kernel/config';
import { loadRegistry, type Registry } from './event/registry';
import { initFhirValidation } from './kernel/fhir/validation';
import { createApp } from './http/app';
import { requestListener } from './http/lean-route';
import { appObjectClasses } from './http/app-objects';
import { createOpsApp } from './http/ops-app';
import { publicBaseUrl } from './http/public-base-url';
import { ApiKeyStore } from './access/api-keys';
import { readIssuersFile } from './access/jwt';
import { answerClientErrors } from './http/client-errors';
import { createAuthenticator, createCredentialVerifier } from './access/authenticate';
import { createRateLimiter } from './access/rate-limit';
import { SharedRateLimiter } from './access/shared-rate-limit';
import { AuthFailureThrottle } from './access/auth-failure-throttle';
import { AuthFailures } from './http/auth-failures';
import { createDemoKeysIfMissing } from './access/demo-keys';
import { createLogger, errorFields } from './kernel/logger';
import { Metrics } from './kernel/metrics';
import { isTracingStarted } from './kernel/telemetry';
import { operationsFigures } from './reports/operations-metrics/figures';
import { refreshReceivedServiceRequests } from './reports/service-request-search/received-service-requests';
import type { PipelineContext } from './event/context';
import { QueueSet } from './event/queues';
import { flushAcceptedSendDrops } from './event/accepted-sends';
import { logReconcileFailure, reconcileOnce } from './event/reconciler';
import { assertRedisUp, provideRedis, type RedisHandle } from './kernel/redis';
import { createRedisClient, describeRedisTarget, redisTargetOf, usesRedisTopology } from './kernel/redis-client';
import { ServerCloser } from './http/graceful-close';
import { isOutageError, OutageLog, waitForDependency, withTimeout } from './kernel/outage';
import { checkEvictionPolicy, readRedisMemory } from './kernel/redis-memory';
import { startWorkers } from './event/workers';
import { limitConnections, openDb } from './kernel/db';
import { migrate } from './kernel/migrate';
import { addressOldReferrals, pendingToUnconfiguredDestinations, sealPlainFeedbackReasons } from './event/event-store';
import { loadPayloadCipher } from './kernel/payload-crypto';
import { MONITORING_REPORT_TIMES, SharedConcurrencyLimit } from './kernel/shared-concurrency-limit';

/** How long after a delivery's own bound (DELIVERY_TIMEOUT_MS) the shutdown waits for the queue workers to close. */
const WORKER_CLOSE_MARGIN_MS = 5_000;
/**
 * Monitoring reports that may wait for each one computed at once: a console page and its chart, or a few
 * municipalities at the start of a quarter, wait a moment; a burst beyond that is refused at once (503).
 */
const MONITORING_REPORTS_WAITING_PER_SLOT = 2;
/** How long the shutdown waits for a Redis connection (or the queues on it) to close. */
const REDIS_CLOSE_MS = 2_000;

export interface Runtime {
  readonly ctx: PipelineContext;
  /** Base URL of the HTTP API when this process serves it; of a worker's `/metrics` and `/health` with METRICS_PORT. */
  readonly url: string | undefined;
  /** The single Redis's URL, or a description of the cluster or sentinel group (without credentials). */
  readonly redisUrl: string;
  /** Stops accepting, drains workers, flushes audit, closes Redis and PostgreSQL: in that order. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Agreements and destinations given directly instead of read from CONFIG_DIR (tests, demo). */
  readonly registry?: Registry;
  readonly logger?: Logger;
}

/** Starts the roles this process has (`ROLE`): the API, the workers and reconciler, or both. */
export async function startRuntime(config: Config, opts: StartOptions = {}): Promise<Runtime> {
  const log = opts.logger ?? createLogger(config.LOG_LEVEL);
  // First, so that every start-up, one that fails included, says which build it was (README, "Which build am I
  // running?"): an operator compares the commit with the CHANGELOG.
  const build = readBuildInfo(config.JEUGDBRUG_BUILD_COMMIT);
  log.info({ version: build.version, commit: build.commit, node: process.version, role: config.ROLE }, 'starting');
  const registry = opts.registry ?? loadRegistry(config.configDir);
  fs.mkdirSync(config.dataDir, { recursive: true });
  if (config.ROLE !== 'api') {
    // The map stage validates every event; loading the definitions now keeps that cost out of the first job. An API
    // process validates only feedback Tasks, and assertValidResource loads them lazily there.
    initFhirValidation();
  }
  // Before Redis and the database: a wrong INBOX_KEYS stops start-up before anything is touched or migrated.
  const cipher = loadPayloadCipher(config.INBOX_KEYS, config.dataDir);
  // A cluster or sentinel group is always an outside service; only a single server may be found or started locally.
  const redis: RedisHandle | undefined = usesRedisTopology(config)
    ? undefined
    : await provideRedis({ redisUrl: config.REDIS_URL, startRedis: config.START_REDIS, dataDir: config.dataDir }, log);
  const redisTarget = redisTargetOf(config, redis?.url ?? '');
  // One client per process, shared by every queue and worker (BullMQ duplicates it for each worker's blocking reads).
  const redisClient = createRedisClient(config, redisTarget);
  const logRedisError = (err: Error) =>
    log.warn({ redis: describeRedisTarget(redisTarget), ...errorFields(err) }, 'redis error');
  redisClient.on('error', logRedisError);
  // Started before (or while) PostgreSQL or Redis comes up, as in a compose stack or after a host reboot: wait for
  // them with a logged back-off instead of exiting, for at most STARTUP_WAIT_MS.
  await waitForDependency(
    'redis',
    () =>
      redis ? assertRedisUp(redis.url) : withTimeout(redisClient.ping(), 2000, 'redis', 'ping').then(() => undefined),
    log,
    config.STARTUP_WAIT_MS,
  );
  // BullMQ needs maxmemory-policy noeviction: said in one line, never a reason to stop (redis-memory.ts says why).
  await checkEvictionPolicy(redisClient, log);
  const db = await waitForDependency(
    'database',
    () =>
      openDb({
        databaseUrl: config.DATABASE_URL,
        schema: config.DATABASE_SCHEMA,
        poolSize: config.DATABASE_POOL_SIZE,
        dataDir: config.dataDir,
      }),
    log,
    config.STARTUP_WAIT_MS,
  );
  const applied = await migrate(db, { log });
  if (applied.length > 0) {
    log.info({ applied }, 'database migrated');
  }
  // After the last process of an older release stopped, its referrals become addressable at the next start (the
  // workers' reconciler does it too, each round).
  const addressed = await addressOldReferrals(db);
  if (addressed > 0) {
    log.info({ referrals: addressed }, 'referrals stored by an older release made addressable');
  }
  // The received referrals `GET /fhir/ServiceRequest` pages through that changed while no search ran, all of them
  // after migration 085 (each search refreshes them too).
  const refreshedReferrals = await refreshReceivedServiceRequests(db);
  if (refreshedReferrals > 0) {
    log.info({ referrals: refreshedReferrals }, 'received referrals of GET /fhir/ServiceRequest brought up to date');
  }
  // Deliveries still waiting for a destination taken out of CONFIG_DIR (or renamed) are sent by nothing: said once
  // here, as config:check says it, and counted on /metrics (jeugdbrug_unconfigured_destination_pending_deliveries).
  const unconfigured = await pendingToUnconfiguredDestinations(
    db,
    registry.destinations.map((d) => d.id),
  );
  if (unconfigured.length > 0) {
    log.warn(
      { destinations: unconfigured.map((u) => ({ id: u.destination, pending: u.pending })) },
      'pending deliveries to destinations no longer configured',
    );
  }
  // The free-text reasons of status updates stored in plain text before migration 040 (the reconciler does it too).
  const sealed = await sealPlainFeedbackReasons(db, cipher);
  if (sealed > 0) {
    log.info({ statusUpdates: sealed }, 'free-text reasons stored in plain text by an older release encrypted');
  }
  const queues = new QueueSet(
    redisClient,
    config.QUEUE_PREFIX,
    registry.destinations,
    config.DELIVERY_MAX_ATTEMPTS,
    config.QUEUE_TAG_PER_QUEUE,
  );
  // The database is asked on a connection of its own: a pool whose connections are all in use is busy, not down.
  const outages = new OutageLog(log, { database: () => db.pingServer(), redis: () => queues.ping() });
  // From here on Redis being away is one outage, logged when it starts and ends, not a line per reconnect attempt of
  // the client (and of every queue and worker on it); start-up's wait above logs its own attempts.
  redisClient.off('error', logRedisError);
  redisClient.on('error', (err: Error) => {
    if (!outages.connectionError('redis', err)) {
      logRedisError(err);
    }
  });
  const metrics = new Metrics({
    build,
    role: config.ROLE,
    queueDepths: () => queues.depths(),
    redisMemory: () => readRedisMemory(redisClient),
    figures: operationsFigures({ db, registry }),
    connectionWaits: db.connectionWaits,
    onSourceFailed: (dependency, err) =>
      isOutageError(err)
        ? outages.down(dependency, err)
        : log.error({ dependency, ...errorFields(err) }, 'could not read the metrics kept in a store'),
  });
  const signing = openSignedHeads(config.AUDIT_SIGNING_KEYS, config.dataDir);
  const audit = new AuditWriter(db);
  const signer = new HeadSigner(db, signing.keys, signing.file, log, {
    witnessUrl: config.AUDIT_WITNESS_URL,
    // A chain the signer finds contradicting its checkpoint is a Security Alert in the system chain.
    audit,
    witnessTimeoutMs: config.DELIVERY_TIMEOUT_MS,
    // A rewritten or cut chain shows on the verify metric at once, not only at the next verification.
    onContradiction: (tenant) => metrics.recordAuditVerify(tenant, false),
    // Every chain's verify metric, each round: an alert on it needs no one to have asked for a verification.
    onChecked: (tenant) => metrics.recordAuditVerify(tenant, true, { scheduled: true }),
    // Found broken by any process's verification: 0 here too, until a whole verification finds it intact again.
    onKnownBroken: (tenant) => metrics.recordAuditKnownBroken(tenant),
    onIntactAgain: (tenant) => metrics.recordAuditVerify(tenant, true),
    onOutage: (err) => outages.seen(err),
  }).start(config.AUDIT_SIGN_INTERVAL_MS);
  // An API process's own connection, failing fast instead of queueing while Redis is away: the rate limiter then
  // counts in memory, and a monitoring report is refused with 503 rather than left waiting. It carries the rate
  // limit, the refused credentials' counts and the slots of MONITORING_REPORT_CONCURRENCY. Every request sends its
  // count here, so the counts of the requests read in one turn share one write. Not lazy: a fail-fast client that has
  // not connected yet refuses its first command rather than connecting for it. A worker serves no request and its
  // scheduled pushes are not limited: it opens none.
  const apiRedis =
    config.ROLE === 'worker'
      ? undefined
      : createRedisClient(config, redisTarget, { failFast: true, autoPipelining: true });
  apiRedis?.on('error', () => undefined);
  const ctx: PipelineContext = {
    config,
    build,
    db,
    registry,
    cipher,
    audit,
    queues,
    log,
    metrics,
    outages,
    signedHeads: { keys: signing.keys, signer },
    monitoringReports:
      apiRedis &&
      new SharedConcurrencyLimit(
        apiRedis,
        `${config.QUEUE_PREFIX}:monitoring-report-slots`,
        config.MONITORING_REPORT_CONCURRENCY,
        MONITORING_REPORTS_WAITING_PER_SLOT * config.MONITORING_REPORT_CONCURRENCY,
        MONITORING_REPORT_TIMES,
        () =>
          log.warn(
            { slotMs: MONITORING_REPORT_TIMES.slotMs },
            'a monitoring report lost its shared slot (Redis missed its renewals): one more report may run at once',
          ),
      ),
  };

  let serverCloser: ServerCloser | undefined;
  let url: string | undefined;
  let stopWatching = (): void => undefined;
  let consoleSessions: ConsoleSessionStore | undefined;
  // ROLE=api or all.
  if (apiRedis) {
    const apiKeysFile = path.resolve(config.API_KEYS_FILE ?? path.join(config.dataDir, 'api-keys.json'));
    if (config.DEMO_KEYS) {
      const demo = createDemoKeysIfMissing(apiKeysFile);
      if (demo) {
        log.info({ file: demo }, 'first start: created one demo API key per role');
      }
    }
    const apiKeys = ApiKeyStore.fromFile(apiKeysFile);
    let apiKeysFileValid = true;
    // At 0 from the start, as the API's other gauges: an alert on it has a series to read.
    metrics.apiGauges().apiKeysFileInvalid.set(0);
    // A revocation (npm run api-key -- revoke) takes effect within seconds, without a restart. A hand edit that
    // leaves the file unreadable keeps the keys loaded before (one typo must not lock every HIS out), a key it meant
    // to revoke included: so it is loud until fixed (this line, /health/ready, jeugdbrug_api_keys_file_invalid).
    fs.watchFile(apiKeysFile, { interval: 2000 }, () => {
      try {
        apiKeys.reload();
        apiKeysFileValid = true;
        log.info({ file: apiKeysFile }, 'API keys reloaded');
      } catch (err) {
        apiKeysFileValid = false;
        log.error(
          { file: apiKeysFile, ...errorFields(err) },
          'API key file invalid; the keys loaded before it stay in force, changes in it (revocations too) do not',
        );
      }
      metrics.apiGauges().apiKeysFileInvalid.set(apiKeysFileValid ? 0 : 1);
    });
    stopWatching = () => fs.unwatchFile(apiKeysFile);
    const authOptions = {
      apiKeys,
      issuers: config.JWT_ISSUERS_FILE ? readIssuersFile(config.JWT_ISSUERS_FILE) : [],
      clockSkewSeconds: config.JWT_CLOCK_SKEW_S,
    };
    // Its own connection that fails fast, like the rate limiter's: a console request never waits on a Redis outage.
    consoleSessions = openConsoleSessions(
      createRedisClient(config, redisTarget, { failFast: true }),
      config,
      log,
      outages,
    );
    // Refused credentials are counted per client address on the API's fail-fast connection: only failures use it.
    const authFailures = new AuthFailures(
      ctx,
      new AuthFailureThrottle(apiRedis, {
        limit: config.AUTH_FAILURE_LIMIT,
        windowSeconds: config.AUTH_FAILURE_WINDOW_S,
        prefix: config.QUEUE_PREFIX,
      }),
      (id) => apiKeys.has(id),
    );
    const app = createApp(ctx, {
      authenticate: authFailures.guard(createAuthenticator(authOptions)),
      rateLimit: createRateLimiter(
        new SharedRateLimiter(apiRedis, {
          ratePerSecond: config.RATE_LIMIT_PER_S,
          burst: config.RATE_LIMIT_BURST,
          prefix: config.QUEUE_PREFIX,
        }),
      ),
      publicBaseUrl: () => publicBaseUrl(config, url),
      apiKeysFileValid: () => apiKeysFileValid,
      console: {
        sessions: consoleSessions,
        verifyCredential: createCredentialVerifier(authOptions),
        isCurrent: (s) => s.principal.via !== 'api-key' || apiKeys.isCurrent(s.principal, s.keyFingerprint),
        authFailures,
      },
    });
    // A request whose headers and body have not all arrived within REQUEST_TIMEOUT_MS is answered 408 and its
    // connection closed: Node's default of 300 s let slowly sent bodies hold connections (and memory) for five
    // minutes each. Node checks at this interval, so a request may run up to a quarter of the timeout longer.
    // Each request's objects made as the app's own (app-objects.ts): Express then changes no prototype per request.
    const server = http.createServer(
      {
        connectionsCheckingInterval: Math.max(250, Math.min(30_000, config.REQUEST_TIMEOUT_MS / 4)),
        ...appObjectClasses(app),
      },
      // The app, with its lean routes (`$explain`, a practice's events) ahead of its router (lean-route.ts); with
      // tracing on, the app alone: the Express instrumentation names a request's span by the route its router
      // matched and records a refusal on the layer that raised it, and the lean routes pass no layer.
      isTracingStarted() ? app : requestListener(app),
    );
    answerClientErrors(server);
    // Longer than the idle timeout of the load balancers and HTTP clients in front of us (commonly 60 s), so the
    // server is never the side that closes a kept-alive connection just as a client reuses it (ECONNRESET).
    server.keepAliveTimeout = 65_000;
    // Within the request's own time: Node does not apply a requestTimeout shorter than headersTimeout. A kept-alive
    // connection's idle time counts towards neither (they start at a request's first byte).
    server.headersTimeout = Math.min(66_000, config.REQUEST_TIMEOUT_MS);
    server.requestTimeout = config.REQUEST_TIMEOUT_MS;
    serverCloser = new ServerCloser(server);
    await listen(server, 'PORT', config.PORT, config.HOST);
    const addr = server.address();
    url = typeof addr === 'object' && addr ? `http://${hostForUrl(config.HOST)}:${addr.port}` : undefined;
    log.info({ url, role: config.ROLE, database: db.kind }, 'API listening');
  } else if (config.METRICS_PORT !== undefined) {
    // A worker serves no API, but its job counters and health are worth scraping and probing.
    const opsApp = createOpsApp(ctx);
    const ops = http.createServer(appObjectClasses(opsApp), opsApp);
    answerClientErrors(ops);
    serverCloser = new ServerCloser(ops);
    await listen(ops, 'METRICS_PORT', config.METRICS_PORT, config.HOST);
    const addr = ops.address();
    url = typeof addr === 'object' && addr ? `http://${hostForUrl(config.HOST)}:${addr.port}` : undefined;
    log.info({ url, role: config.ROLE }, 'metrics and health listening');
  }

  let workers: Worker[] = [];
  let stopSchedules = (): Promise<void> => Promise.resolve();
  let reconcileTimer: NodeJS.Timeout | undefined;
  if (config.ROLE !== 'api') {
    // Sharing the process with the API, the workers may hold only their share of the pool: however many jobs run
    // (MAP_CONCURRENCY, DELIVER_CONCURRENCY), the API's requests still find a connection.
    const workerCtx: PipelineContext =
      config.ROLE === 'all' ? { ...ctx, db: limitConnections(db, workerConnections(config.DATABASE_POOL_SIZE)) } : ctx;
    workers = startWorkers(workerCtx);
    const stops = [
      startRetention(workerCtx),
      startReportRetention(workerCtx),
      startMonitoringPushSchedule(workerCtx),
      // A row changed in an old part of a chain shows only when the whole chain is read: on schedule, by one worker.
      startFullVerification(
        {
          db: workerCtx.db,
          log,
          keys: signing.keys,
          file: signing.file,
          retentionDays: config.AUDIT_RETENTION_DAYS,
          audit,
          onVerdict: (tenant, ok) => metrics.recordAuditVerify(tenant, ok),
        },
        config.AUDIT_FULL_VERIFY_INTERVAL_MS,
      ),
    ];
    stopSchedules = async () => {
      await Promise.all(stops.map((stop) => stop()));
    };
    // One round at a time: while Redis is away a round waits, and rounds must not pile up behind it. But a round
    // stuck on a command a lost connection will never answer (a Redis primary killed mid-call) must not stop
    // reconciliation for good: after `stuckRoundMs` the next round starts anyway.
    const stuckRoundMs = Math.max(30_000, 3 * config.RECONCILE_INTERVAL_MS);
    let round = 0;
    let roundStartedAt: number | undefined;
    const reconcile = (graceMs?: number) => {
      if (roundStartedAt !== undefined && Date.now() - roundStartedAt < stuckRoundMs) {
        return;
      }
      const thisRound = ++round;
      roundStartedAt = Date.now();
      void reconcileOnce(workerCtx, graceMs)
        .catch((err: unknown) => logReconcileFailure(workerCtx, err))
        .finally(() => {
          if (round === thisRound) {
            roundStartedAt = undefined;
          }
        });
    };
    // At start-up, reconcile everything at once (a re-added job that still exists is a no-op); then periodically.
    reconcile(0);
    reconcileTimer = setInterval(() => reconcile(), config.RECONCILE_INTERVAL_MS);
    reconcileTimer.unref();
    const queueNames = workers.map((w) => w.name);
    log.info({ queues: queueNames }, 'workers started');
  }

  /** Waits for one step of the shutdown for at most `ms`; then says so and goes on without it. */
  const boundedStep = (step: Promise<unknown>, ms: number, what: string): Promise<void> =>
    withTimeout(step, ms, 'redis', what).then(
      () => undefined,
      (err: Error) => log.warn(errorFields(err), 'shutdown goes on without this step'),
    );

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      if (serverCloser) {
        // The requests being answered get half the time main.ts allows the whole shutdown (and no more than a
        // request may take): what comes after them, the last audit rows and the heads' signatures, matters more.
        const { unanswered, cut } = await serverCloser.close(
          Math.min(config.REQUEST_TIMEOUT_MS, config.SHUTDOWN_TIMEOUT_MS / 2),
        );
        if (unanswered > 0) {
          log.warn({ unanswered, cut }, 'shutdown cut requests still unanswered');
        } else if (cut > 0) {
          log.info({ cut }, 'shutdown closed the connections left, none with a request being answered');
        }
      }
      stopWatching();
      outages.close();
      clearInterval(reconcileTimer);
      // A worker's close waits for its jobs in flight (a delivery for at most DELIVERY_TIMEOUT_MS), then for its
      // blocking Redis connection to end. That end never comes from a Redis that stopped answering, and now and then
      // not from a healthy one (taskforcesh/bullmq#4065): the last audit rows and the last heads' signatures, below,
      // must not wait on it until main.ts gives up at SHUTDOWN_TIMEOUT_MS.
      await boundedStep(
        Promise.all(workers.map((w) => w.close())),
        config.DELIVERY_TIMEOUT_MS + WORKER_CLOSE_MARGIN_MS,
        'close the queue workers',
      );
      // The drained deliveries' notes are dropped while Redis is still open, rather than left to expire.
      await flushAcceptedSendDrops(queues).catch((err: Error) =>
        log.warn(errorFields(err), 'could not drop the accepted-send notes; they expire'),
      );
      await stopSchedules();
      await ctx.audit.flush();
      // The last heads are signed after the last audit rows are durable.
      await signer.stop();
      await boundedStep(queues.close(), REDIS_CLOSE_MS, 'close the queues');
      if (apiRedis) {
        await boundedStep(
          apiRedis.quit().then(
            () => undefined,
            () => apiRedis.disconnect(),
          ),
          REDIS_CLOSE_MS,
          "close the API's fail-fast Redis connection",
        );
      }
      consoleSessions?.close();
      // BullMQ leaves a client it was handed open; this process made it, so this process closes it.
      await boundedStep(redisClient.quit(), REDIS_CLOSE_MS, 'close the Redis connection');
      if (redisClient.status !== 'end') {
        redisClient.disconnect();
      }
      await redis?.stop();
      await db.close();
      log.info('stopped');
    })());
  return { ctx, url, redisUrl: redis?.url ?? describeRedisTarget(redisTarget), shutdown };
}

/**
 * The connections of a `ROLE=all` process's pool its workers may hold at once: all but a quarter, which is kept for
 * the API (at least one connection, once the pool has two).
 */
export function workerConnections(poolSize: number): number {
  return Math.max(1, poolSize - Math.max(1, Math.floor(poolSize / 4)));
}

/** A server could not listen (the port taken, or not allowed): names the setting that chose the port. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly setting: 'PORT' | 'METRICS_PORT',
    readonly port: number,
    readonly host: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Listens on `port`, or rejects with a ListenError naming `setting`. */
function listen(server: http.Server, setting: ListenError['setting'], port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(setting, port, host, err.code, err.message)),
    );
    server.listen(port, host, resolve);
  });
}

/** An IPv6 address goes in brackets in a URL. */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
