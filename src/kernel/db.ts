import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { CONNECTION_WAIT_TIMEOUT, isOutageError } from './outage';

/** The little of a SQL database the product needs; PostgreSQL (pg) and embedded PGlite both provide it. */
export interface Db {
  readonly kind: 'postgres' | 'pglite';
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * Resolves when the server answers on a connection of its own, outside the pool: a pool whose connections are all
   * in use is busy, not a server that is away, and the outage log must tell the two apart.
   */
  pingServer(): Promise<void>;
  /** Callers waiting for a connection, and how long each waited (metrics.ts). */
  readonly connectionWaits: ConnectionWaits;
  close(): Promise<void>;
}

/**
 * A pool of connections callers wait for: `main`, the process's own pool (every caller's), or `workers`, the share
 * of it the workers of a `ROLE=all` process may hold (limitConnections). Metric labels.
 */
export type ConnectionPoolName = 'main' | 'workers';

/** One wait for a connection that ended: with the connection, in a time-out, or with the server's error. */
export interface ConnectionWait {
  readonly pool: ConnectionPoolName;
  readonly seconds: number;
  /** No connection came free in time (CONNECTION_WAIT_TIMEOUT). */
  readonly timedOut: boolean;
}

/**
 * Waits for a database connection, per pool, for the metrics: under a bulk load requests and jobs queue for
 * connections while PostgreSQL itself is idle, and nothing else shows it.
 */
export class ConnectionWaits {
  private readonly counts = new Map<ConnectionPoolName, () => number>();
  private readonly listeners: ((wait: ConnectionWait) => void)[] = [];

  /** `pool` exists, and `count` says how many callers wait for one of its connections now. */
  track(pool: ConnectionPoolName, count: () => number): void {
    this.counts.set(pool, count);
  }

  /** Callers waiting for a connection right now, per pool. */
  waiting(): { pool: ConnectionPoolName; count: number }[] {
    return [...this.counts].map(([pool, count]) => ({ pool, count: count() }));
  }

  /** Calls `listener` with each wait as it ends. */
  onEnded(listener: (wait: ConnectionWait) => void): void {
    this.listeners.push(listener);
  }

  /** A wait that began at `startedAt` (performance.now()) ended; `err` when it ended without a connection. */
  ended(pool: ConnectionPoolName, startedAt: number, err?: unknown): void {
    const seconds = (performance.now() - startedAt) / 1000;
    const message = (err as { message?: unknown } | undefined)?.message;
    const timedOut = typeof message === 'string' && message.includes(CONNECTION_WAIT_TIMEOUT);
    for (const listener of this.listeners) {
      listener({ pool, seconds, timedOut });
    }
  }
}

export interface DbOptions {
  databaseUrl?: string | undefined;
  schema: string;
  poolSize: number;
  dataDir: string;
}

/** PostgreSQL when a URL is given, otherwise PGlite persisted under the data directory. */
export async function openDb(opts: DbOptions): Promise<Db> {
  return opts.databaseUrl
    ? openPostgres(opts.databaseUrl, opts.schema, opts.poolSize)
    : openPglite(opts.dataDir, opts.schema);
}

/**
 * Runs `read` on one connection of its own to the PostgreSQL at `url`, in `schema`, then closes it: for a tool that
 * only reads (`config:check`), so nothing is created (not even the schema) and no pool is kept. Statements time out
 * after CONNECTION_WAIT_MS. Throws what pg throws (a server away is `isOutageError`'s).
 */
export async function withOwnConnection<T>(
  url: string,
  schema: string,
  read: (db: Pick<Db, 'query'>) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECTION_WAIT_MS,
    options: `-c search_path=${schema} -c statement_timeout=${CONNECTION_WAIT_MS}`,
  });
  client.on('error', ignore);
  await client.connect();
  try {
    return await read({
      query: async <R>(sql: string, params?: readonly unknown[]) =>
        (await client.query(sql, params as unknown[])).rows as R[],
    });
  } finally {
    await client.end();
  }
}

/** PostgreSQL's SQLSTATE for a unique index refusing a row. */
const UNIQUE_VIOLATION = '23505';

/**
 * How long a caller waits for a connection, and a new connection for the server: while the server is unreachable a
 * request fails within seconds (503) instead of waiting for a connection.
 */
const CONNECTION_WAIT_MS = 5000;

async function openPostgres(url: string, schema: string, poolSize: number): Promise<Db> {
  // Create the schema before pointing the pool's search_path at it.
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECTION_WAIT_MS });
  admin.on('error', ignore);
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((err: unknown) => {
      // Processes starting at once on a new schema: IF NOT EXISTS checks before it inserts, so the second of two at
      // the same moment fails on the catalog's unique index. The schema is there either way.
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) {
        throw err;
      }
    });
  } finally {
    await admin.end();
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: CONNECTION_WAIT_MS,
  });
  // An idle client losing its connection must not crash the process; the pool drops it and the next query reconnects.
  pool.on('error', ignore);
  // pg-pool listens for errors on idle clients only: a checked-out client whose server goes away (restart,
  // pg_terminate_backend) emits 'error', and an 'error' event without a listener crashes the process. The query in
  // flight rejects on its own, so the event itself needs no handling; one listener per connection, for its life.
  pool.on('connect', (client) => client.on('error', ignore));
  // Parameterised queries run as named prepared statements: PostgreSQL parses each text once per connection instead
  // of on every call, and plans it once too where a generic plan serves (it keeps planning anew while a plan for the
  // call's own values looks cheaper), which matters when it shares the machine's cores with the workers.
  const names = new Map<string, string>();
  const nameOf = (sql: string): string => {
    let name = names.get(sql);
    if (!name) {
      name = `jb_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
      names.set(sql, name);
    }
    return name;
  };
  const connectionWaits = new ConnectionWaits();
  connectionWaits.track('main', () => pool.waitingCount);
  // pool.connect() rather than pool.query(), which connects inside, so that the wait for the connection is measured.
  const connect = async (): Promise<pg.PoolClient> => {
    const startedAt = performance.now();
    try {
      const client = await pool.connect();
      connectionWaits.ended('main', startedAt);
      return client;
    } catch (err) {
      connectionWaits.ended('main', startedAt, err);
      throw err;
    }
  };
  const queryOn = async <T>(client: pg.PoolClient, sql: string, params?: readonly unknown[]): Promise<T[]> =>
    (
      await (params && params.length > 0
        ? client.query({ name: nameOf(sql), text: sql, values: params as unknown[] })
        : client.query(sql))
    ).rows as T[];
  /** A statement on a connection of the pool, released as pool.query releases it: destroyed after an error. */
  const onPool = async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> => {
    const client = await connect();
    try {
      const rows = await queryOn<T>(client, sql, params);
      client.release();
      return rows;
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  };
  const wrap =
    (client: pg.PoolClient): Db['query'] =>
    <T>(sql: string, params?: readonly unknown[]) =>
      queryOn<T>(client, sql, params);
  const execOn = (client: pg.PoolClient) => async (sql: string) => {
    await client.query(sql);
  };
  const db: Db = {
    kind: 'postgres',
    query: onPool,
    exec: async (sql) => {
      await onPool(sql);
    },
    connectionWaits,
    async transaction(fn) {
      const client = await connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const tx: Db = { ...db, query: wrap(client), exec: execOn(client), transaction: (inner) => inner(tx) };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        broken = isOutageError(err) ? (err as Error) : undefined;
        if (!broken) {
          await client.query('ROLLBACK').catch((e: Error) => {
            broken = e;
          });
        }
        throw err;
      } finally {
        // A connection that failed is destroyed rather than handed to the next caller; the pool opens a new one.
        client.release(broken);
      }
    },
    async pingServer() {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECTION_WAIT_MS });
      probe.on('error', ignore);
      try {
        await probe.connect();
        await probe.query('SELECT 1');
      } finally {
        await probe.end().catch(ignore);
      }
    },
    close: () => pool.end(),
  };
  return db;
}

function ignore(): void {
  // Deliberately empty: see the callers.
}

async function openPglite(dataDir: string, schema: string): Promise<Db> {
  const dir = path.join(dataDir, 'pglite');
  fs.mkdirSync(dir, { recursive: true });
  // The embedded default serves one machine's volume; PostgreSQL's 128 MB of shared buffers would more than
  // double the process's resident memory for no gain (measured: 346 → 215 MB after start-up).
  const lite = await PGlite.create(dir, { postgresqlconf: 'shared_buffers=16MB' });
  await lite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
  type Queryable = Pick<PGlite, 'query' | 'exec'>;
  const execOn = (q: Queryable) => async (sql: string) => {
    await q.exec(sql);
  };
  const wrap =
    (q: Queryable): Db['query'] =>
    async <T>(sql: string, params?: readonly unknown[]) =>
      (await q.query<T>(sql, params as unknown[])).rows;
  const db: Db = {
    kind: 'pglite',
    query: wrap(lite),
    exec: execOn(lite),
    // PGlite serialises transactions itself: one connection, one transaction at a time.
    transaction: (fn) =>
      lite.transaction(async (t) => {
        const tx: Db = { ...db, query: wrap(t), exec: execOn(t), transaction: (inner) => inner(tx) };
        return fn(tx);
      }),
    // One connection, shared in turn inside PGlite: no pool to wait for.
    connectionWaits: new ConnectionWaits(),
    // One connection, in this process: it answers whenever the process does.
    pingServer: async () => {
      await lite.query('SELECT 1');
    },
    close: () => lite.close(),
  };
  return db;
}

/**
 * A view of `db` whose calls hold at most `limit` of its pool's connections at once (a transaction holds one until it
 * ends). The workers of a `ROLE=all` process use one, so that however many jobs run, the rest of the pool stays free
 * for the API. A call beyond the limit waits its turn, in order, for at most as long as a wait for the pool's own
 * connection, and then fails the same way (503, or a retried job). PGlite has one connection, shared in turn: there
 * is nothing to keep free, and `db` itself is returned.
 */
export function limitConnections(db: Db, limit: number): Db {
  if (db.kind === 'pglite') {
    return db;
  }
  let inUse = 0;
  const waiting: (() => void)[] = [];
  db.connectionWaits.track('workers', () => waiting.length);
  const release = (): void => {
    const next = waiting.shift();
    if (next) {
      next(); // the connection passes straight to the next in line; `inUse` stays as it is
    } else {
      inUse--;
    }
  };
  const turn = (): Promise<void> => {
    const startedAt = performance.now();
    if (inUse < limit) {
      inUse++;
      db.connectionWaits.ended('workers', startedAt);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const granted = (): void => {
        clearTimeout(timer);
        db.connectionWaits.ended('workers', startedAt);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(granted), 1);
        const err = new Error(`${CONNECTION_WAIT_TIMEOUT} (the ${limit} connections of this share are all in use)`);
        db.connectionWaits.ended('workers', startedAt, err);
        reject(err);
      }, CONNECTION_WAIT_MS);
      timer.unref();
      waiting.push(granted);
    });
  };
  const limited = async <T>(call: () => Promise<T>): Promise<T> => {
    await turn();
    try {
      return await call();
    } finally {
      release();
    }
  };
  return {
    ...db,
    query: <T>(sql: string, params?: readonly unknown[]) => limited(() => db.query<T>(sql, params)),
    exec: (sql) => limited(() => db.exec(sql)),
    transaction: <T>(fn: (tx: Db) => Promise<T>) => limited(() => db.transaction(fn)),
  };
}

/** Resolves when the database answers a trivial query (readiness checks). */
export async function pingDb(db: Db): Promise<void> {
  await db.query('SELECT 1');
}
