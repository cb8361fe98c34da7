import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { runAuditCli } from '../../../src/cli/audit-verify';

/** The audit-verify CLI's answers that need no database: help, and usage errors. */

function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  return runAuditCli(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    openDb: () => Promise.reject(new Error('no command here may open the database')),
  }).then((code) => ({ code, out, err }));
}

describe('audit-verify', () => {
  it.each([['--help'], ['-h'], ['help'], ['verify', '--help'], ['verify-export', 'x.ndjson', '-h']])(
    'prints the usage on stdout for %s, exit 0',
    async (...argv) => {
      const result = await run(...argv);
      expect(result.code).toBe(0);
      expect(result.out.join('\n')).toContain('audit-verify verify [--tenant <agb>]');
      expect(result.out.join('\n')).toContain('audit-verify verify-export <file>');
      expect(result.err).toEqual([]);
    },
  );

  it.each([
    ['no command', []],
    ['an unknown command', ['check']],
    ['verify with an option but no value', ['verify', '--tenant']],
    ['verify-export without a file', ['verify-export']],
    ['verify-export with an option for a file', ['verify-export', '--keys', 'jwks.json']],
  ])('prints the usage on stderr for %s, exit 2', async (_name, argv) => {
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.out).toEqual([]);
    expect(result.err.join('\n')).toContain('usage:');
  });

  it('exits 0 for --help as a process, as `npm run audit-verify -- --help` runs it', () => {
    const root = path.join(__dirname, '..', '..', '..');
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'src', 'cli', 'audit-verify.ts'), '--help'],
      { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH } },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('usage:');
  });
});
