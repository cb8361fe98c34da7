import fs from 'node:fs';
import path from 'node:path';
import { createApiKeyEntry, tryParseApiKeyId, writeApiKeyFile, type ApiKeyEntry } from './api-keys';
import type { Role } from './principal';

/** The practice and municipality of the shipped example configuration (config/). */
const DEMO_PRACTICE_AGB = '01234567';
const DEMO_MUNICIPALITY = 'GM0226';

/**
 * On the very first start with no API key file, creates one key per role so the embedded default is usable at
 * once. The keys are written, readable only by this user, to `demo-keys.txt` beside the file; only their hashes
 * are kept in the key file. Returns the path of the keys file, or undefined when keys already existed.
 */
export function createDemoKeysIfMissing(apiKeysFile: string): string | undefined {
  if (fs.existsSync(apiKeysFile)) {
    return undefined;
  }
  const grants: { role: Role; id: string; practices?: string[]; municipalities?: string[] }[] = [
    { role: 'practice', id: 'demo-practice', practices: [DEMO_PRACTICE_AGB] },
    { role: 'municipality', id: 'demo-municipality', municipalities: [DEMO_MUNICIPALITY] },
    { role: 'auditor', id: 'demo-auditor', practices: ['*'], municipalities: ['*'] },
    { role: 'operator', id: 'demo-operator', practices: ['*'], municipalities: ['*'] },
  ];
  let entries: ApiKeyEntry[] = [];
  const lines: string[] = [];
  for (const g of grants) {
    const created = createApiKeyEntry(g, entries);
    entries = created.entries;
    lines.push(`${g.role.padEnd(13)} ${created.key}`);
  }
  writeApiKeyFile(apiKeysFile, entries);
  const keysFile = demoKeysFileOf(apiKeysFile);
  fs.writeFileSync(
    keysFile,
    `# Demo API keys, one per role. Send as: Authorization: Bearer <key>\n${lines.join('\n')}\n`,
    {
      mode: 0o600,
    },
  );
  return keysFile;
}

/** The demo keys' file beside the API key file. */
function demoKeysFileOf(apiKeysFile: string): string {
  return path.join(path.dirname(apiKeysFile), 'demo-keys.txt');
}

/**
 * Takes a revoked key's line out of `demo-keys.txt` beside the key file, so that what reads its keys from there (the
 * README's examples) does not go on using it. Returns the file's path when it held the key, else undefined.
 */
export function forgetDemoKey(apiKeysFile: string, id: string): string | undefined {
  const keysFile = demoKeysFileOf(apiKeysFile);
  if (!fs.existsSync(keysFile)) {
    return undefined;
  }
  const lines = fs.readFileSync(keysFile, 'utf8').split('\n');
  const kept = lines.filter((l) => l.startsWith('#') || tryParseApiKeyId(l.trim().split(/\s+/)[1] ?? '') !== id);
  if (kept.length === lines.length) {
    return undefined;
  }
  fs.writeFileSync(keysFile, kept.join('\n'), { mode: 0o600 });
  return keysFile;
}
