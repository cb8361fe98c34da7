import fs from 'node:fs';
import path from 'node:path';
import { configSchema, ConfigError, loadConfig } from '../../src/kernel/config';

describe('configuration', () => {
  it('documents exactly the keys of the zod schema in the README table', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const section = readme.split('## Configuration')[1]?.split('\n## ')[0] ?? '';
    const documented = [...section.matchAll(/^\| `([A-Z_0-9]+)` +\|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(configSchema.shape).sort());
  });

  it('gives sane defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual(
      expect.objectContaining({ ROLE: 'all', PORT: 8080, QUEUE_PREFIX: '{jeugdbrug}', DATABASE_URL: undefined }),
    );
  });

  it.each([
    ['PORT', 'eighty'],
    ['ROLE', 'everything'],
    ['QUEUE_PREFIX', 'jeugdbrug'],
    ['DATABASE_URL', 'mysql://x'],
    ['BODY_LIMIT', 'big'],
  ])('refuses a bad %s and names the key', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [key]: value })).toThrow(new RegExp(`^Invalid configuration: ${key}: `));
  });
});

// report-drill L1: a plain prefix on one Redis server was refused as "a Redis Cluster hash tag", which a reader with
// one server took as not meant for them. It is required everywhere (the same prefix then works on a cluster).
describe('QUEUE_PREFIX', () => {
  it('is refused without a {hash tag} with a message that says so also holds on a single Redis server', () => {
    expect(() => loadConfig({ QUEUE_PREFIX: 'drill' })).toThrow(
      /QUEUE_PREFIX: always a \{hash tag\} such as \{jeugdbrug\}, on a single Redis server too/,
    );
    expect(loadConfig({ QUEUE_PREFIX: '{drill}' }).QUEUE_PREFIX).toBe('{drill}');
  });
});
