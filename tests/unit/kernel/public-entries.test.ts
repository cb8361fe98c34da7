import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

/** Every `.ts` file under `dir`. */
function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** The packages' specifiers a file imports or requires (type-only imports too: they break as well). */
function packageSpecifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)'([^'.][^']*)'/g)]
    .map((m) => m[1]!)
    .filter((s) => !s.startsWith('node:'));
}

/** `@scope/name/sub/path` → `@scope/name` and `sub/path`. */
function splitSpecifier(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const n = specifier.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, n).join('/'), subpath: parts.slice(n).join('/') };
}

describe('the packages the product uses', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const uses = sourceFiles(path.join(ROOT, 'src')).flatMap((file) =>
    packageSpecifiers(file).map((specifier) => ({ file: path.relative(ROOT, file), specifier })),
  );

  // A path inside a package's build (`@opentelemetry/sdk-node/build/src/utils`) is no API: any release may move it.
  it('are imported by their public entries: the package, or a subpath its exports map declares', () => {
    expect(uses.length).toBeGreaterThan(50);
    const unexported = uses.filter(({ specifier }) => {
      const { name, subpath } = splitSpecifier(specifier);
      if (subpath === '') {
        return false;
      }
      const manifest = JSON.parse(
        fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), 'utf8'),
      ) as { exports?: unknown };
      const exported =
        typeof manifest.exports === 'object' && manifest.exports !== null ? Object.keys(manifest.exports) : [];
      return !exported.includes(`./${subpath}`);
    });
    expect(unexported).toEqual([]);
  });

  it('are dependencies of package.json, not packages another one happens to bring along', () => {
    const undeclared = uses.filter(({ specifier }) => !(splitSpecifier(specifier).name in pkg.dependencies));
    expect(undeclared).toEqual([]);
  });
});
