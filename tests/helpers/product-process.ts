import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Runs the product as `npm start` does (`node --max-old-space-size=192 --import tsx src/main.ts`): one process, so
 * a signal sent to it, SIGKILL included, reaches the product itself and not a wrapper that would leave it running.
 */
export function spawnProduct(env: Record<string, string>, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  return spawn(process.execPath, ['--max-old-space-size=192', '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', out, out],
  });
}

/** Resolves with the exit code once the process has ended. */
export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Writes agreements and destinations as configuration files, as an operator would. */
export function writeConfigDir(dir: string, files: { agreements: unknown[]; destinations: unknown[] }): void {
  for (const [kind, items] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, kind), { recursive: true });
    items.forEach((item, i) => fs.writeFileSync(path.join(dir, kind, `${i}.json`), JSON.stringify(item, null, 2)));
  }
}

/** A TCP port nothing listens on right now, for a product process whose URL the test must know in advance. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
