import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startOwnRedis } from '../helpers/own-services';
import { exited, freePort } from '../helpers/product-process';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

const ROOT = path.resolve(__dirname, '../..');

describe('npm run demo', () => {
  // On a shared host 9090 may be taken, and an auditor wants to inspect the demo's audit trail afterwards. A Redis of
  // this test's own: without REDIS_URL the demo took the one on 127.0.0.1:6379 (the tests' shared one) whatever
  // TEST_REDIS_URL said, and left its queue keys there for good, under a prefix no test knew.
  it('takes RECEIVER_PORT, PORT, DATABASE_URL and REDIS_URL when given, leaves its audit trail in that database and nothing in Redis', async () => {
    // Listening before the ports are chosen, so that neither is its port.
    const redis = await startOwnRedis();
    const [receiverPort, apiPort] = [await freePort(), await freePort()];
    const schema = `demo_${process.pid}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-demo-'));
    const shipped = fs.readFileSync(path.join(ROOT, 'config/destinations/demo-overbetuwe.json'), 'utf8');
    let output = '';
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          RECEIVER_PORT: String(receiverPort),
          PORT: String(apiPort),
          DATABASE_URL: TEST_DATABASE_URL,
          DATABASE_SCHEMA: schema,
          REDIS_URL: redis.url,
          DATA_DIR: dataDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      expect({ code: await exited(child), output }).toEqual({
        code: 0,
        output: expect.stringContaining('Demo passed.'),
      });
      expect(output).toContain(`http://127.0.0.1:${apiPort}`);
      expect(output).toContain(`stand-in municipality http://127.0.0.1:${receiverPort}/fhir`);
      expect(output).toContain(`Redis ${redis.url}`);
      // Its queues' keys are its own (a prefix it made up), of no use once it ended: gone with it.
      const keys = new Redis(redis.url);
      try {
        expect(await keys.keys('*')).toEqual([]);
      } finally {
        keys.disconnect();
      }
      // The trail stays where it was asked to go, and the shipped config is left as it was.
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${schema}.audit_event WHERE type = '110106'`,
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await client.end();
      }
      expect(fs.existsSync(dataDir)).toBe(true);
      expect(fs.readFileSync(path.join(ROOT, 'config/destinations/demo-overbetuwe.json'), 'utf8')).toBe(shipped);
    } finally {
      await redis.destroy();
      await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
