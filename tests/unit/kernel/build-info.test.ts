import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import packageJson from '../../../package.json';
import { readBuildInfo, readGitCommit } from '../../../src/kernel/build-info';

const A = 'a'.repeat(40);
const B = '0123456789abcdef0123456789abcdef01234567';
const C = 'c0ffee'.repeat(6) + 'c0ff';

/** Files to write under a temporary directory: path relative to it, and content. */
type Layout = Record<string, string>;

const CASES: { name: string; files: Layout; from: string; commit: string | undefined }[] = [
  {
    name: 'reads a branch stored as a loose ref',
    files: { '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n` },
    from: '.',
    commit: A,
  },
  {
    name: 'reads a branch found only in packed-refs (after git gc or a clone)',
    files: {
      '.git/HEAD': 'ref: refs/heads/release/1.2\n',
      '.git/packed-refs':
        `# pack-refs with: peeled fully-peeled sorted \n${B} refs/heads/main\n${A} refs/heads/release/1.2\n` +
        `${C} refs/tags/v1.2.0\n^${B}\n`,
    },
    from: '.',
    commit: A,
  },
  {
    name: 'prefers a loose ref to its older packed line',
    files: {
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/refs/heads/main': `${A}\n`,
      '.git/packed-refs': `${B} refs/heads/main\n`,
    },
    from: '.',
    commit: A,
  },
  {
    name: 'reads a detached HEAD (a tag or commit checked out, as CI does)',
    files: { '.git/HEAD': `${B}\n`, '.git/refs/heads/main': `${A}\n` },
    from: '.',
    commit: B,
  },
  {
    name: 'reads a linked worktree, whose .git file points at its directory in the main repository',
    files: {
      'repo/.git/HEAD': 'ref: refs/heads/main\n',
      'repo/.git/refs/heads/main': `${A}\n`,
      'repo/.git/packed-refs': `${C} refs/heads/feature\n`,
      'repo/.git/worktrees/wt/HEAD': 'ref: refs/heads/feature\n',
      'repo/.git/worktrees/wt/commondir': '../..\n',
      'wt/.git': 'gitdir: ../repo/.git/worktrees/wt\n',
    },
    from: 'wt',
    commit: C,
  },
  {
    name: 'finds the checkout from a directory below its root (src/kernel)',
    files: { '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n`, 'src/kernel/x.ts': '' },
    from: 'src/kernel',
    commit: A,
  },
  { name: 'knows none without a .git anywhere upwards', files: { 'src/x.ts': '' }, from: 'src', commit: undefined },
  {
    name: 'knows none for a branch without a commit yet',
    files: { '.git/HEAD': 'ref: refs/heads/main\n', '.git/packed-refs': `${B} refs/heads/other\n` },
    from: '.',
    commit: undefined,
  },
  {
    name: 'knows none in a reftable repository, whose HEAD names no readable ref',
    files: { '.git/HEAD': 'ref: refs/heads/.invalid\n', '.git/reftable/tables.list': '' },
    from: '.',
    commit: undefined,
  },
  {
    name: 'knows none when HEAD holds no commit id',
    files: { '.git/HEAD': 'not a commit\n' },
    from: '.',
    commit: undefined,
  },
  {
    name: 'reads no ref that would leave the git directory',
    files: { '.git/HEAD': 'ref: refs/../../outside\n', outside: `${A}\n` },
    from: '.',
    commit: undefined,
  },
  { name: 'knows none for a .git file without gitdir', files: { '.git': 'nonsense\n' }, from: '.', commit: undefined },
];

describe('the commit read from a checkout’s .git, without running git', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-build-info-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(CASES)('$name', ({ files, from, commit }) => {
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), content);
    }
    expect(readGitCommit(path.join(dir, from))).toBe(commit);
  });

  it('agrees with git rev-parse HEAD on a real repository: loose, packed, detached and in a linked worktree', () => {
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd, encoding: 'utf8' })
        .toString()
        .trim();
    const repo = path.join(dir, 'repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'one');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'two');
    expect(readGitCommit(repo)).toBe(git(repo, 'rev-parse', 'HEAD'));
    git(repo, 'pack-refs', '--all');
    expect(fs.existsSync(path.join(repo, '.git/refs/heads/main'))).toBe(false);
    expect(readGitCommit(repo)).toBe(git(repo, 'rev-parse', 'HEAD'));
    git(repo, 'checkout', '-q', '--detach', 'HEAD~1');
    expect(readGitCommit(repo)).toBe(git(repo, 'rev-parse', 'HEAD'));
    git(repo, 'checkout', '-q', 'main');
    const worktree = path.join(dir, 'wt');
    git(repo, 'worktree', 'add', '-q', '-b', 'feature', worktree, 'HEAD~1');
    git(worktree, 'commit', '-q', '--allow-empty', '-m', 'three');
    expect(readGitCommit(worktree)).toBe(git(worktree, 'rev-parse', 'HEAD'));
    expect(readGitCommit(worktree)).not.toBe(readGitCommit(repo));
  });
});

describe('the build identity', () => {
  it('takes the commit baked into the image over any checkout, and shows it as SemVer build metadata', () => {
    expect(readBuildInfo(B, os.tmpdir())).toEqual({
      version: packageJson.version,
      commit: B,
      commitFrom: 'environment',
      label: `${packageJson.version}+${B.slice(0, 12)}`,
    });
  });

  it('says unknown, and the version alone, when neither the environment nor a checkout has it', () => {
    expect(readBuildInfo(undefined, path.parse(os.tmpdir()).root)).toEqual({
      version: packageJson.version,
      commit: 'unknown',
      commitFrom: 'unknown',
      label: packageJson.version,
    });
  });

  it('reads this checkout’s commit when run from it (npm start)', () => {
    const build = readBuildInfo(undefined);
    expect(build.commitFrom).toBe('git');
    expect(build.commit).toBe(
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).toString().trim(),
    );
  });
});
