import pg from 'pg';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { TEST_DATABASE_URL } from './test-runtime';

/**
 * Empties a migrated schema back to what a fresh migration leaves (rows in `schema_migration` only; every table
 * else empty, every sequence at its start), for test files that migrate once and give each test a clean database:
 * a migration costs a second or two, this a small part of that. As a superuser would, with the append-only
 * triggers off (`session_replication_role = replica`), so the audit tables empty too.
 */
export async function emptySchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    const tables = await admin.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
       WHERE schemaname = $1 AND tablename <> 'schema_migration'`,
      [schema],
    );
    const sequences = await admin.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences WHERE schemaname = $1`,
      [schema],
    );
    // DELETE rather than TRUNCATE: on tables of a few rows it is many times faster (TRUNCATE makes new files for
    // each of some thirty tables). The replica role skips the foreign keys' triggers too, so the order is free.
    await admin.query(
      [
        'BEGIN',
        "SET LOCAL session_replication_role = 'replica'",
        ...tables.rows.map((t) => `DELETE FROM ${t.name}`),
        ...sequences.rows.map((q) => `ALTER SEQUENCE ${q.name} RESTART`),
        'COMMIT',
      ].join(';\n'),
    );
  } finally {
    await admin.end();
  }
}

/**
 * For a describe block: a schema of its own (`t_<name>_…`), migrated once before its tests and dropped after them,
 * emptied before each test (`emptySchema`). Read `db` and `schema` inside the tests and hooks.
 */
export function useMigratedSchema(name: string, poolSize: number): { readonly db: Db; readonly schema: string } {
  const schema = `t_${name}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  let db: Db | undefined;
  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize, dataDir: '' });
    await migrate(db);
  });
  beforeEach(() => emptySchema(schema));
  afterAll(async () => {
    await db?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db?.close();
  });
  return {
    schema,
    get db(): Db {
      if (!db) {
        throw new Error('useMigratedSchema: the schema is not migrated yet (read it inside a test)');
      }
      return db;
    },
  };
}
