import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import packageJson from '../../package.json';
import { exited, freePort, refusedStartProblems, spawnProduct, waitForReady } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv, deleteQueueKeys, dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';
import { trackQueuePrefix } from '../helpers/queue-prefixes';
import { waitFor } from '../helpers/wait-for';

/** The longest a start-up may take, refused or ready (a cap, not an expectation; see below). */
const STARTUP_BOUND_MS = 240_000;

describe('npm start', () => {
  const cases: [string, Record<string, string>][] = [
    ['embedded PGlite storage when DATABASE_URL is unset', {}],
    [
      'PostgreSQL when DATABASE_URL is set',
      { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: `startup_${process.pid}` },
    ],
  ];

  // Time to ready is measured by `npm run bench` (startup.ready_s), not asserted here: CI machines are noisy. The
  // bounds are for a machine at load 20, where a start with PGlite took more than 90 s: they only cap a wait.
  it.each(cases)(
    'becomes ready with %s, serves a demo key, and stops cleanly on SIGTERM',
    async (_name, extra) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-start-'));
      const port = await freePort();
      const prefix = `{start-${process.pid}-${port}}`;
      const child = spawnProduct(
        {
          PORT: String(port),
          DATA_DIR: dataDir,
          QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'info',
          // A misspelt setting is ignored, and said so in the log.
          QUEUE_PREFX: 'typo',
          ...extra,
        },
        path.join(dataDir, 'out.log'),
      );
      try {
        await waitForReady(`http://127.0.0.1:${port}`, child, path.join(dataDir, 'out.log'), STARTUP_BOUND_MS);
        const warning = fs
          .readFileSync(path.join(dataDir, 'out.log'), 'utf8')
          .split('\n')
          .find((l) => l.includes('"configuration warning"'));
        expect(warning).toContain('environment QUEUE_PREFX: not a setting, ignored (did you mean QUEUE_PREFIX?)');
        // First start creates one demo key per role; the practice key works.
        const keys = fs.readFileSync(path.join(dataDir, 'demo-keys.txt'), 'utf8');
        const practiceKey = /^practice\s+(\S+)$/m.exec(keys)?.[1];
        expect(practiceKey).toMatch(/^jb_/);
        const res = await fetch(`http://127.0.0.1:${port}/his/v1/events/00000000-0000-4000-8000-000000000000`, {
          headers: { authorization: `Bearer ${practiceKey}` },
        });
        expect(res.status).toBe(404);
        child.kill('SIGTERM');
        expect(await exited(child)).toBe(0);
      } finally {
        child.kill('SIGKILL');
        await deleteQueueKeys(prefix);
        fs.rmSync(dataDir, { recursive: true, force: true });
        if (extra.DATABASE_SCHEMA) {
          await dropSchema(extra.DATABASE_SCHEMA);
        }
      }
    },
    STARTUP_BOUND_MS + 60_000,
  );

  // A supervisor (systemd, supervisord) signals the process it started: `npm`. The product must hear it, not be
  // left running behind a shell that npm's signal ended.
  it(
    'stops cleanly when npm itself, as a supervisor starts it, gets SIGTERM',
    async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-start-'));
      const log = path.join(dataDir, 'out.log');
      const port = await freePort();
      const prefix = `{npm-start-${process.pid}-${port}}`;
      trackQueuePrefix(prefix);
      const out = fs.openSync(log, 'a');
      const npm = spawn('npm', ['start'], {
        cwd: path.resolve(__dirname, '../..'),
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PORT: String(port),
          DATA_DIR: dataDir,
          QUEUE_PREFIX: prefix,
        },
        stdio: ['ignore', out, out],
      });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForReady(url, npm, log, STARTUP_BOUND_MS);
        npm.kill('SIGTERM');
        await exited(npm);
        await waitFor('the product to stop listening', () =>
          fetch(`${url}/health/live`).then(
            () => false,
            () => true,
          ),
        );
        expect(fs.readFileSync(log, 'utf8')).toMatch(/"msg":"stopped"/);
      } finally {
        npm.kill('SIGKILL');
        await deleteQueueKeys(prefix);
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
    STARTUP_BOUND_MS + 60_000,
  );

  it.each([
    ['the API', 'PORT', { ROLE: 'api' }],
    ['a worker', 'METRICS_PORT', { ROLE: 'worker' }],
  ])(
    'exits 1 with a JSON log line naming the port and %s’s setting when that port is taken',
    async (_who, setting, role) => {
      const testEnv = createTestEnv();
      const port = await freePort();
      const taken = net.createServer();
      await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
      try {
        const child = spawnProduct({ ...testEnv.env, ...role, [setting]: String(port) }, testEnv.logFile);
        expect(await exited(child)).toBe(1);
        const output = fs.readFileSync(testEnv.logFile, 'utf8');
        // Log pipelines read one JSON object per line: no raw stack trace around them.
        expect(output).not.toMatch(/^\s+at /m);
        const lines = output
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(lines.filter((l) => l.setting !== undefined)).toEqual([
          expect.objectContaining({ level: 'fatal', setting, port, host: '127.0.0.1', error: 'EADDRINUSE' }),
        ]);
      } finally {
        taken.close();
        await cleanupTestEnv(testEnv);
      }
    },
    STARTUP_BOUND_MS,
  );

  it(
    'exits 2 with one JSON fatal line naming a bad configuration key, and the build',
    async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-start-'));
      const log = path.join(dataDir, 'out.log');
      const commit = 'c0ffee0123456789c0ffee0123456789c0ffee01';
      const child = spawnProduct({ PORT: 'not-a-port', DATA_DIR: dataDir, JEUGDBRUG_BUILD_COMMIT: commit }, log);
      expect(await exited(child)).toBe(2);
      const { problems, fatal } = refusedStartProblems(log);
      fs.rmSync(dataDir, { recursive: true, force: true });
      expect(problems).toEqual([expect.stringMatching(/^Invalid configuration: PORT: /)]);
      // The build, as the `starting` line of a start-up that gets further says it: a crash-looping rollout's log shows
      // which release refused.
      expect(fatal).toEqual(
        expect.objectContaining({
          msg: 'configuration invalid',
          service: 'jeugdbrug',
          version: packageJson.version,
          commit,
          node: process.version,
        }),
      );
    },
    STARTUP_BOUND_MS,
  );
});
