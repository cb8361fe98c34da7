import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { TEST_DATABASE_URL, dropSchema, useTestApp } from '../helpers/test-runtime';

const run = promisify(execFile);

// `npm run api-key -- create/revoke` changed who may do what without a trace in the audit trail (only the server's
// "API keys reloaded" log line): an auditor asking "who was given which access, by whom" had no answer.
describe('npm run api-key records who created or revoked which key in the audit trail', () => {
  const app = useTestApp();
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-key-audit-'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], env: Record<string, string>) =>
    run(process.execPath, [require.resolve('tsx/cli'), 'src/cli/api-key.ts', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });

  /** The CLI's exit code and output when it fails (execFile rejects on a non-zero exit). */
  const failingCli = async (args: string[], env: Record<string, string>) => {
    try {
      await cli(args, env);
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
    throw new Error('the CLI succeeded');
  };

  const changesOf = (keyId: string) =>
    app.rt.ctx.db.query<{ action: string; agents: string[]; resource: string }>(
      `SELECT action, agents, resource::text AS resource FROM audit_event
       WHERE tenant = 'system' AND type = '110113' AND subtype = '110136' AND resource::jsonb->'entity' @> $1::jsonb
       ORDER BY seq`,
      [JSON.stringify([{ what: { identifier: { value: `api-key:${keyId}` } } }])],
    );

  it('records create and revoke, with role, scope and who, never the key', async () => {
    const file = path.join(dir, 'keys.json');
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: app.testEnv.schema, DATA_DIR: dir };
    const created = await cli(
      ['create', '--role', 'auditor', '--practice', '01234567', '--id', 'fg-1', '--file', file, '--by', 'ops-1'],
      env,
    );
    const key = created.stdout.trim();
    expect(key).toMatch(/^jb_fg-1_/);
    expect(created.stderr).toContain('Recorded the creation of API key fg-1 in the audit trail');
    await cli(['revoke', '--id', 'fg-1', '--file', file], env);

    const rows = await changesOf('fg-1');
    expect(rows.map((r) => r.action)).toEqual(['C', 'D']);
    expect(rows[0]!.agents).toContain('https://jeugdbrug.nl/principal|ops-1');
    // Without --by: the operating-system user.
    expect(rows[1]!.agents).toContain(`https://jeugdbrug.nl/principal|os-user:${os.userInfo().username}`);
    expect(rows[0]!.resource).toContain('created: role auditor; practices 01234567');
    expect(rows[1]!.resource).toContain('revoked: role auditor; practices 01234567');
    for (const row of rows) {
      // The secret after the key's id (base64url: it may itself hold or begin with '_').
      expect(row.resource).not.toContain(key.slice('jb_fg-1_'.length));
      expect(row.resource).toContain('humanuser');
    }
  });

  it('says that nothing was recorded when there is no DATABASE_URL (the embedded database is the server’s)', async () => {
    const file = path.join(dir, 'embedded.json');
    const created = await cli(['create', '--role', 'operator', '--id', 'op-x', '--file', file], { DATA_DIR: dir });
    expect(created.stderr).toContain('Not recorded in the audit trail: no DATABASE_URL');
    expect(await changesOf('op-x')).toEqual([]);
  });

  // The operator's drill: keys created on a fresh database before any process had started (and migrated it) were
  // refused by the audit trail ("relation audit_chain_head does not exist") and never recorded.
  it('records keys created before the first start: it migrates the fresh database as a start would', async () => {
    const schema = `t_fresh_${process.pid}`;
    const file = path.join(dir, 'fresh.json');
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, DATA_DIR: dir };
    await dropSchema(schema);
    try {
      const created = await cli(
        ['create', '--role', 'practice', '--practice', '01234567', '--id', 'his', '--file', file, '--by', 'drill'],
        env,
      );
      expect(created.stderr).toContain('Recorded the creation of API key his in the audit trail');
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        const rows = await client.query<{ action: string; resource: string }>(
          `SELECT action, resource::text AS resource FROM ${schema}.audit_event WHERE tenant = 'system' ORDER BY seq`,
        );
        expect(rows.rows.map((r) => r.action)).toEqual(['C']);
        expect(rows.rows[0]!.resource).toContain('api-key:his');
      } finally {
        await client.end();
      }
    } finally {
      await dropSchema(schema);
    }
  });

  it('creates no key the audit trail cannot record, and says what to do', async () => {
    const file = path.join(dir, 'unreachable.json');
    // Nothing listens there (the port range of this test's author): the database is unreachable.
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:41899/none', DATABASE_SCHEMA: 'x', DATA_DIR: dir };
    const failed = await failingCli(['create', '--role', 'operator', '--id', 'op-gone', '--file', file], env);
    expect(failed.code).toBe(1);
    // No key was handed out, and none that works is left in the file.
    expect(failed.stdout.trim()).toBe('');
    expect(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').not.toContain('op-gone');
    expect(failed.stderr).toContain('API key op-gone was not created');
    expect(failed.stderr).toContain('run the same command again');
  });

  it('keeps a revocation the audit trail cannot record, and says how to record it later', async () => {
    const file = path.join(dir, 'revoke-unrecorded.json');
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: app.testEnv.schema, DATA_DIR: dir };
    await cli(['create', '--role', 'operator', '--id', 'op-r', '--file', file], env);
    const away = { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:41899/none' };
    const failed = await failingCli(['revoke', '--id', 'op-r', '--file', file], away);
    expect(failed.code).toBe(1);
    // A revocation never waits for the audit trail: the key is refused at once.
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'op-r', disabled: true })]),
    );
    expect(failed.stderr).toContain('npm run api-key -- revoke --id op-r');
    // Run again once the database is back, it records the revocation (the key stays revoked).
    await cli(['revoke', '--id', 'op-r', '--file', file], env);
    expect((await changesOf('op-r')).map((r) => r.action)).toEqual(['C', 'D']);
  });
});
