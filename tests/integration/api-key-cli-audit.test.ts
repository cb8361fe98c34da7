import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_DATABASE_URL, useTestApp } from '../helpers/test-runtime';

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
});
