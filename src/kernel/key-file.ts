import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The text of a key file in DATA_DIR, made with `create()` when there is none. Processes sharing one DATA_DIR (the
 * API and the workers of one machine, compose replicas on one volume) start at the same moment: the file appears
 * whole or not at all (written aside, then linked into place, which fails if another process's file came first), so
 * no process reads it half written, and every process ends up with the one that won.
 */
export function readOrCreateKeyFile(dataDir: string, name: string, create: () => string): string {
  const file = path.join(dataDir, name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    const aside = path.join(dataDir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
    fs.writeFileSync(aside, create(), { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(aside, file);
    } catch (err) {
      // Another process of the same data directory created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    } finally {
      fs.rmSync(aside, { force: true });
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
}
