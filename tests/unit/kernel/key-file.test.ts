import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readOrCreateKeyFile } from '../../../src/kernel/key-file';

const ROOT = path.resolve(__dirname, '../../..');

describe('a key file in DATA_DIR, made by whichever process comes first', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-key-file-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes it readable by its owner only, keeps it, and leaves nothing beside it', () => {
    expect(readOrCreateKeyFile(dir, 'k', () => 'first\n')).toBe('first');
    expect(fs.statSync(path.join(dir, 'k')).mode & 0o777).toBe(0o600);
    expect(readOrCreateKeyFile(dir, 'k', () => 'second\n')).toBe('first');
    expect(fs.readdirSync(dir)).toEqual(['k']);
  });

  // Compose replicas on one volume start together: before, a process could read the file another had created but
  // not yet written, and stop with "no key given" (seen in CI's many-processes test). The "key" here is megabytes, so
  // that writing it takes long enough for the others to look meanwhile: the old write in place failed 2 of 3 runs.
  it('gives processes that start at the same moment the same whole key', async () => {
    const code =
      "const { readOrCreateKeyFile } = require('./src/kernel/key-file');" +
      'const [dir] = process.argv.slice(-1);' +
      'const at = Number(process.env.START_AT); while (Date.now() < at) {}' +
      "process.stdout.write(readOrCreateKeyFile(dir, 'race', () => require('node:crypto').randomBytes(3 << 20).toString('base64') + '\\n'));";
    const startAt = String(Date.now() + 1500);
    const outputs = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, dir], {
              cwd: ROOT,
              env: { ...process.env, START_AT: startAt },
            });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('error', reject);
            child.on('exit', (status) => (status === 0 ? resolve(out) : reject(new Error(`exit ${status}`))));
          }),
      ),
    );
    expect(outputs[0]).toHaveLength(4 << 20);
    expect(new Set(outputs)).toEqual(new Set([outputs[0]]));
    expect(fs.readdirSync(dir)).toEqual(['race']);
  }, 60_000);
});
