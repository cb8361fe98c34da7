import fs from 'node:fs';
import path from 'node:path';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate, SchemaNewerThanCodeError } from '../../src/kernel/migrate';
import { exited, spawnProduct } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv } from '../helpers/test-runtime';

const newestKnown = fs
  .readdirSync(path.resolve(__dirname, '../../src/kernel/migrations'))
  .filter((f) => /^\d{3}_.+\.sql$/.test(f))
  .sort()
  .at(-1)!;

/**
 * A database migrated by a newer release (an applied migration this code does not have): start-up refuses it, as
 * Flyway's validate and HAPI's migrator do, instead of running and failing every write on a dropped column.
 */
describe('a database schema newer than the code', () => {
  const testEnv = createTestEnv();
  let db: Db;

  beforeAll(async () => {
    db = await openDb({
      databaseUrl: testEnv.env.DATABASE_URL,
      schema: testEnv.schema,
      poolSize: 2,
      dataDir: testEnv.dataDir,
    });
    await migrate(db);
    await db.query('INSERT INTO schema_migration (name) VALUES ($1), ($2)', [
      '998_from_a_newer_release.sql',
      '999_dropped_a_column.sql',
    ]);
  });

  afterAll(async () => {
    await db.close();
    await cleanupTestEnv(testEnv);
  });

  it('is refused by migrate, naming the newest migration known and the newest applied, applying nothing', async () => {
    const refused = await migrate(db).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(SchemaNewerThanCodeError);
    expect(refused).toMatchObject({
      newestKnown,
      newestApplied: '999_dropped_a_column.sql',
      unknown: ['998_from_a_newer_release.sql', '999_dropped_a_column.sql'],
    });
  });

  it('is refused at start-up with one fatal JSON line and exit code 1, before anything listens', async () => {
    const child = spawnProduct({ ...testEnv.env, ROLE: 'all' }, testEnv.logFile);
    try {
      expect(await exited(child)).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
    const output = fs.readFileSync(testEnv.logFile, 'utf8');
    expect(output).not.toMatch(/^\s+at /m);
    const lines = output
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.level === 'fatal')).toEqual([
      expect.objectContaining({
        msg: 'database schema is newer than this release',
        newestKnown,
        newestApplied: '999_dropped_a_column.sql',
      }),
    ]);
    expect(lines.map((l) => l.msg)).not.toContain('API listening');
  }, 60_000);
});
