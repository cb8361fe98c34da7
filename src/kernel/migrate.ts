import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './db';

const migrationsDir = path.join(__dirname, 'migrations');

/** Arbitrary but fixed: serialises migration runs of processes starting at the same time. */
const MIGRATION_LOCK = 727_001;

/**
 * The database was migrated by a newer release: `schema_migration` records migrations this code does not have. Its
 * columns may have been dropped or renamed, so this release would accept events and then fail to record their
 * outcome; it refuses to start instead (README, "Upgrading").
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
  ) {
    super(
      `the database has migrations this release does not know (${unknown.join(', ')}); the newest this release knows is ${newestKnown}`,
    );
  }
}

/**
 * Applies the numbered SQL files in `migrations/` that this database has not seen, in order. Throws a
 * SchemaNewerThanCodeError, applying nothing, when the database has applied a migration this release does not have.
 */
export async function migrate(db: Db): Promise<string[]> {
  const files = fs
    .readdirSync(migrationsDir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort();
  return db.transaction(async (tx) => {
    if (tx.kind === 'postgres') {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    }
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM schema_migration')).map((r) => r.name));
    const unknown = [...done].filter((name) => !files.includes(name)).sort();
    if (unknown.length > 0) {
      throw new SchemaNewerThanCodeError(files.at(-1) ?? '(none)', [...done].sort().at(-1)!, unknown);
    }
    const applied: string[] = [];
    for (const file of files.filter((f) => !done.has(f))) {
      await tx.exec(fs.readFileSync(path.join(migrationsDir, file), 'utf8'));
      await tx.query('INSERT INTO schema_migration (name) VALUES ($1)', [file]);
      applied.push(file);
    }
    return applied;
  });
}
