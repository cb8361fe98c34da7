import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, type Db } from '../../src/kernel/db';
import { createLogger } from '../../src/kernel/logger';
import {
  migrate,
  parseMigration,
  readMigrations,
  SchemaNewerThanCodeError,
  type Migration,
} from '../../src/kernel/migrate';
import { migrateBefore } from '../helpers/migrate-before';
import { exited, spawnProduct } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv, dropSchema, TEST_DATABASE_URL, type TestEnv } from '../helpers/test-runtime';

const newestKnown = fs
  .readdirSync(path.resolve(__dirname, '../../src/kernel/migrations'))
  .filter((f) => /^\d{3}_.+\.sql$/.test(f))
  .sort()
  .at(-1)!;

/** The test's database, migrated by this build. */
async function openMigrated(testEnv: TestEnv): Promise<Db> {
  const db = await openDb({
    databaseUrl: testEnv.env.DATABASE_URL,
    schema: testEnv.schema,
    poolSize: 2,
    dataDir: testEnv.dataDir,
  });
  await migrate(db);
  return db;
}

/**
 * A database migrated by a newer release (an applied migration this code does not have): start-up refuses it, as
 * Flyway's validate and HAPI's migrator do, instead of running and failing every write on a dropped column.
 */
describe('a database schema newer than the code', () => {
  const testEnv = createTestEnv();
  let db: Db;

  beforeAll(async () => {
    db = await openMigrated(testEnv);
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

/**
 * Flyway's ignoreFutureMigrations, for migrations that say so: a newer build records, per migration it applies,
 * whether an older build may run beside it (`-- older builds: run beside`), and this build starts, with a warning
 * naming them, on a database whose unknown migrations all say it. Both ways, with the list of a newer build: this
 * build's migrations and one more.
 */
describe('a database migrated by a newer build', () => {
  const future = (name: string, sql: string): Migration => parseMigration(name, sql);
  const addsAColumn = future(
    '999_future_adds_a_column.sql',
    '-- older builds: run beside\nALTER TABLE delivery ADD COLUMN IF NOT EXISTS future_note text;\n',
  );
  const dropsAColumn = future(
    '999_future_drops_a_column.sql',
    '-- older builds: stop\nALTER TABLE child_disclosure DROP COLUMN agreement;\n',
  );

  describe.each([
    ['only adds', addsAColumn, true],
    ['drops a column', dropsAColumn, false],
  ])('whose unknown migration %s', (_, newer, olderBuildsRun) => {
    const testEnv = createTestEnv();
    let db: Db;

    beforeAll(async () => {
      // This build first, then the newer one: the newer one applies only its own migration.
      db = await openMigrated(testEnv);
      expect(await migrate(db, { migrations: [...readMigrations(), newer] })).toEqual([newer.name]);
    });

    afterAll(async () => {
      await db.close();
      await cleanupTestEnv(testEnv);
    });

    it('records for each applied migration whether an older build may run beside it', async () => {
      const rows = await db.query<{ name: string; older_builds_run: boolean | null }>(
        'SELECT name, older_builds_run FROM schema_migration ORDER BY name',
      );
      expect(rows.at(-1)).toEqual({ name: newer.name, older_builds_run: olderBuildsRun });
      expect(rows.map((r) => r.name)).toEqual([...readMigrations().map((m) => m.name), newer.name]);
      expect(rows.find((r) => r.name === '051_withdrawal_follow_up.sql')?.older_builds_run).toBe(false);
      expect(rows.find((r) => r.name === '061_child_disclosure_agreement.sql')?.older_builds_run).toBe(true);
    });

    it(`${olderBuildsRun ? 'lets' : 'does not let'} this build migrate, ${olderBuildsRun ? 'warning and naming it' : 'as before'}`, async () => {
      const lines: string[] = [];
      const log = createLogger('info', { write: (line: string) => void lines.push(line) });
      const outcome = await migrate(db, { log }).then(
        (applied) => applied,
        (err: unknown) => err,
      );
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      if (olderBuildsRun) {
        expect(outcome).toEqual([]);
        expect(logged).toEqual([
          expect.objectContaining({
            level: 'warn',
            msg: 'database schema is newer than this build; its newer migrations let older builds run',
            newestKnown,
            unknown: [newer.name],
          }),
        ]);
      } else {
        expect(outcome).toBeInstanceOf(SchemaNewerThanCodeError);
        expect(outcome).toMatchObject({ newestKnown, newestApplied: newer.name, unknown: [newer.name] });
        expect(logged).toEqual([]);
      }
    });

    it(`${olderBuildsRun ? 'starts' : 'refuses to start'} a process of this build`, async () => {
      fs.writeFileSync(testEnv.logFile, '');
      const child = spawnProduct({ ...testEnv.env, ROLE: 'api' }, testEnv.logFile);
      try {
        if (olderBuildsRun) {
          await waitForLog(testEnv.logFile, 'API listening', child);
        } else {
          expect(await exited(child)).toBe(1);
        }
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
      const lines = fs
        .readFileSync(testEnv.logFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const schemaLines = lines.filter((l) => /schema is newer/.test(String(l.msg)));
      expect(schemaLines).toEqual([
        expect.objectContaining(
          olderBuildsRun
            ? { level: 'warn', newestKnown, unknown: [newer.name] }
            : { level: 'fatal', newestKnown, unknown: [newer.name], msg: 'database schema is newer than this release' },
        ),
      ]);
    }, 60_000);
  });

  it('refuses a migration file that does not say whether older builds may run beside it', () => {
    expect(() => parseMigration('999_unsaid.sql', 'ALTER TABLE delivery ADD COLUMN x text;\n')).toThrow(
      /999_unsaid\.sql.*older builds/,
    );
  });
});

/** A database the builds before the marks migrated: the first build with them marks what it knows, as its files say. */
describe('a database migrated before migrations were marked for older builds', () => {
  const schema = `t_marks_${randomBytes(5).toString('hex')}`;
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrateBefore(db, '999');
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('gets each applied migration marked as its file says, and nothing applied again', async () => {
    expect(await migrate(db)).toEqual([]);
    const rows = await db.query<{ name: string; older_builds_run: boolean | null }>(
      'SELECT name, older_builds_run FROM schema_migration ORDER BY name',
    );
    expect(rows).toEqual(readMigrations().map((m) => ({ name: m.name, older_builds_run: m.olderBuildsRun })));
    expect(rows.filter((r) => !r.older_builds_run).map((r) => r.name)).toEqual([
      '002_audit.sql',
      '010_audit_canonical_text.sql',
      '013_audit_text.sql',
      '025_receiver_answer_sealed.sql',
      '051_withdrawal_follow_up.sql',
    ]);
  });
});

/** Resolves once `text` is in the log; fails when the process ends first. */
async function waitForLog(logFile: string, text: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (fs.readFileSync(logFile, 'utf8').includes(text)) {
      return;
    }
    if (child.exitCode !== null) {
      throw new Error(
        `The product ended (${child.exitCode}) before logging ${text}:\n${fs.readFileSync(logFile, 'utf8')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
