import fs from 'node:fs';
import path from 'node:path';
import packageJson from '../../package.json';

/**
 * Which build this process is: package.json's version (the same for every build until a release raises it) and the
 * git commit it was built from, so an operator can tell which CHANGELOG entries a running process already has.
 */
export interface BuildInfo {
  /** package.json's `version`. */
  readonly version: string;
  /** The full commit id (lower-case hex), or `unknown`. */
  readonly commit: string;
  /** Where the commit came from: the image's build argument, the checkout's `.git`, or nowhere. */
  readonly commitFrom: 'environment' | 'git' | 'unknown';
  /** The version with the commit as SemVer build metadata, `0.1.0+1a2b3c4d5e6f` (the version alone when unknown). */
  readonly label: string;
}

/** A commit id: SHA-1 (40 hex digits) or SHA-256 (64), or an abbreviation of at least 7, as `git rev-parse` prints. */
export const COMMIT_PATTERN = /^[0-9a-f]{7,64}$/;

/** How many hex digits of the commit `label` shows: as many as GitHub and GitLab show in their lists, and more. */
const SHORT_COMMIT = 12;

/**
 * The build identity, from `JEUGDBRUG_BUILD_COMMIT` (baked into the image at `docker build`), else from the git
 * checkout this code runs from (`npm start`), else `unknown`. Read once, at start-up: no git process is spawned.
 */
export function readBuildInfo(commitFromEnv: string | undefined, codeDir: string = __dirname): BuildInfo {
  const fromGit = commitFromEnv === undefined ? readGitCommit(codeDir) : undefined;
  const commit = commitFromEnv?.toLowerCase() ?? fromGit ?? 'unknown';
  const commitFrom = commitFromEnv !== undefined ? 'environment' : fromGit !== undefined ? 'git' : 'unknown';
  const version = packageJson.version;
  const label = commit === 'unknown' ? version : `${version}+${commit.slice(0, SHORT_COMMIT)}`;
  return { version, commit, commitFrom, label };
}

/**
 * The commit checked out in the git working tree that holds `dir`, read from its files as git finds them: the first
 * `.git` upwards from `dir` (a directory, or a file `gitdir: …` in a linked worktree or submodule), its `HEAD`
 * (detached: a commit; else `ref: refs/heads/…`), and that ref as a loose file or in `packed-refs`, in the worktree's
 * own directory or the repository's common one. Undefined when there is none or it cannot be read (no commit yet, a
 * reftable repository): a wrong answer would be worse than `unknown`.
 */
export function readGitCommit(dir: string): string | undefined {
  const gitDir = findGitDir(path.resolve(dir));
  if (gitDir === undefined) {
    return undefined;
  }
  // A linked worktree keeps HEAD in its own directory and the branches in the main repository's (`commondir`).
  const common = readText(path.join(gitDir, 'commondir'));
  const commonDir = common === undefined ? gitDir : path.resolve(gitDir, common.trim());
  let ref = 'HEAD';
  // A symbolic ref may point at another; git stops after five.
  for (let depth = 0; depth < 5; depth++) {
    const value = readRef(ref === 'HEAD' ? [gitDir] : [gitDir, commonDir], commonDir, ref);
    if (value === undefined) {
      return undefined;
    }
    const symbolic = /^ref:\s*(\S+)$/.exec(value);
    if (!symbolic) {
      return COMMIT_PATTERN.test(value) ? value : undefined;
    }
    ref = symbolic[1]!;
  }
  return undefined;
}

/** The first `.git` from `dir` upwards, as the directory it names. */
function findGitDir(dir: string): string | undefined {
  for (let at = dir; ; at = path.dirname(at)) {
    const dotGit = path.join(at, '.git');
    const stat = statOf(dotGit);
    if (stat?.isDirectory()) {
      return dotGit;
    }
    if (stat?.isFile()) {
      const pointer = /^gitdir:\s*(.+)$/m.exec(readText(dotGit) ?? '');
      return pointer ? path.resolve(at, pointer[1]!.trim()) : undefined;
    }
    if (path.dirname(at) === at) {
      return undefined;
    }
  }
}

/** A ref's value (a commit id or `ref: …`): its loose file in one of `dirs`, else its line in `packed-refs`. */
function readRef(dirs: readonly string[], commonDir: string, ref: string): string | undefined {
  // Only names git itself would write: nothing outside the git directory is read for a ref.
  if (!/^(HEAD|refs\/[^\s\\]+)$/.test(ref) || ref.split('/').includes('..')) {
    return undefined;
  }
  for (const dir of dirs) {
    const loose = readText(path.join(dir, ref))?.trim();
    if (loose) {
      return loose;
    }
  }
  for (const line of (readText(path.join(commonDir, 'packed-refs')) ?? '').split('\n')) {
    // `<commit> <ref>`; `#` starts the header, `^` an annotated tag's peeled commit.
    const [id, name] = line.trim().split(' ');
    if (name === ref && id !== undefined && !id.startsWith('#') && !id.startsWith('^')) {
      return id;
    }
  }
  return undefined;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function statOf(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}
