import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { configSchema, ConfigError, loadConfig, parseEnvironment } from '../../src/kernel/config';
import { reviewConfiguration } from '../../src/event/config-check';
import { exited, refusedStartProblems, spawnProduct } from '../helpers/product-process';

const ROOT = path.resolve(__dirname, '../..');

/** The settings the schema reads as numbers: those that parse one of a few plain numbers into a number. */
const NUMERIC_SETTINGS = Object.keys(configSchema.shape).filter((key) =>
  ['1', '1000', '60000', '100000'].some((raw) => {
    const parsed = configSchema.safeParse({ [key]: raw });
    return parsed.success && typeof (parsed.data as Record<string, unknown>)[key] === 'number';
  }),
);

/** `npm run config:check` with only this environment: its exit code and what it wrote to stderr. */
async function configCheck(env: Record<string, string>): Promise<{ code: number | undefined; stderr: string }> {
  return promisify(execFile)('npm', ['run', '-s', 'config:check'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? '' }),
  );
}

describe('a numeric setting that is not a number', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-messages-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('finds the numeric settings of the schema', () => {
    expect(NUMERIC_SETTINGS).toEqual(expect.arrayContaining(['PORT', 'DATABASE_POOL_SIZE', 'RATE_LIMIT_PER_S']));
    expect(NUMERIC_SETTINGS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(NUMERIC_SETTINGS)('names %s and the value given, without NaN or zod wording', (key) => {
    const problems = parseEnvironment({ [key]: 'abc' }).problems;
    const whole = key !== 'RATE_LIMIT_PER_S';
    expect(problems).toEqual([`Invalid configuration: ${key}: must be a ${whole ? 'whole ' : ''}number, got 'abc'`]);
  });

  it.each([
    ['DATABASE_POOL_SIZE', '1.5', "must be a whole number, got '1.5'"],
    ['DATABASE_POOL_SIZE', '0', "must be at least 1, got '0'"],
    ['DATABASE_POOL_SIZE', '500', "must be at most 200, got '500'"],
    ['PORT', ' ', "must be a whole number, got ' '"],
    ['RATE_LIMIT_PER_S', '0', "must be above 0, got '0'"],
  ])('says what is wrong with %s=%j and repeats the value', (key, value, message) => {
    expect(parseEnvironment({ [key]: value }).problems).toEqual([`Invalid configuration: ${key}: ${message}`]);
  });

  it('still reads numbers as before', () => {
    expect(configSchema.parse({ DATABASE_POOL_SIZE: '25', RATE_LIMIT_PER_S: '0.5', PORT: ' 8081 ' })).toEqual(
      expect.objectContaining({ DATABASE_POOL_SIZE: 25, RATE_LIMIT_PER_S: 0.5, PORT: 8081 }),
    );
  });

  it('npm run config:check names the variable and the value', async () => {
    const { code, stderr } = await configCheck({ DATA_DIR: dataDir, DATABASE_POOL_SIZE: 'abc', JOB_LOCK_MS: '1.5' });
    expect(code).toBe(1);
    expect(stderr).toContain("Invalid configuration: DATABASE_POOL_SIZE: must be a whole number, got 'abc'\n");
    expect(stderr).toContain("Invalid configuration: JOB_LOCK_MS: must be a whole number, got '1.5'\n");
    expect(stderr).not.toMatch(/NaN|Invalid input|expected (number|int)/);
  });

  it('start-up refuses with the same line', async () => {
    const log = path.join(dataDir, 'start.log');
    const child = spawnProduct({ DATA_DIR: dataDir, DATABASE_POOL_SIZE: 'abc' }, log);
    expect(await exited(child)).toBe(2);
    const { problems } = refusedStartProblems(log);
    expect(problems).toContain("Invalid configuration: DATABASE_POOL_SIZE: must be a whole number, got 'abc'");
    expect(problems.join('\n')).not.toMatch(/NaN/);
  });
});

describe('a misspelt field in a configuration file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-fields-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Copies the shipped configuration and changes `file` with `edit` (written as pretty JSON, line by line known). */
  function misspell(name: string, file: string, edit: (json: Record<string, unknown>) => void): string {
    const configDir = path.join(dir, name);
    fs.cpSync(path.join(ROOT, 'config'), configDir, { recursive: true });
    const full = path.join(configDir, file);
    const json = JSON.parse(fs.readFileSync(full, 'utf8')) as Record<string, unknown>;
    edit(json);
    fs.writeFileSync(full, `${JSON.stringify(json, null, 2)}\n`);
    return configDir;
  }

  /** The 1-based line of the first `"key":` in `file` indented by `indent` spaces (2: a top-level field). */
  function lineOf(file: string, key: string, indent = 2): number {
    const prefix = `${' '.repeat(indent)}"${key}":`;
    return (
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith(prefix)) + 1
    );
  }

  const rename = (o: Record<string, unknown>, from: string, to: string): void => {
    o[to] = o[from];
    delete o[from];
  };

  it('is named with file, line, JSON path and the field meant, by config:check and start-up', async () => {
    const destinationFile = fs.readdirSync(path.join(ROOT, 'config/destinations')).find((f) => f.endsWith('.json'));
    const practiceFile = fs.readdirSync(path.join(ROOT, 'config/practices')).find((f) => f.endsWith('.json'));
    expect(destinationFile && practiceFile).toBeTruthy();
    const configDir = misspell('one', `destinations/${destinationFile}`, (d) => {
      rename(d, 'baseUrl', 'baseURL');
      d.retry = { maxAttempt: 3 };
    });
    const practicePath = path.join(configDir, 'practices', practiceFile!);
    const practice = JSON.parse(fs.readFileSync(practicePath, 'utf8')) as Record<string, unknown>;
    practice.timeoutMS = 5000;
    practice.colour = 'blue';
    fs.writeFileSync(practicePath, `${JSON.stringify(practice, null, 2)}\n`);
    const destination = path.join(configDir, 'destinations', destinationFile!);

    const expected = [
      `${destination}:${lineOf(destination, 'baseURL')}:3 baseURL: unknown field (did you mean baseUrl?)`,
      `${destination}:${lineOf(destination, 'maxAttempt', 4)}:5 retry.maxAttempt: unknown field (did you mean maxAttempts?)`,
      `${practicePath}:${lineOf(practicePath, 'timeoutMS')}:3 timeoutMS: unknown field (did you mean timeoutMs?)`,
      // Nothing near: no guess.
      `${practicePath}:${lineOf(practicePath, 'colour')}:3 colour: unknown field`,
    ];
    const { code, stderr } = await configCheck({ CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data') });
    expect(code).toBe(1);
    const lines = stderr.split('\n');
    for (const line of expected) {
      expect(lines).toContain(line);
    }

    const log = path.join(dir, 'start.log');
    const child = spawnProduct({ CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data') }, log);
    expect(await exited(child)).toBe(2);
    const { problems } = refusedStartProblems(log);
    for (const line of expected) {
      expect(problems).toContain(line);
    }
  });

  it('suggests within an agreement, in a nested object and in one of the auth variants', async () => {
    const agreementFile = fs.readdirSync(path.join(ROOT, 'config/agreements')).find((f) => f.endsWith('.json'));
    const destinationFile = fs.readdirSync(path.join(ROOT, 'config/destinations')).find((f) => f.endsWith('.json'));
    const configDir = misspell('two', `agreements/${agreementFile}`, (a) => {
      rename(a, 'purposes', 'purpose');
      rename(a.municipality as Record<string, unknown>, 'code', 'Code');
    });
    const destinationPath = path.join(configDir, 'destinations', destinationFile!);
    const d = JSON.parse(fs.readFileSync(destinationPath, 'utf8')) as Record<string, unknown>;
    d.auth = { type: 'bearer', tokenENV: 'JB_SOME_TOKEN' };
    fs.writeFileSync(destinationPath, `${JSON.stringify(d, null, 2)}\n`);
    const agreement = path.join(configDir, 'agreements', agreementFile!);
    const { code, stderr } = await configCheck({ CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data') });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^${agreement}:${lineOf(agreement, 'purpose')}:\\d+ purpose: unknown field \\(did you mean purposes\\?\\)$`,
        'm',
      ),
    );
    expect(stderr).toMatch(
      new RegExp(`^${agreement}:\\d+:\\d+ municipality\\.Code: unknown field \\(did you mean code\\?\\)$`, 'm'),
    );
    expect(stderr).toMatch(
      new RegExp(`^${destinationPath}:\\d+:\\d+ auth\\.tokenENV: unknown field \\(did you mean tokenEnv\\?\\)$`, 'm'),
    );
  });
});

describe('a destination file with several mistakes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-destination-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The shipped configuration with its destination changed by `edit`: the problems review finds, and the file. */
  function review(name: string, edit: (d: Record<string, unknown>) => void): { problems: string[]; file: string } {
    const configDir = path.join(dir, name);
    fs.cpSync(path.join(ROOT, 'config'), configDir, { recursive: true });
    const file = path.join(configDir, 'destinations', 'demo-overbetuwe.json');
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(d);
    fs.writeFileSync(file, `${JSON.stringify(d, null, 2)}\n`);
    const { problems } = reviewConfiguration({ CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data') });
    return { problems, file };
  }

  it('lists the adapter typo beside the auth errors, in words, and calls the destination invalid, not missing', () => {
    const { problems, file } = review('typos', (d) => {
      d.adapter = 'webhok';
      d.auth = { type: 'hmac', secretEnvv: 'JB_WEBHOOK_SECRET' };
    });
    const text = problems.join('\n');
    expect(text).toContain("adapter: one of fhir-rest, webhook, isamenleving, not 'webhok' (did you mean webhook?)");
    expect(text).toContain('auth.secretEnv: is required');
    expect(text).toContain('auth.secretEnvv: unknown field (did you mean secretEnv?)');
    expect(text).not.toMatch(/no destination for/);
    expect(text).toMatch(
      new RegExp(`municipality\\.code: the destination for GM0226 \\(${file}\\) is invalid: see its problems`),
    );
    expect(text).not.toMatch(/Invalid input|expected string, received/);
  });

  it('names the auth type given, the allowed ones and the one probably meant, without zod wording', () => {
    const { problems } = review('auth-type', (d) => {
      d.auth = { type: 'hmak', secretEnv: 'JB_WEBHOOK_SECRET' };
    });
    const text = problems.join('\n');
    expect(text).toContain(
      "auth.type: one of none, bearer, oauth2-client-credentials, hmac, not 'hmak' (did you mean hmac?)",
    );
    expect(text).not.toMatch(/Invalid discriminator|Invalid input|Expected '/);
  });
});

describe('TRUST_PROXY that is not a proxy list, a hop count or none', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-trust-proxy-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const listed =
    'must be IP addresses or CIDR ranges (10.0.0.0/8), loopback, linklocal or uniquelocal, comma-separated';

  it.each([
    ['nginx', `${listed}; a hop count; or none, got 'nginx'`],
    [
      '10.0.0.0/8,10.1.0.0/33',
      `${listed}; a hop count; or none ('10.1.0.0/33' is none of these), got '10.0.0.0/8,10.1.0.0/33'`,
    ],
    ['10.0.0.1,', `${listed}; a hop count; or none ('' is none of these), got '10.0.0.1,'`],
    ['0.0.0.0/0', `${listed}; a hop count; or none, got '0.0.0.0/0'`],
    ['0', "a hop count must be at least 1 (none trusts no proxy), got '0'"],
    [
      'true',
      'must name the proxies or a hop count, not every address (any client could choose the address it is audited ' +
        "and throttled by), got 'true'",
    ],
  ])('names TRUST_PROXY and the value %j', (value, message) => {
    expect(parseEnvironment({ TRUST_PROXY: value }).problems).toEqual([
      `Invalid configuration: TRUST_PROXY: ${message}`,
    ]);
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(ConfigError);
  });

  it('reads addresses, ranges, names, hop counts and none', () => {
    const read = (value: string) => loadConfig({ TRUST_PROXY: value }).TRUST_PROXY;
    expect(loadConfig({}).TRUST_PROXY).toEqual({ addresses: ['loopback'] });
    expect(read(' 10.0.0.0/8, fd00::/8 ,Loopback,192.0.2.7')).toEqual({
      addresses: ['10.0.0.0/8', 'fd00::/8', 'loopback', '192.0.2.7'],
    });
    expect(read('2')).toEqual({ hops: 2 });
    expect(read('none')).toBe(false);
    expect(read('FALSE')).toBe(false);
  });

  it('npm run config:check and start-up name it', async () => {
    const { code, stderr } = await configCheck({ DATA_DIR: dataDir, TRUST_PROXY: 'ingress.local' });
    expect(code).toBe(1);
    expect(stderr).toContain(
      `Invalid configuration: TRUST_PROXY: ${listed}; a hop count; or none, got 'ingress.local'\n`,
    );
    const log = path.join(dataDir, 'start-trust-proxy.log');
    const child = spawnProduct({ DATA_DIR: dataDir, TRUST_PROXY: 'ingress.local' }, log);
    expect(await exited(child)).toBe(2);
    expect(refusedStartProblems(log).problems).toContainEqual(
      expect.stringContaining('Invalid configuration: TRUST_PROXY: must be IP addresses or CIDR'),
    );
  });
});
