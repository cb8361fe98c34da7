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

  it('never has the file at its name before it is whole: another process may read it at any moment', () => {
    const file = path.join(dir, 'k');
    const writes: { to: string; finalThere: boolean }[] = [];
    const write = fs.writeFileSync;
    const spy = jest.spyOn(fs, 'writeFileSync').mockImplementation((to, ...rest) => {
      // While the key is being written, a process starting now must find no file at all, not a half-written one.
      writes.push({ to: String(to), finalThere: fs.existsSync(file) });
      write(to, ...rest);
    });
    try {
      expect(readOrCreateKeyFile(dir, 'k', () => 'whole\n')).toBe('whole');
    } finally {
      spy.mockRestore();
    }
    expect(writes).toHaveLength(1);
    expect(writes[0]).toEqual({ to: expect.not.stringMatching(/[\\/]k$/), finalThere: false });
  });

  // Compose replicas on one volume start together: before, a process could read the file another had created but
  // not yet written, and stop with "no key given" (seen once in CI's many-processes test). The window is microseconds,
  // so this rarely catches the old write in place; the test above does, every time.
  it('gives processes that start at the same moment the same whole key', async () => {
    // Each process says what it read as its length and digest: a key of megabytes does not belong in a failure message.
    const code =
      "const { readOrCreateKeyFile } = require('./src/kernel/key-file');" +
      "const { createHash, randomBytes } = require('node:crypto');" +
      'const [dir] = process.argv.slice(-1);' +
      'const at = Number(process.env.START_AT); while (Date.now() < at) {}' +
      "const key = readOrCreateKeyFile(dir, 'race', () => randomBytes(3 << 20).toString('base64') + '\\n');" +
      "process.stdout.write(JSON.stringify({ length: key.length, sha: createHash('sha256').update(key).digest('hex') }));";
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
            // 'close', not 'exit': the process may exit before its output has all been read.
            child.on('close', (status) => (status === 0 ? resolve(out) : reject(new Error(`exit ${status}`))));
          }),
      ),
    );
    const read = outputs.map((o) => JSON.parse(o) as { length: number; sha: string });
    expect(read[0]?.length).toBe(4 << 20);
    expect(new Set(read.map((r) => r.sha)).size).toBe(1);
    expect(new Set(read.map((r) => r.length))).toEqual(new Set([4 << 20]));
    expect(fs.readdirSync(dir)).toEqual(['race']);
  }, 60_000);
});
