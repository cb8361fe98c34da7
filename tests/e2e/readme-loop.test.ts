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

/**
 * Every other example in the README, in the order it appears, as one bash script: the `sh` blocks outside the loop
 * (not the first, which installs and starts the product) and any inline `curl …` and `X=$(awk …)` span. The README
 * writes them against `npm start`'s address and the checkout's `data/`; the address is the only thing moved. curl fails on an HTTP error answer, and the first failing command
 * ends the script naming itself.
 */
function readmeExamples(apiUrl: string): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const withoutLoop = readme.replace(/<!-- readme-loop:start -->[\s\S]*?<!-- readme-loop:end -->/, '');
  const examples: string[] = [];
  const example = /^( *)```sh\n([\s\S]*?)^ *```|`((?:curl |[A-Z]+=\$\(awk )[^`]*)`/gm;
  for (const m of withoutLoop.matchAll(example)) {
    const text = m[2] === undefined ? m[3]! : m[2].replace(new RegExp(`^${m[1]}`, 'gm'), '');
    if (!text.includes('npm ci')) {
      examples.push(text.trim());
    }
  }
  const prelude = [
    'set -eo pipefail',
    `trap 'echo "README example failed: $BASH_COMMAND" >&2' ERR`,
    'curl() { command curl --fail-with-body "$@"; }',
  ];
  return [...prelude, ...examples].join('\n').replaceAll('http://127.0.0.1:8080', apiUrl) + '\n';
}

describe('the README’s examples, run as written against npm start and npm run receiver', () => {
  let testEnv: ReturnType<typeof createTestEnv>;
  let product: ChildProcess;
  let receiver: ChildProcess;
  let receiverLog: number;
  let apiPort: number;
  let receiverPort: number;

  beforeAll(async () => {
    testEnv = createTestEnv();
    [apiPort, receiverPort] = [await freePort(), await freePort()];
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
    product = spawnProduct(
      { ...env, PORT: String(apiPort), CONFIG_DIR: configDir, LOG_LEVEL: 'warn', DELIVERY_BACKOFF_BASE_MS: '500' },
      testEnv.logFile,
    );
    receiverLog = fs.openSync(path.join(testEnv.dataDir, 'receiver.log'), 'a');
    receiver = spawn(process.execPath, ['--import', 'tsx', 'src/cli/stand-in-receiver.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, RECEIVER_PORT: String(receiverPort) },
      stdio: ['ignore', receiverLog, receiverLog],
    });
    await waitForReady(`http://127.0.0.1:${apiPort}`, product, testEnv.logFile, 60_000);
    await waitFor(
      'the receiver to listen',
      async () => (await fetch(`http://127.0.0.1:${receiverPort}/received`).catch(() => undefined))?.ok,
      30_000,
    );
  }, 120_000);

  afterAll(async () => {
    product.kill('SIGTERM');
    receiver.kill('SIGTERM');
    await Promise.all([exited(product), exited(receiver)]);
    fs.closeSync(receiverLog);
    await cleanupTestEnv(testEnv);
  });

  it('the loop ends in delivered and a status round trip with the practice’s timeline', async () => {
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
    // The municipality's own list of what it received, with the status its decision gives the referral.
    expect(stdout).toContain('[["r-1","active"]]');
    expect(stdout).toContain('["accepted","decision-issued"]');
    expect(stdout).toContain('{"referralToAccepted":3,"acceptedToDecision":8,"referralToDecision":11}');
    // The reverse direction: the municipality-registered trajectory opened and finished at the practice's HIS.
    expect(stdout).toContain('"permit"\n"permit"');
    expect(stdout).toContain(
      '[["active",{"start":"2026-11-24"},null],["finished",{"start":"2026-11-24","end":"2026-12-01"},"escalated"]]',
    );
  }, 240_000);

  it('every other example answers without an error, each with what the README says it gives', async () => {
    // The README runs in the checkout, whose `data/` is npm start's DATA_DIR: here a checkout of links whose `data`
    // is the test's data dir.
    const cwd = fs.mkdtempSync(path.join(testEnv.dataDir, 'readme-'));
    for (const entry of fs.readdirSync(ROOT).filter((e) => e !== 'data')) {
      fs.symlinkSync(path.join(ROOT, entry), path.join(cwd, entry));
    }
    fs.symlinkSync(testEnv.dataDir, path.join(cwd, 'data'));
    const { stdout } = await promisify(execFile)('bash', ['-c', readmeExamples(`http://127.0.0.1:${apiPort}`)], {
      cwd,
      env: { PATH: process.env.PATH, DATA_DIR: testEnv.dataDir, API_KEYS_FILE: testEnv.apiKeysFile },
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // The demo keys, the consents searchset, the dead-letter list, the redelivery, the report as FHIR and CSV, the
    // Measure, the push.
    expect(stdout).toMatch(/^practice\s+\S+/m);
    expect(stdout).toContain('"resourceType":"Bundle"');
    expect(stdout).toContain('"type":"searchset"');
    expect(stdout).toContain('"resourceType":"MeasureReport"');
    expect(stdout).toContain('period_start,period_end,municipality,group,stratifier,code,display,count,withheld');
    expect(stdout).toContain('"resourceType":"Measure"');
    expect(stdout).toContain('"destination":"gm0226"');
    // The redelivery after a municipality's restore: the loop's referral delivered to the stand-in, sent again.
    expect(stdout).toMatch(/"redelivered":\["[0-9a-f-]{36}"/);
    expect(fs.readFileSync(path.join(cwd, 'outcome.svg'), 'utf8')).toContain('<svg');
  }, 240_000);
});
