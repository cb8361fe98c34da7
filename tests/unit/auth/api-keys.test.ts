import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getStatus } from '@medplum/core';
import { ConfigError } from '../../../src/kernel/config';
import {
  ApiKeyStore,
  createApiKeyEntry,
  generateApiKey,
  hashApiKey,
  keyFingerprint,
  parseApiKeyFile,
  readApiKeyFile,
  revokeApiKeyEntry,
  tryParseApiKeyId,
  writeApiKeyFile,
  type ApiKeyEntry,
} from '../../../src/access/api-keys';
import { invalidApiKey } from '../../../src/access/auth-outcomes';
import { runApiKeyCli } from '../../../src/cli/api-key';
import { createDemoKeysIfMissing } from '../../../src/access/demo-keys';
import { outcomeErrorOf } from './helpers';

const VALID_HASH = `sha256:${'a'.repeat(64)}`;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-api-keys-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('generateApiKey and hashApiKey', () => {
  it('creates keys of the form jb_<id>_<43 base64url characters>, different every time', () => {
    const a = generateApiKey('his-a');
    const b = generateApiKey('his-a');
    expect(a).toMatch(/^jb_his-a_[A-Za-z0-9_-]{43}$/);
    expect(b).toMatch(/^jb_his-a_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
  });

  it('gives a random id when none is asked for', () => {
    expect(tryParseApiKeyId(generateApiKey())).toMatch(/^[0-9a-f]{12}$/);
  });

  it('refuses an id that would make the key ambiguous', () => {
    expect(() => generateApiKey('his_a')).toThrow(ConfigError);
  });

  it('hashes the whole key with SHA-256 as sha256:<hex>', () => {
    // FIPS 180-2 test vector for "abc".
    expect(hashApiKey('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it.each([
    ['a generated key', `jb_his-a_${'A'.repeat(43)}`, 'his-a'],
    ['a secret containing underscores', `jb_x1_${'_'.repeat(43)}`, 'x1'],
    ['a wrong prefix', `xx_his-a_${'A'.repeat(43)}`, undefined],
    ['a short secret', `jb_his-a_${'A'.repeat(42)}`, undefined],
    ['a long secret', `jb_his-a_${'A'.repeat(44)}`, undefined],
    ['an upper-case id', `jb_HIS_${'A'.repeat(43)}`, undefined],
    ['an empty string', '', undefined],
  ])('reads the id from %s', (_name, key, id) => {
    expect(tryParseApiKeyId(key)).toBe(id);
  });
});

describe('ApiKeyStore.verify', () => {
  const practiceKey = generateApiKey('his-a');
  const revokedKey = generateApiKey('old');
  const unknownKey = generateApiKey('nobody');
  const store = new ApiKeyStore([
    { id: 'his-a', role: 'practice', practices: ['01234567'], hash: hashApiKey(practiceKey) },
    { id: 'old', role: 'operator', hash: hashApiKey(revokedKey), disabled: true },
  ]);

  it('returns the principal a valid key grants, without personal data', () => {
    expect(store.verify(practiceKey)).toEqual({
      id: 'api-key:his-a',
      role: 'practice',
      practices: ['01234567'],
      municipalities: [],
      via: 'api-key',
    });
  });

  const last = practiceKey.at(-1) === 'A' ? 'B' : 'A';
  it.each([
    ['an unknown key', unknownKey],
    ['a revoked key', revokedKey],
    ['a tampered key', `${practiceKey.slice(0, -1)}${last}`],
    ['a key with a wrong prefix', `xx_${practiceKey.slice(3)}`],
    ['a known id with another secret', generateApiKey('his-a')],
    ['a truncated key', practiceKey.slice(0, -1)],
    ['an empty string', ''],
  ])('refuses %s with one and the same 401', async (_name, key) => {
    const err = await outcomeErrorOf(() => store.verify(key));
    expect(getStatus(err.outcome)).toBe(401);
    expect(err.outcome).toEqual(invalidApiKey);
  });

  it('still refuses other secrets for a key id after accepting its key, and accepts that key again', async () => {
    const key = generateApiKey('his-b');
    const fresh = new ApiKeyStore([{ id: 'his-b', role: 'operator', hash: hashApiKey(key) }]);
    expect(fresh.verify(key).id).toBe('api-key:his-b');
    const other = key.at(-1) === 'A' ? `${key.slice(0, -1)}B` : `${key.slice(0, -1)}A`;
    expect(getStatus((await outcomeErrorOf(() => fresh.verify(other))).outcome)).toBe(401);
    expect(fresh.verify(key).id).toBe('api-key:his-b');
  });
});

describe('ApiKeyStore.isCurrent (does a console session opened with a key still hold?)', () => {
  const { key, entries } = createApiKeyEntry({ role: 'practice', practices: ['01234567', '07654321'], id: 'his' }, []);
  const entry = entries[0]!;
  const principal = new ApiKeyStore(entries).verify(key);
  const fingerprint = keyFingerprint(hashApiKey(key));

  it('holds for the same key, role and scope (in any order)', () => {
    expect(new ApiKeyStore(entries).isCurrent(principal, fingerprint)).toBe(true);
    const reordered = [{ ...entry, practices: ['07654321', '01234567'] }];
    expect(new ApiKeyStore(reordered).isCurrent(principal, fingerprint)).toBe(true);
  });

  it.each<[string, ApiKeyEntry[], string | undefined]>([
    ['revoked', [{ ...entry, disabled: true }], fingerprint],
    ['removed', [], fingerprint],
    ['narrowed', [{ ...entry, practices: ['07654321'] }], fingerprint],
    ['given another role', [{ ...entry, role: 'auditor', practices: ['01234567', '07654321'] }], fingerprint],
    ['re-issued (a new secret)', [{ ...entry, hash: hashApiKey(generateApiKey('his')) }], fingerprint],
    ['of a session without a fingerprint', entries, undefined],
  ])('does not hold once the key is %s', (_what, now, fp) => {
    expect(new ApiKeyStore(now).isCurrent(principal, fp)).toBe(false);
  });
});

describe('parseApiKeyFile', () => {
  const entry = (overrides: Record<string, unknown>): Record<string, unknown> => ({
    id: 'his-a',
    role: 'practice',
    practices: ['01234567'],
    hash: VALID_HASH,
    ...overrides,
  });

  it('accepts a valid file and keeps every field', () => {
    const value = [
      entry({ created: '2025-01-01T00:00:00.000Z' }),
      { id: 'fg', role: 'auditor', practices: ['*'], municipalities: ['*'], hash: `sha256:${'b'.repeat(64)}` },
      { id: 'gm-overbetuwe', role: 'municipality', municipalities: ['GM1734'], hash: `sha256:${'c'.repeat(64)}` },
    ];
    expect(parseApiKeyFile(value, 'api-keys.json')).toEqual(value);
  });

  it.each([
    ['a file that is not an array', { keys: [] }, 'api-keys.json: expected an array'],
    ['an unknown role', [entry({ role: 'nurse' })], 'api-keys.json: entry 0 (id "his-a"): role: Invalid option'],
    ['a hash in another format', [entry({ hash: 'md5:abc' })], 'entry 0 (id "his-a"): hash: sha256: followed by'],
    ['an upper-case hash', [entry({ hash: `sha256:${'A'.repeat(64)}` })], 'entry 0 (id "his-a"): hash:'],
    ['a missing id', [entry({ id: undefined })], 'api-keys.json: entry 0: id:'],
    ['an id with an underscore', [entry({ id: 'his_a' })], 'entry 0 (id "his_a"): id: lower-case letters'],
    ['an AGB code of 7 digits', [entry({ practices: ['1234567'] })], 'entry 0 (id "his-a"): practices.0: an AGB code'],
    ['a bad municipality code', [entry({ municipalities: ['0226'] })], 'municipalities.0: a CBS municipality code'],
    ['a practice without practices', [entry({ practices: undefined })], 'practices: a practice needs at least one'],
    [
      "a practice with '*'",
      [entry({ practices: ['*'] })],
      "practices: '*' is only allowed for roles auditor, operator",
    ],
    ['a misspelt field', [entry({ practice: ['01234567'] })], 'entry 0 (id "his-a"): Unrecognized key: "practice"'],
    ['disabled as a string', [entry({ disabled: 'yes' })], 'entry 0 (id "his-a"): disabled:'],
    [
      'a duplicate id',
      [entry({}), entry({ hash: `sha256:${'b'.repeat(64)}` })],
      'entry 1 (id "his-a"): id: same as entry 0',
    ],
    ['a duplicate hash', [entry({}), entry({ id: 'his-b' })], 'entry 1 (id "his-b"): hash: same as entry 0'],
    ['a bad second entry', [entry({}), entry({ id: 'his-b', role: 'x' })], 'entry 1 (id "his-b"): role:'],
  ])('names the entry and field for %s', (_name, value, message) => {
    expect(() => parseApiKeyFile(value, 'api-keys.json')).toThrow(ConfigError);
    expect(() => parseApiKeyFile(value, 'api-keys.json')).toThrow(message);
  });
});

describe('api-keys.json on disk', () => {
  it('reads a missing file as no keys', () => {
    expect(readApiKeyFile(path.join(dir, 'absent.json'))).toEqual([]);
  });

  it('names the file when it is not JSON', () => {
    const file = path.join(dir, 'api-keys.json');
    fs.writeFileSync(file, '[{');
    expect(() => readApiKeyFile(file)).toThrow(`${file}: not valid JSON`);
  });

  it('writes entries that read back the same, readable by the owner only', () => {
    const file = path.join(dir, 'sub', 'api-keys.json');
    const entries: ApiKeyEntry[] = [{ id: 'his-a', role: 'practice', practices: ['01234567'], hash: VALID_HASH }];
    writeApiKeyFile(file, entries);
    expect(readApiKeyFile(file)).toEqual(entries);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['api-keys.json']);
  });

  it('refuses to write an invalid file', () => {
    const file = path.join(dir, 'api-keys.json');
    const bad = [{ id: 'his-a', role: 'practice', hash: VALID_HASH }] as ApiKeyEntry[];
    expect(() => writeApiKeyFile(file, bad)).toThrow('practices');
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('createApiKeyEntry and revokeApiKeyEntry', () => {
  it('creates a key whose hash is stored and which the store accepts', () => {
    const now = new Date('2025-03-01T12:00:00.000Z');
    const { key, entry, entries } = createApiKeyEntry(
      { role: 'municipality', municipalities: ['GM0226'], id: 'gm' },
      [],
      now,
    );
    expect(entry).toEqual({
      id: 'gm',
      role: 'municipality',
      municipalities: ['GM0226'],
      hash: hashApiKey(key),
      created: now.toISOString(),
    });
    expect(entries).toEqual([entry]);
    expect(JSON.stringify(entries)).not.toContain(key);
    expect(new ApiKeyStore(entries).verify(key).municipalities).toEqual(['GM0226']);
  });

  it('refuses a second key with the same id', () => {
    const { entries } = createApiKeyEntry({ role: 'operator', id: 'ops' }, []);
    expect(() => createApiKeyEntry({ role: 'operator', id: 'ops' }, entries)).toThrow('id: same as entry 0');
  });

  it('refuses a grant that a practice key may not have', () => {
    expect(() => createApiKeyEntry({ role: 'practice', practices: ['*'] }, [])).toThrow("'*' is only allowed");
  });

  it('disables only the revoked key and keeps it in the file', () => {
    const a = createApiKeyEntry({ role: 'operator', id: 'a' }, []);
    const b = createApiKeyEntry({ role: 'operator', id: 'b' }, a.entries);
    const revoked = revokeApiKeyEntry(b.entries, 'a');
    expect(revoked.map((e) => [e.id, e.disabled])).toEqual([
      ['a', true],
      ['b', undefined],
    ]);
    const store = new ApiKeyStore(revoked);
    expect(() => store.verify(a.key)).toThrow();
    expect(store.verify(b.key).id).toBe('api-key:b');
  });

  it('says so when revoking a key that does not exist', () => {
    expect(() => revokeApiKeyEntry([], 'ghost')).toThrow('No API key with id "ghost"');
  });
});

describe('ApiKeyStore.reload', () => {
  it('picks up a revocation from the file', () => {
    const file = path.join(dir, 'api-keys.json');
    const { key, entries } = createApiKeyEntry({ role: 'operator', id: 'ops' }, []);
    writeApiKeyFile(file, entries);
    const store = ApiKeyStore.fromFile(file);
    expect(store.verify(key).role).toBe('operator');
    writeApiKeyFile(file, revokeApiKeyEntry(entries, 'ops'));
    store.reload();
    expect(() => store.verify(key)).toThrow();
  });

  it('keeps the keys it had when the new file is invalid', () => {
    const file = path.join(dir, 'api-keys.json');
    const { key, entries } = createApiKeyEntry({ role: 'operator', id: 'ops' }, []);
    writeApiKeyFile(file, entries);
    const store = ApiKeyStore.fromFile(file);
    fs.writeFileSync(file, '[{"id": "ops"}]');
    expect(() => store.reload()).toThrow(ConfigError);
    expect(store.verify(key).role).toBe('operator');
  });
});

describe('src/cli/api-key.ts', () => {
  function run(...argv: string[]): { code: number; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const code = runApiKeyCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { DATA_DIR: dir });
    return { code, out, err };
  }

  it('creates a key in $DATA_DIR/api-keys.json (where the server reads them), printing the key once and storing only its hash', () => {
    const created = run(
      'create',
      '--role',
      'practice',
      '--practice',
      '01234567',
      '--practice',
      '12345678',
      '--id',
      'his-a',
    );
    expect(created.code).toBe(0);
    expect(created.out).toHaveLength(1);
    const key = created.out[0]!;
    expect(key).toMatch(/^jb_his-a_/);
    expect(created.err.join('\n')).not.toContain(key);
    const file = path.join(dir, 'api-keys.json');
    expect(fs.readFileSync(file, 'utf8')).not.toContain(key);
    expect(ApiKeyStore.fromFile(file).verify(key)).toMatchObject({
      role: 'practice',
      practices: ['01234567', '12345678'],
    });
  });

  it('says that a created key works, and a revoked one stops, within a few seconds (when the server rereads the file)', () => {
    const created = run('create', '--role', 'practice', '--practice', '01234567', '--id', 'his-soon');
    expect(created.err.join('\n')).toMatch(/active within a few seconds/);
    const revoked = run('revoke', '--id', 'his-soon');
    expect(revoked.err.join('\n')).toMatch(/refused within a few seconds/);
  });

  it('takes a revoked demo key out of demo-keys.txt, so that the README loop reading it does not use it', () => {
    const file = path.join(dir, 'api-keys.json');
    const keysFile = createDemoKeysIfMissing(file)!;
    const keyOf = (role: string) =>
      fs
        .readFileSync(keysFile, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${role} `))
        ?.split(/\s+/)[1];
    const auditorKey = keyOf('auditor');
    const revoked = run('revoke', '--id', 'demo-practice');
    expect(revoked.code).toBe(0);
    expect(keyOf('practice')).toBeUndefined();
    expect(revoked.err.join('\n')).toContain(`Took its line out of ${keysFile}`);
    // The others stay as they were, and the file stays readable by its owner alone.
    expect(keyOf('auditor')).toBe(auditorKey);
    expect(fs.statSync(keysFile).mode & 0o777).toBe(0o600);
    // A key that is not a demo key leaves the file alone and says nothing of it.
    run('create', '--role', 'auditor', '--id', 'aud-x');
    expect(run('revoke', '--id', 'aud-x').err.join('\n')).not.toContain('demo-keys.txt');
  });

  it('names the role and then the scope, each word once', () => {
    const municipality = run('create', '--role', 'municipality', '--municipality', 'GM0202', '--id', 'gm0202');
    expect(municipality.err.join('\n')).toContain('Created API key gm0202 (role municipality; municipalities GM0202)');
    const operator = run('create', '--role', 'operator', '--practice', '01234567', '--municipality', 'GM0226');
    expect(operator.err.join('\n')).toMatch(/\(role operator; practices 01234567; municipalities GM0226\)/);
    expect(run('list').out.join('\n')).toMatch(/^gm0202\trole municipality; municipalities GM0202\t/m);
  });

  it('uses $API_KEYS_FILE before $DATA_DIR', () => {
    const file = path.join(dir, 'from-env.json');
    const out: string[] = [];
    const code = runApiKeyCli(
      ['create', '--role', 'operator', '--id', 'ops'],
      { out: (l) => out.push(l), err: () => {} },
      {
        DATA_DIR: dir,
        API_KEYS_FILE: file,
      },
    );
    expect(code).toBe(0);
    expect(readApiKeyFile(file).map((e) => e.id)).toEqual(['ops']);
    expect(fs.existsSync(path.join(dir, 'api-keys.json'))).toBe(false);
  });

  it('appends to an existing file given with --file', () => {
    const file = path.join(dir, 'elsewhere.json');
    expect(run('create', '--role', 'operator', '--id', 'a', '--file', file).code).toBe(0);
    expect(run('create', '--role', 'auditor', '--practice', '*', '--id', 'b', '--file', file).code).toBe(0);
    expect(readApiKeyFile(file).map((e) => e.id)).toEqual(['a', 'b']);
  });

  it('lists keys without hashes and revokes one', () => {
    const key = run('create', '--role', 'municipality', '--municipality', 'GM0226', '--id', 'gm').out[0]!;
    expect(run('list').out).toEqual([
      expect.stringMatching(/^gm\trole municipality; municipalities GM0226\t\S+\tactive$/),
    ]);
    expect(run('revoke', '--id', 'gm').code).toBe(0);
    const listed = run('list').out;
    expect(listed).toEqual([expect.stringMatching(/\trevoked$/)]);
    expect(listed.join('\n')).not.toContain('sha256');
    expect(() => ApiKeyStore.fromFile(path.join(dir, 'api-keys.json')).verify(key)).toThrow();
  });

  it.each(['auditor', 'operator'])(
    'gives an %s key without --practice or --municipality every practice and municipality, and says so',
    (role) => {
      const created = run('create', '--role', role, '--id', 'all');
      expect(created.code).toBe(0);
      const [entry] = readApiKeyFile(path.join(dir, 'api-keys.json'));
      expect(entry).toMatchObject({ role, practices: ['*'], municipalities: ['*'] });
      expect(created.err.join('\n')).toContain(`(role ${role}; practices *; municipalities *)`);
      expect(created.err.join('\n')).toContain('every practice and municipality');
      // A scope given is kept as given: an auditor of one practice sees no municipality's reads.
      expect(run('create', '--role', role, '--practice', '01234567', '--id', 'one').code).toBe(0);
      const one = readApiKeyFile(path.join(dir, 'api-keys.json')).find((e) => e.id === 'one');
      expect(one?.practices).toEqual(['01234567']);
      expect(one?.municipalities).toBeUndefined();
    },
  );

  it.each([['--help'], ['-h'], ['help']])('prints the usage on stdout for %s, exit 0', (arg) => {
    const result = run(arg);
    expect(result.code).toBe(0);
    expect(result.out.join('\n')).toContain('api-key create --role');
    expect(result.err).toEqual([]);
  });

  it.each([
    ['no command', [], 2, 'usage'],
    ['create without a role', ['create'], 2, '--role is required'],
    ['create with an unknown role', ['create', '--role', 'nurse'], 2, '--role is required'],
    ['an unknown option', ['list', '--verbose'], 2, 'verbose'],
    ['revoke without an id', ['revoke'], 2, '--id is required'],
    ['revoke of an unknown id', ['revoke', '--id', 'ghost'], 1, 'No API key with id "ghost"'],
    ['a practice key without a practice', ['create', '--role', 'practice'], 1, 'a practice needs at least one'],
  ])('fails with a message on %s', (_name, argv, code, message) => {
    const result = run(...argv);
    expect(result.code).toBe(code);
    expect(result.out).toEqual([]);
    expect(result.err.join('\n')).toContain(message);
    expect(fs.existsSync(path.join(dir, 'api-keys.json'))).toBe(false);
  });
});
