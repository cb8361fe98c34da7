import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Db } from './db';

const migrationsDir = path.join(__dirname, 'migrations');

/** Arbitrary but fixed: serialises migration runs of processes starting at the same time. */
const MIGRATION_LOCK = 727_001;

/** One numbered SQL file of `migrations/`. */
export interface Migration {
  readonly name: string;
  readonly sql: string;
  /**
   * Whether a build that does not have this migration may run beside it (its line `-- older builds: run beside`):
   * it only adds what older code neither writes nor needs. `-- older builds: stop` when it drops, renames or
   * changes something older code uses, or when unsure.
   */
  readonly olderBuildsRun: boolean;
}

/** The line every migration file carries, saying whether an older build may run on a database that has it. */
const OLDER_BUILDS_LINE = /^-- older builds: (run beside|stop)$/m;

/** A migration file's name and text as a Migration; throws when the file does not say whether older builds run. */
export function parseMigration(name: string, sql: string): Migration {
  const said = OLDER_BUILDS_LINE.exec(sql);
  if (!said) {
    throw new Error(
      `${name} does not say whether older builds may run beside it: add a line '-- older builds: run beside' or '-- older builds: stop' (README, "Upgrading")`,
    );
  }
  return { name, sql, olderBuildsRun: said[1] === 'run beside' };
}

/** This build's migrations, in the order they are applied. */
export function readMigrations(): Migration[] {
  return fs
    .readdirSync(migrationsDir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort()
    .map((f) => parseMigration(f, fs.readFileSync(path.join(migrationsDir, f), 'utf8')));
}

/**
 * The database was migrated by a newer release: `schema_migration` records migrations this code does not have, and
 * at least one of them was not marked as one an older build may run beside (`blocking`; recorded by a build before
 * the marks, or marked `stop`). Its columns may have been dropped or renamed, so this release would accept events
 * and then fail to record their outcome; it refuses to start instead (README, "Upgrading").
 */
export class SchemaNewerThanCodeError extends Error {
  override readonly name = 'SchemaNewerThanCodeError';
  constructor(
    /** The newest migration this release has. */
    readonly newestKnown: string,
    /** The newest migration the database has applied. */
    readonly newestApplied: string,
    /** Every applied migration this release does not have, in order. */
    readonly unknown: string[],
    /** Those of `unknown` not marked as ones an older build may run beside. */
    readonly blocking: string[],
  ) {
    super(
      `the database has migrations this release does not know (${unknown.join(', ')}), of which ${blocking.join(', ')} may not run beside an older build; the newest this release knows is ${newestKnown}`,
    );
  }
}

export interface MigrateOptions {
  /** The migrations to apply, in order; this build's by default (a test gives a newer build's). */
  readonly migrations?: readonly Migration[];
  /** Where the warning about a newer schema this build runs beside goes. */
  readonly log?: Pick<Logger, 'warn'>;
}

/**
 * Applies the migrations this database has not seen, in order, recording for each whether an older build may run
 * beside it. When the database has applied migrations this build does not have (a newer build migrated it), it
 * goes on, with a warning naming them, only when each was recorded as one an older build may run beside; otherwise
 * it throws a SchemaNewerThanCodeError, applying nothing.
 */
export async function migrate(db: Db, opts: MigrateOptions = {}): Promise<string[]> {
  const migrations = opts.migrations ?? readMigrations();
  const names = migrations.map((m) => m.name);
  return db.transaction(async (tx) => {
    if (tx.kind === 'postgres') {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    }
    // The column is NULL for the migrations applied by builds before it (the build that knows them fills it in
    // below) and for those an older build applies: builds before it insert the name only.
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migration (name text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now());
      ALTER TABLE schema_migration ADD COLUMN IF NOT EXISTS older_builds_run boolean`);
    const done = new Map(
      (
        await tx.query<{ name: string; older_builds_run: boolean | null }>(
          'SELECT name, older_builds_run FROM schema_migration',
        )
      ).map((r) => [r.name, r.older_builds_run]),
    );
    const unknown = [...done.keys()].filter((name) => !names.includes(name)).sort();
    const newestKnown = names.at(-1) ?? '(none)';
    if (unknown.length > 0) {
      const blocking = unknown.filter((name) => done.get(name) !== true);
      if (blocking.length > 0) {
        throw new SchemaNewerThanCodeError(newestKnown, [...done.keys()].sort().at(-1)!, unknown, blocking);
      }
      opts.log?.warn(
        { newestKnown, unknown },
        'database schema is newer than this build; its newer migrations let older builds run',
      );
    }
    const applied: string[] = [];
    for (const m of migrations.filter((m) => !done.has(m.name))) {
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migration (name, older_builds_run) VALUES ($1, $2)', [
        m.name,
        m.olderBuildsRun,
      ]);
      applied.push(m.name);
    }
    // A mark once recorded stays: a later build that finds one wrong corrects it in a migration of its own.
    const unmarked = migrations.filter((m) => done.get(m.name) === null);
    if (unmarked.length > 0) {
      await tx.query(
        `UPDATE schema_migration SET older_builds_run = m.run
         FROM unnest($1::text[], $2::boolean[]) AS m(name, run)
         WHERE schema_migration.name = m.name AND schema_migration.older_builds_run IS NULL`,
        [unmarked.map((m) => m.name), unmarked.map((m) => m.olderBuildsRun)],
      );
    }
    return applied;
  });
}
