import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { exited, freePort, spawnProduct, waitForReady } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const ROOT = path.resolve(__dirname, '../..');

/** The README's loop example, exactly as written between its markers. */
function readmeLoop(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- readme-loop:start -->\s*```sh\n([\s\S]*?)```\s*<!-- readme-loop:end -->/.exec(readme)?.[1];
  if (!block) {
    throw new Error('README has no readme-loop block');
  }
  return block;
}

describe('the README’s loop example, run as written against npm start and npm run receiver', () => {
  it('ends in delivered and a status round trip with the practice’s timeline', async () => {
    const testEnv = createTestEnv();
    const [apiPort, receiverPort] = [await freePort(), await freePort()];
    // The shipped config/, with the stand-in's port moved so this test can run beside anything on 9090.
    const configDir = path.join(testEnv.dataDir, 'config');
    fs.cpSync(path.join(ROOT, 'config'), configDir, { recursive: true });
    for (const kind of ['destinations', 'practices']) {
      for (const f of fs.readdirSync(path.join(configDir, kind))) {
        const file = path.join(configDir, kind, f);
        fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll('127.0.0.1:9090', `127.0.0.1:${receiverPort}`));
      }
    }
    // No key file of the test's own: on its first start the product writes demo-keys.txt, which the README reads.
    fs.rmSync(testEnv.apiKeysFile);
    const env = Object.fromEntries(
      Object.entries(testEnv.env).filter(([k]) => k !== 'API_KEYS_FILE' && k !== 'DEMO_KEYS'),
    );
    const product = spawnProduct(
      { ...env, PORT: String(apiPort), CONFIG_DIR: configDir, LOG_LEVEL: 'warn', DELIVERY_BACKOFF_BASE_MS: '500' },
      testEnv.logFile,
    );
    const receiverLog = fs.openSync(path.join(testEnv.dataDir, 'receiver.log'), 'a');
    const receiver: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/stand-in-receiver.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, RECEIVER_PORT: String(receiverPort) },
      stdio: ['ignore', receiverLog, receiverLog],
    });
    try {
      await waitForReady(`http://127.0.0.1:${apiPort}`, product, testEnv.logFile, 60_000);
      await waitFor(
        'the receiver to listen',
        async () => (await fetch(`http://127.0.0.1:${receiverPort}/received`).catch(() => undefined))?.ok,
        30_000,
      );
      const { stdout } = await promisify(execFile)('bash', ['-c', readmeLoop()], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          JB: `http://127.0.0.1:${apiPort}`,
          RECEIVER: `http://127.0.0.1:${receiverPort}`,
          DATA_DIR: testEnv.dataDir,
        },
        timeout: 120_000,
      });
      expect(stdout).toContain('state: "delivered"');
      expect(stdout).toContain('{"system":"urn:agb:01234567:referral","value":"r-1"}');
      expect(stdout).toContain('"current":"decision-issued"');
      expect(stdout).toContain('["accepted","decision-issued"]');
      expect(stdout).toContain('{"referralToAccepted":3,"acceptedToDecision":8,"referralToDecision":11}');
      // The reverse direction: the municipality-registered trajectory opened and finished at the practice's HIS.
      expect(stdout).toContain('"permit"\n"permit"');
      expect(stdout).toContain(
        '[["active",{"start":"2026-11-24"},null],["finished",{"start":"2026-11-24","end":"2026-12-01"},"escalated"]]',
      );
    } finally {
      product.kill('SIGTERM');
      receiver.kill('SIGTERM');
      await Promise.all([exited(product), exited(receiver)]);
      fs.closeSync(receiverLog);
      await cleanupTestEnv(testEnv);
    }
  }, 240_000);
});
