import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { STEPS } from '../../src/event/states';
import { DIALECTS } from '../../mappings/his/index';
import { FORMATS } from '../../mappings/municipality/index';
import { DECISION_REASON_CODES } from '../../src/policy/types';

/** The docs name what the code has: lists in README.md and docs/ that would otherwise go stale unnoticed. */

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The text of a markdown section, from its heading to the next heading of the same or a higher level. */
function sectionOf(markdown: string, heading: string): string {
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const start = markdown.split('\n').findIndex((line) => line === heading);
  if (start < 0) {
    throw new Error(`no section "${heading}"`);
  }
  const lines = markdown.split('\n').slice(start + 1);
  const end = lines.findIndex((line) => new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(0, end < 0 ? undefined : end).join('\n');
}

/** The paragraph (text between blank lines) that starts with `opening`. */
function paragraphOf(text: string, opening: string): string {
  const paragraph = text.split(/\n\s*\n/).find((p) => p.includes(opening));
  if (paragraph === undefined) {
    throw new Error(`no paragraph with "${opening}"`);
  }
  return paragraph.slice(paragraph.indexOf(opening));
}

describe('README "Upgrading"', () => {
  const migrationFiles = fs
    .readdirSync(path.join(ROOT, 'src', 'kernel', 'migrations'))
    .filter((f) => /^\d{3}_.*\.sql$/.test(f))
    .sort();
  /** CHANGELOG.md's migration table rows, wherever they stand: number → "the release before on it" (last cell). */
  const changelogRows = new Map(
    [...read('CHANGELOG.md').matchAll(/^\| `(\d{3})_[a-z0-9_]+\.sql` +\|.*\| *([^|]*?) *\| *$/gm)].map((m) => [
      m[1]!,
      m[2]!,
    ]),
  );
  const listed = [...changelogRows.keys()].sort();

  it('has a CHANGELOG migration table row for every migration since the first it lists', () => {
    expect(listed.length).toBeGreaterThan(0);
    const since = migrationFiles.filter((f) => f.slice(0, 3) >= listed[0]!).map((f) => f.slice(0, 3));
    expect(listed).toEqual(since);
  });

  it('names every migration of the CHANGELOG table in its list of what the release before can run on', () => {
    const paragraph = paragraphOf(
      sectionOf(read('README.md'), '## Upgrading'),
      'Migrations that the build before cannot run on',
    );
    const named = [...paragraph.matchAll(/`(\d{3})`/g)].map((m) => m[1]!);
    expect([...named].sort()).toEqual(listed);
    // Those the CHANGELOG says it fails on come first, in the "cannot run on" sentence.
    const cannot = paragraph.split('. ')[0]!;
    for (const [number, releaseBefore] of changelogRows) {
      expect([number, cannot.includes(`\`${number}\``)]).toEqual([number, releaseBefore.includes('fails')]);
    }
  });
});

// report-drill M1: the rolling-upgrade paragraphs never asked for a backup, yet rolling back is restoring one, with
// the copy of the audit checkpoint files from then; an operator who followed them had neither.
describe('every upgrade path asks for a backup and a copy of the audit checkpoint files first', () => {
  const upgrading = sectionOf(read('README.md'), '## Upgrading');
  const paths = [
    ...upgrading.split(/\n\s*\n/).filter((p) => p.startsWith('**Upgrading from')),
    // The upgrade with a stop: its numbered steps.
    upgrading.slice(upgrading.indexOf('Upgrading across such a migration'), upgrading.indexOf('Queued jobs (Redis)')),
  ];

  it('in the README: the step, and each path pointing to it', () => {
    expect(upgrading).toContain('**Before every upgrade');
    // The paragraph and its numbered steps, up to the first upgrade path.
    const step = upgrading.slice(upgrading.indexOf('**Before every upgrade'), upgrading.indexOf('**Upgrading from'));
    expect(step).toContain('backup');
    expect(step).toContain('DATA_DIR/audit-checkpoints.ndjson');
    expect(step).toContain('audit-checkpoints-*.ndjson');
    expect(paths.length).toBeGreaterThanOrEqual(5);
    expect(paths.filter((p) => !p.includes('Before every upgrade')).map((p) => p.slice(0, 60))).toEqual([]);
  });

  it("in the CHANGELOG: each release's upgrade advice", () => {
    const changelog = read('CHANGELOG.md');
    // Each section from its heading to the next (two releases' sections have the same heading).
    const advice = changelog
      .split(/^(?=#{1,3} )/m)
      .filter((section) => /^### (Upgrading from|Upgrade with a stop)/.test(section));
    expect(advice.length).toBeGreaterThanOrEqual(6);
    expect(
      advice.filter((a) => !(a.includes('backup') && a.includes('audit-checkpoints'))).map((a) => a.slice(0, 60)),
    ).toEqual([]);
  });
});

describe('the diagrams of the life of an event', () => {
  /** The fenced blocks of a text: where the diagrams are drawn. */
  const diagramsOf = (text: string): string =>
    [...text.matchAll(/^```\n([\s\S]*?)^```$/gm)].map((m) => m[1]).join('\n');

  it.each([
    ['docs/architecture.md', sectionOf(read('docs/architecture.md'), '## The life of an event')],
    ['src/event/README.md', read('src/event/README.md')],
  ])('in %s draw every step of src/event/states.ts, into the state it leads to', (_file, text) => {
    const lines = diagramsOf(text).split('\n');
    // The line of an arrow: `── <step> (why) ──► <to>` (or `/ <step>` beside another step of the same arrow).
    const drawn = Object.keys(STEPS).map((step) => {
      const line = lines.find((l) => new RegExp(`(──|/) ${step}\\b`).test(l));
      return [step, line === undefined ? 'not drawn' : /► (\w+)$/.exec(line.trimEnd())?.[1]];
    });
    expect(drawn).toEqual(Object.entries(STEPS).map(([step, { to }]) => [step, to]));
  });
});

/** The first cells of the rows of the markdown table whose header row matches `header`. */
function firstCellsOf(text: string, header: RegExp): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => header.test(l));
  if (start < 0) {
    throw new Error(`no table with header ${String(header)}`);
  }
  const rows = lines.slice(start + 2);
  const end = rows.findIndex((l) => !l.startsWith('|'));
  return rows
    .slice(0, end < 0 ? undefined : end)
    .map((row) => row.split('|')[1] ?? '')
    .join(', ');
}

/** The text `pattern`'s first group matches in `text`. */
function fragmentOf(text: string, pattern: RegExp): string {
  const match = pattern.exec(text);
  if (!match) {
    throw new Error(`nothing matches ${String(pattern)}`);
  }
  return match[1]!;
}

/** The names a list fragment gives: backticked ones if it has any, else its words between `,`, `|` and `or`. */
function namesIn(fragment: string): string[] {
  return fragment.includes('`')
    ? [...fragment.matchAll(/`([a-z][a-z0-9-]*)`/g)].map((m) => m[1]!)
    : fragment
        .split(/\s*(?:,|\||\bor\b)\s*/)
        .map((w) => w.trim())
        .filter((w) => w !== '');
}

describe('the lists of HIS dialects and destination formats', () => {
  const readme = read('README.md');
  const hisReadme = read('mappings/his/README.md');
  const delivery = read('docs/delivery.md');
  const architecture = read('docs/architecture.md');
  const dialects = DIALECTS.map((d) => d.name);
  const formats = FORMATS.map((f) => f.adapter.name);
  const practiceFormats = FORMATS.filter((f) => f.servesPractices).map((f) => f.adapter.name);

  // Each list an integrator adding a dialect or a format must extend (README "Extending jeugdbrug" says which).
  it.each([
    [
      'README.md, "HIS dialects" table',
      firstCellsOf(sectionOf(readme, '## HIS dialects'), /^\| dialect +\| content type/),
      dialects,
    ],
    ['mappings/his/README.md, dialects table', firstCellsOf(hisReadme, /^\| dialect +\| media type/), dialects],
    ['mappings/his/README.md, issue locations table', firstCellsOf(hisReadme, /^\| dialect +\| location/), dialects],
    [
      'docs/architecture.md, layers (dialects)',
      fragmentOf(architecture, /one folder per HIS dialect \(([^)]*)\)/),
      dialects,
    ],
    [
      'README.md, "Destinations"',
      fragmentOf(readme, /\*\*Destinations\*\*[\s\S]*?adapter \(([\s\S]*?)\), base URL/),
      formats,
    ],
    [
      'README.md, "Practice endpoints"',
      fragmentOf(readme, /\*\*Practice endpoints\*\*[\s\S]*?municipality's system \(([^)]*)\)/),
      practiceFormats,
    ],
    [
      'docs/architecture.md, layers (formats)',
      fragmentOf(architecture, /one folder per destination format \(([^)]*)\)/),
      formats,
    ],
    ['docs/delivery.md, diagram', fragmentOf(delivery, /─► adapter \(([^)]*)\) ─►/), formats],
    ['docs/delivery.md, destination `adapter`', fragmentOf(delivery, /^\| `adapter` +\| yes +\| ([^|]*)\|/m), formats],
    [
      'docs/delivery.md, "Adapters" sections',
      [...sectionOf(delivery, '## Adapters').matchAll(/^### .*\((`[a-z0-9-]+`)\)$/gm)].map((m) => m[1]).join(', '),
      formats,
    ],
    ['docs/delivery.md, practice endpoint `adapter`', fragmentOf(delivery, /^`adapter` is ([^;]*);/m), practiceFormats],
  ])('%s names exactly the registered ones', (_list, fragment, registered) => {
    expect(namesIn(fragment)).toEqual(registered);
  });

  it.each(dialects)('has the README and golden cases of dialect %s where the tests find them', (name) => {
    expect(fs.existsSync(path.join(ROOT, 'mappings', 'his', name, 'README.md'))).toBe(true);
    expect(
      fs.readdirSync(path.join(ROOT, 'tests', 'fixtures', name)).filter((f) => f.includes('.input.')).length,
    ).toBeGreaterThanOrEqual(10);
  });

  it.each(formats)('has the contract test of destination format %s', (name) => {
    expect(fs.existsSync(path.join(ROOT, 'tests', 'integration', `delivery-${name}.test.ts`))).toBe(true);
  });
});

// report-xhis X3: a HIS vendor needs every reason code with what the practice should do, to show its users.
describe('README "Why an event was denied"', () => {
  it('lists every reason code of the policy engine, each once, with a remedy', () => {
    const section = sectionOf(read('README.md'), '### Why an event was denied: reason codes and what to do');
    const rows = section.split('\n').filter((l) => /^\| `[a-z-]+` /.test(l));
    const codes = rows.map((r) => /^\| `([a-z-]+)`/.exec(r)![1]);
    expect([...codes].sort()).toEqual([...DECISION_REASON_CODES].sort());
    for (const row of rows) {
      expect(row.split('|')[3]?.trim()).not.toBe('');
    }
  });
});

/** The anchors GitHub gives a markdown file's headings (fenced blocks left out): lower case, punctuation dropped. */
function anchorsOf(markdown: string): Set<string> {
  const headings = markdown
    .replace(/^```[\s\S]*?^```$/gm, '')
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) =>
      line
        .replace(/^#+ /, '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  return new Set(headings);
}

// report-xsre F2: an alert that pages must say where its runbook is, and that section must exist.
describe('docs/runbook.md', () => {
  const runbook = read('docs/runbook.md');
  const rules = (
    parseYaml(read('docker/prometheus-alerts.yaml')) as {
      groups: { rules: { alert?: string; annotations?: { runbook_url?: unknown } }[] }[];
    }
  ).groups.flatMap((g) => g.rules.filter((rule) => rule.alert !== undefined));

  it("has a section for every alert rule, which the rule's runbook_url names", () => {
    expect(rules.length).toBeGreaterThan(5);
    const anchors = anchorsOf(runbook);
    expect(
      rules.map((rule) => {
        const url = rule.annotations?.runbook_url;
        const anchor = typeof url === 'string' ? /^docs\/runbook\.md#([a-z0-9-]+)$/.exec(url)?.[1] : undefined;
        return [rule.alert, anchor === undefined ? `runbook_url ${String(url)}` : anchors.has(anchor)];
      }),
    ).toEqual(rules.map((rule) => [rule.alert, true]));
  });

  it('links only to sections that exist, in itself and in the README', () => {
    const targets: Record<string, Set<string>> = {
      '': anchorsOf(runbook),
      '../README.md': anchorsOf(read('README.md')),
    };
    const broken = [...runbook.matchAll(/\]\(((?:\.\.\/README\.md)?)#([^)]+)\)/g)]
      .filter((m) => !targets[m[1]!]!.has(m[2]!))
      .map((m) => m[0]);
    expect(broken).toEqual([]);
  });

  it("is linked from the README's production section", () => {
    expect(sectionOf(read('README.md'), '## Production deployment')).toContain('(docs/runbook.md)');
  });
});
