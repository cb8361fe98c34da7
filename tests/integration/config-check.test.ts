import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { openSignedHeads } from '../../src/audit/signed-heads';
import { reviewConfiguration } from '../../src/event/config-check';
import { configSchema, loadConfig } from '../../src/kernel/config';
import { buildAgreement } from '../helpers/builders';
import { exited, refusedStartProblems, spawnProduct } from '../helpers/product-process';
import { createTestEnv, dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

const ROOT = path.resolve(__dirname, '../..');

/** Writes a file of exactly these lines, so the test knows the line of every planted mistake. */
function write(dir: string, file: string, lines: string[]): string {
  const full = path.join(dir, file);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, `${lines.join('\n')}\n`);
  return full;
}

function agreementLines(overrides: Record<string, unknown>): string[] {
  return JSON.stringify(buildAgreement(overrides), null, 2).split('\n');
}

/** The 1-based line of the first line containing `text`. */
function lineOf(lines: string[], text: string): number {
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) {
    throw new Error(`no line with ${text}`);
  }
  return i + 1;
}

describe('configuration is checked up front, all at once', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-check-'));
  const expected: RegExp[] = [];

  beforeAll(() => {
    // A good pair: the practice's agreement with GM0226 and its destination.
    write(dir, 'agreements/good.json', agreementLines({}));
    write(dir, 'destinations/gm0226.json', [
      '{',
      '  "id": "gm0226",',
      '  "municipality": "GM0226",',
      '  "adapter": "fhir-rest",',
      '  "baseUrl": "http://127.0.0.1:9/fhir"',
      '}',
    ]);

    // 1. A JSON syntax error (a trailing comma), reported with line and column.
    const broken = write(dir, 'agreements/broken.json', ['{', '  "id": "broken",', '  "version": 1,', '}']);
    expected.push(new RegExp(`^${broken}:4:1 JSON syntax error: `));

    // 2. An allow-list field that is no element of the FHIR resource type.
    const allowLines = agreementLines({
      id: 'bad-allow-list',
      dataClasses: { Patient: { fields: ['identifier', 'bsn'] } },
    });
    const allow = write(dir, 'agreements/bad-allow-list.json', allowLines);
    expected.push(
      new RegExp(
        `^${allow}:${lineOf(allowLines, '"bsn"')}:\\d+ dataClasses\\.Patient\\.fields\\[1\\]: Patient has no element 'bsn'`,
      ),
    );

    // 2b. The same in the allow-list towards the practice (a municipality that is the system of record).
    const reverseLines = agreementLines({
      id: 'bad-reverse-allow-list',
      professional: { employer: 'social-team', systemOfRecord: 'municipality' },
      toPractice: {
        purpose: 'contact-registration',
        dataClasses: { EpisodeOfCare: { fields: ['status', 'outcome'] } },
      },
    });
    const reverse = write(dir, 'agreements/bad-reverse-allow-list.json', reverseLines);
    expected.push(
      new RegExp(
        `^${reverse}:${lineOf(reverseLines, '"outcome"')}:\\d+ toPractice\\.dataClasses\\.EpisodeOfCare\\.fields\\[1\\]: ` +
          `EpisodeOfCare has no element 'outcome'`,
      ),
    );

    // 2c. Several problems in one agreement, all listed at once: a schema error, an end before the start, and an
    // allow-list field. Its destination is not reported as unused for it.
    const manyLines = agreementLines({
      id: 'many-problems',
      municipality: { code: 'GM0275', name: 'Rheden' },
      purposes: ['referral', 'gossip'],
      validFrom: '2026-06-01',
      validTo: '2026-01-01',
      dataClasses: { Patient: { fields: ['identifier', 'shoeSize'] } },
    });
    const many = write(dir, 'agreements/many-problems.json', manyLines);
    expected.push(new RegExp(`^${many}:${lineOf(manyLines, '"gossip"')}:\\d+ purposes\\[1\\]: `));
    expected.push(new RegExp(`^${many}:${lineOf(manyLines, '"validTo"')}:\\d+ validTo: validTo is before validFrom`));
    expected.push(
      new RegExp(
        `^${many}:${lineOf(manyLines, '"shoeSize"')}:\\d+ dataClasses\\.Patient\\.fields\\[1\\]: Patient has no element`,
      ),
    );
    write(dir, 'destinations/gm0275.json', [
      '{',
      '  "id": "gm0275",',
      '  "municipality": "GM0275",',
      '  "adapter": "fhir-rest",',
      '  "baseUrl": "http://127.0.0.1:9/fhir"',
      '}',
    ]);

    // 3. An agreement whose municipality has no destination.
    const orphanLines = agreementLines({ id: 'no-destination', municipality: { code: 'GM0202', name: 'Arnhem' } });
    const orphan = write(dir, 'agreements/no-destination.json', orphanLines);
    expected.push(
      new RegExp(`^${orphan}:${lineOf(orphanLines, '"GM0202"')}:\\d+ municipality\\.code: no destination for GM0202`),
    );

    // 4. A destination whose bearer token variable is unset (its agreement is in order).
    write(
      dir,
      'agreements/lingewaard.json',
      agreementLines({ id: 'lingewaard', municipality: { code: 'GM0344', name: 'Lingewaard' } }),
    );
    const tokenLines = [
      '{',
      '  "id": "gm0344",',
      '  "municipality": "GM0344",',
      '  "adapter": "isamenleving",',
      '  "baseUrl": "http://127.0.0.1:9/api",',
      '  "auth": { "type": "bearer", "tokenEnv": "JB_TEST_UNSET_TOKEN" }',
      '}',
    ];
    const token = write(dir, 'destinations/token.json', tokenLines);
    expected.push(new RegExp(`^${token}:6:\\d+ auth\\.tokenEnv: environment variable JB_TEST_UNSET_TOKEN is not set`));

    // 5. A destination no agreement sends anything to.
    const unusedLines = [
      '{',
      '  "id": "gm0299",',
      '  "municipality": "GM0299",',
      '  "adapter": "fhir-rest",',
      '  "baseUrl": "http://127.0.0.1:9/fhir"',
      '}',
    ];
    const unused = write(dir, 'destinations/unused.json', unusedLines);
    expected.push(new RegExp(`^${unused}:3:\\d+ municipality: no agreement with GM0299`));

    // And two more of other kinds: an unknown field, and a malformed INBOX_KEYS.
    const practiceLines = [
      '{',
      '  "agb": "01234567",',
      '  "adapter": "fhir-rest",',
      '  "baseUrl": "http://127.0.0.1:9/his",',
      '  "timeout": 1000',
      '}',
    ];
    const practice = write(dir, 'practices/p.json', practiceLines);
    expected.push(new RegExp(`^${practice}:5:\\d+ timeout: unknown field`));
    expected.push(/^environment INBOX_KEYS: expected kid:base64 entries of 32-byte keys/);
    // A trusted-issuers file that is not there would refuse every JWT, unsaid.
    expected.push(/^environment JWT_ISSUERS_FILE: .*no-such-issuers\.json does not exist/);
    // A malformed signing key: start-up used to find it only after migrating the database.
    expected.push(/^environment AUDIT_SIGNING_KEYS: expected kid:base64 entries/);
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CONFIG_DIR: dir,
    DATA_DIR: path.join(dir, 'data'),
    INBOX_KEYS: 'k1:tooshort',
    JWT_ISSUERS_FILE: path.join(dir, 'no-such-issuers.json'),
    AUDIT_SIGNING_KEYS: 'x',
    ...extra,
  });

  it('npm run config:check reports every planted mistake with its file and line, and fails', async () => {
    const run = promisify(execFile)('npm', ['run', '-s', 'config:check'], { cwd: ROOT, env: env() });
    const failure = (await run.then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; stderr?: string } | undefined;
    expect(failure?.code).toBe(1);
    const lines = (failure?.stderr ?? '').trim().split('\n');
    expect(lines.at(-1)).toBe(`${expected.length} configuration problem(s)`);
    const problems = lines.slice(0, -1);
    for (const pattern of expected) {
      expect({ pattern: pattern.source, found: problems.filter((l) => pattern.test(l)).length }).toEqual({
        pattern: pattern.source,
        found: 1,
      });
    }
    expect(problems).toHaveLength(expected.length);
  });

  it('refuses to start with the same list, before touching the database', async () => {
    const testEnv = createTestEnv();
    const log = path.join(dir, 'start.log');
    const child = spawnProduct(
      {
        ...testEnv.env,
        CONFIG_DIR: dir,
        DATA_DIR: path.join(dir, 'data'),
        INBOX_KEYS: 'k1:tooshort',
        JWT_ISSUERS_FILE: path.join(dir, 'no-such-issuers.json'),
        AUDIT_SIGNING_KEYS: 'x',
      },
      log,
    );
    expect(await exited(child)).toBe(2);
    const { problems } = refusedStartProblems(log);
    for (const pattern of expected) {
      expect(problems.some((l) => pattern.test(l))).toBe(true);
    }
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [testEnv.schema]);
    await client.end();
    expect(rows).toEqual([]);
    await dropSchema(testEnv.schema);
    fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
  });

  it('reports a signing key that is no Ed25519 key, a bad signing key file, and a DATA_DIR that is a file', async () => {
    const good = path.join(dir, 'good');
    fs.cpSync(path.join(ROOT, 'config'), good, { recursive: true });
    const aFile = write(dir, 'not-a-dir', ['plain text']);
    const run = (extra: Record<string, string>) =>
      promisify(execFile)('npm', ['run', '-s', 'config:check'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, CONFIG_DIR: good, ...extra },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? '' }),
      );
    const notEd25519 = await run({ DATA_DIR: path.join(dir, 'data-ok'), AUDIT_SIGNING_KEYS: 'k1:bm90IGEga2V5' });
    expect(notEd25519.code).toBe(1);
    expect(notEd25519.stderr).toMatch(/^environment AUDIT_SIGNING_KEYS: key k1 is not a PKCS#8 Ed25519 key$/m);
    // Unset, the key file in DATA_DIR is read: a damaged one is reported too (and a missing one is created later).
    const dataDir = path.join(dir, 'data-bad-key');
    write(dataDir, 'audit-signing-keys', ['k1:bm90IGEga2V5']);
    const badFile = await run({ DATA_DIR: dataDir });
    expect(badFile.code).toBe(1);
    expect(badFile.stderr).toContain(`${path.join(dataDir, 'audit-signing-keys')} key k1 is not a PKCS#8 Ed25519 key`);
    const dataFile = await run({ DATA_DIR: aFile });
    expect(dataFile.code).toBe(1);
    expect(dataFile.stderr).toMatch(new RegExp(`^environment DATA_DIR: ${aFile} is not a directory$`, 'm'));
    const under = await run({ DATA_DIR: path.join(aFile, 'sub') });
    expect(under.stderr).toMatch(new RegExp(`^environment DATA_DIR: ${aFile} is not a directory$`, 'm'));
  });

  it('warns, without failing, of misspelt settings, settings that do not work together, unread files and a practice without an endpoint', async () => {
    const warned = path.join(dir, 'warned');
    fs.cpSync(path.join(ROOT, 'config'), warned, { recursive: true });
    // An agreement of a second practice that has no endpoint: its referrals' statuses could not reach it.
    const lines = agreementLines({ id: 'second', practice: { agb: '07654321', ura: '87654322', name: 'Tweede' } });
    const second = write(warned, 'agreements/second.json', lines);
    write(warned, 'agreements/third.JSON', ['{}']);
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '-s', 'config:check'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CONFIG_DIR: warned,
        DATA_DIR: path.join(dir, 'data-warned'),
        DELIVERY_MAX_ATTEMPT: '3',
        REDIS_URl: 'redis://elsewhere:6379',
        HOSTNAME: 'not-ours',
        REDIS_PORT: 'tcp://10.0.0.1:6379',
        ROLE: 'api',
        METRICS_PORT: '9464',
        DELIVERY_BACKOFF_BASE_MS: '7200000',
        DELIVERY_BACKOFF_MAX_MS: '1000',
      },
    });
    expect(stdout.trim().split('\n').slice(1)).toEqual(['configuration OK']);
    const warnings = stderr.trim().split('\n');
    expect(warnings).toEqual(
      expect.arrayContaining([
        'warning: environment DELIVERY_MAX_ATTEMPT: not a setting, ignored (did you mean DELIVERY_MAX_ATTEMPTS?)',
        'warning: environment REDIS_URl: not a setting, ignored (did you mean REDIS_URL?)',
        expect.stringMatching(/^warning: environment METRICS_PORT: only ROLE=worker serves it/),
        expect.stringMatching(/^warning: environment DELIVERY_BACKOFF_BASE_MS: larger than DELIVERY_BACKOFF_MAX_MS/),
        expect.stringMatching(
          /^warning: environment AUDIT_SIGNING_KEYS: unset with ROLE=api; every process must share/,
        ),
        `warning: ${path.join(warned, 'agreements/third.JSON')}: not read (only lower-case .json files are)`,
        expect.stringMatching(
          new RegExp(
            `^warning: ${second}:${lineOf(lines, '"07654321"')}:\\d+ practice\\.agb: no practice endpoint for 07654321`,
          ),
        ),
      ]),
    );
    // Names of other software (a hostname, a Kubernetes service variable) are not taken for misspellings.
    expect(warnings).toHaveLength(7);
  });

  // report-xsec 5: an issuer without allowedRoles grants every role, operator and auditor with '*' included, and one
  // without maxLifetimeS takes a token valid for years. Allowed, but said.
  it('warns of a JWT issuer that may grant every role or tokens of any lifetime', async () => {
    const issuers = write(dir, 'issuers.json', [
      JSON.stringify([
        { issuer: 'https://idp.example/open', jwksUri: 'https://idp.example/jwks', audience: 'jeugdbrug' },
        {
          issuer: 'https://idp.example/bounded',
          jwksUri: 'https://idp.example/jwks',
          audience: 'jeugdbrug',
          allowedRoles: ['practice', 'municipality'],
          maxLifetimeS: 3600,
        },
      ]),
    ]);
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '-s', 'config:check'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CONFIG_DIR: path.join(ROOT, 'config'),
        DATA_DIR: path.join(dir, 'data-issuers'),
        ROLE: 'worker',
        JWT_ISSUERS_FILE: issuers,
      },
    });
    expect(stdout.trim().split('\n').slice(1)).toEqual(['configuration OK']);
    const warnings = stderr
      .trim()
      .split('\n')
      .filter((w) => w.includes(issuers));
    expect(warnings).toEqual([
      `warning: ${issuers}: issuer 0 (https://idp.example/open): no allowedRoles, so it may grant every role, ` +
        'operator and auditor included',
      `warning: ${issuers}: issuer 0 (https://idp.example/open): no maxLifetimeS, so a token valid for years is taken`,
    ]);
  });

  it('gives the JWT issuer warnings with every other warning, so that no caller of the review can leave them out', () => {
    const issuers = write(dir, 'issuers-review.json', [
      JSON.stringify([
        { issuer: 'https://idp.example/open', jwksUri: 'https://idp.example/jwks', audience: 'jeugdbrug' },
      ]),
    ]);
    const { warnings } = reviewConfiguration({
      CONFIG_DIR: path.join(ROOT, 'config'),
      DATA_DIR: path.join(dir, 'data-issuers-review'),
      JWT_ISSUERS_FILE: issuers,
    });
    expect(warnings.filter((w) => w.includes(issuers))).toEqual([
      expect.stringContaining('no allowedRoles'),
      expect.stringContaining('no maxLifetimeS'),
    ]);
  });

  // report-xpen 7: unset, the console takes each request's own Host as its origin for the CSRF check, so a page
  // served under another name (DNS rebinding) is same-origin; links name HOST, which 0.0.0.0 is not.
  it('warns of PUBLIC_BASE_URL unset when the API listens beyond this host', () => {
    const env = { CONFIG_DIR: path.join(ROOT, 'config'), DATA_DIR: path.join(dir, 'data-public') };
    const about = (w: string) => w.startsWith('environment PUBLIC_BASE_URL');
    const warningsOf = (more: Record<string, string>) =>
      reviewConfiguration({ ...env, ...more }).warnings.filter(about);
    expect(warningsOf({ HOST: '0.0.0.0' })).toEqual([
      expect.stringMatching(/^environment PUBLIC_BASE_URL: unset with HOST=0\.0\.0\.0; .*request's own Host/),
    ]);
    expect(warningsOf({ HOST: '0.0.0.0', PUBLIC_BASE_URL: 'https://jeugdbrug.example.nl' })).toEqual([]);
    expect(warningsOf({})).toEqual([]);
    expect(warningsOf({ HOST: '::1' })).toEqual([]);
    expect(warningsOf({ HOST: '0.0.0.0', ROLE: 'worker' })).toEqual([]);
  });

  // report-xaudit 5: a week's retention of the access log passed without a word; NEN 7513 logs are commonly kept
  // five years (DOMAIN.md), and rows past it are purged for good.
  it('warns of an audit retention shorter than five years', () => {
    const env = { CONFIG_DIR: path.join(ROOT, 'config'), DATA_DIR: path.join(dir, 'data-retention') };
    const warningsOf = (more: Record<string, string>) =>
      reviewConfiguration({ ...env, ...more }).warnings.filter((w) => w.startsWith('environment AUDIT_RETENTION_DAYS'));
    expect(warningsOf({ AUDIT_RETENTION_DAYS: '7' })).toEqual([
      expect.stringMatching(/^environment AUDIT_RETENTION_DAYS: 7 days, shorter than five years \(1826 days\)/),
    ]);
    expect(warningsOf({ AUDIT_RETENTION_DAYS: '1826' })).toEqual([]);
    expect(warningsOf({})).toEqual([]);
  });

  // report-drill L4: every process sharing one DATA_DIR, as the README documents, warned on every start that they
  // must share it. Only a process that finds no signing key file there makes a key of its own.
  it('warns of AUDIT_SIGNING_KEYS unset only when DATA_DIR holds no signing key file yet', () => {
    const dataDir = path.join(dir, 'data-signing');
    const warningsOf = () =>
      reviewConfiguration({ CONFIG_DIR: path.join(ROOT, 'config'), DATA_DIR: dataDir, ROLE: 'worker' }).warnings.filter(
        (w) => w.startsWith('environment AUDIT_SIGNING_KEYS'),
      );
    expect(warningsOf()).toEqual([
      expect.stringMatching(/^environment AUDIT_SIGNING_KEYS: unset with ROLE=worker; every process must share/),
    ]);
    // The first process to start makes the key file, which the others sharing DATA_DIR then read.
    fs.mkdirSync(dataDir, { recursive: true });
    openSignedHeads(undefined, dataDir);
    expect(fs.existsSync(path.join(dataDir, 'audit-signing-keys'))).toBe(true);
    const review = reviewConfiguration({ CONFIG_DIR: path.join(ROOT, 'config'), DATA_DIR: dataDir, ROLE: 'worker' });
    expect(review.problems).toEqual([]);
    expect(warningsOf()).toEqual([]);
  });

  // Start-up parsed the environment three times (the problems, the warnings, then main.ts's own loadConfig): the
  // configuration main.ts starts with is the one the review parsed, once.
  it('parses the environment once and hands on the configuration it checked', () => {
    const env = { CONFIG_DIR: path.join(ROOT, 'config'), DATA_DIR: path.join(dir, 'data-once'), PORT: '8123' };
    /** The review of `more`, and how often it parsed the environment with the schema. */
    const reviewCounted = (more: Record<string, string> = {}) => {
      const parse = jest.spyOn(configSchema, 'safeParse');
      try {
        return { ...reviewConfiguration({ ...env, ...more }), parses: parse.mock.calls.length };
      } finally {
        parse.mockRestore();
      }
    };
    const good = reviewCounted();
    expect({ parses: good.parses, config: good.config }).toEqual({ parses: 1, config: loadConfig(env) });
    // With problems there is no configuration to start with, and the environment is still parsed once.
    const bad = reviewCounted({ PORT: 'eighty' });
    expect({ parses: bad.parses, config: bad.config, problems: bad.problems }).toEqual({
      parses: 1,
      config: undefined,
      problems: ["Invalid configuration: PORT: must be a whole number, got 'eighty'"],
    });
  });

  it('refuses an agreement that sends to a practice without an endpoint', async () => {
    const noEndpoint = path.join(dir, 'no-endpoint');
    fs.cpSync(path.join(ROOT, 'config'), noEndpoint, { recursive: true });
    const lines = agreementLines({
      id: 'reverse',
      practice: { agb: '07654321', ura: '87654322', name: 'Tweede' },
      professional: { employer: 'social-team', systemOfRecord: 'municipality' },
      toPractice: { purpose: 'contact-registration', dataClasses: { EpisodeOfCare: { fields: ['status'] } } },
    });
    const reverse = write(noEndpoint, 'agreements/reverse.json', lines);
    const failure = (await promisify(execFile)('npm', ['run', '-s', 'config:check'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CONFIG_DIR: noEndpoint, DATA_DIR: path.join(dir, 'd2') },
    }).then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; stderr?: string } | undefined;
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(
      new RegExp(
        `^${reverse}:${lineOf(lines, '"07654321"')}:\\d+ practice\\.agb: no practice endpoint for 07654321, which toPractice sends to`,
        'm',
      ),
    );
  });

  it('passes the shipped configuration', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'config:check'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(stdout.trim().split('\n').slice(1)).toEqual(['configuration OK']);
  });

  it('says first which build checked: the version and the commit, of the image or of the checkout', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout: head } = await promisify(execFile)('git', ['rev-parse', 'HEAD'], { cwd: ROOT });
    const firstLine = async (extra: Record<string, string>) => {
      const run = await promisify(execFile)('npm', ['run', '-s', 'config:check'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...extra },
      }).then(
        ({ stdout }) => stdout,
        (err: { stdout?: string }) => err.stdout ?? '',
      );
      return run.split('\n')[0];
    };
    expect({
      checkout: await firstLine({}),
      image: await firstLine({ JEUGDBRUG_BUILD_COMMIT: 'ABCDEF1234567' }),
      // A configuration with problems is checked by a build as well, and says so first.
      withProblems: await firstLine({ DATABASE_POOL_SIZE: '0', JEUGDBRUG_BUILD_COMMIT: 'abcdef1234567' }),
    }).toEqual({
      checkout: `checking with jeugdbrug ${version}, commit ${head.trim()}`,
      image: `checking with jeugdbrug ${version}, commit abcdef1234567`,
      withProblems: `checking with jeugdbrug ${version}, commit abcdef1234567`,
    });
  });
});
