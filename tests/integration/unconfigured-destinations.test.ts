import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { stalePendingDeliveries } from '../../src/event/event-store';
import { insertInboxRows } from '../helpers/inbox-rows';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';

const ROOT = path.resolve(__dirname, '../..');

// A destination taken out of CONFIG_DIR (or renamed) while deliveries to it waited: no queue or worker exists for it,
// so they wait for good, and neither start-up, config:check nor /metrics said so (the age metric and the alert on it
// covered configured destinations only).
describe('pending deliveries to a destination no longer configured', () => {
  let app: TestApp;
  let later: TestApp | undefined;

  beforeAll(async () => {
    // Configured: gm0226 only.
    app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
    const db = app.rt.ctx.db;
    const inboxIds = await insertInboxRows(db, 'decided', 4);
    await db.query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, pending_since)
       SELECT gen_random_uuid(), inbox_id, CASE WHEN n = 4 THEN 'gm0226' ELSE 'gm0999' END, gen_random_uuid()::text,
         'pending', now() - interval '2 hours' + n * interval '1 minute'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS x(inbox_id, n)`,
      [inboxIds],
    );
  });

  afterAll(async () => {
    await later?.close();
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  const scrape = async (): Promise<string> => (await fetch(`${app.url}/metrics`)).text();

  it('exports their count and their oldest one’s age, beside the configured destinations’ ages', async () => {
    const text = await scrape();
    expect(text).toMatch(/^jeugdbrug_unconfigured_destination_pending_deliveries\{destination="gm0999"\} 3$/m);
    // Only the destination that is not configured has a series of its own.
    expect(text).not.toMatch(/^jeugdbrug_unconfigured_destination_pending_deliveries\{destination="gm0226"\}/m);
    const age = (destination: string) =>
      Number(
        new RegExp(
          `^jeugdbrug_oldest_pending_delivery_age_seconds\\{destination="${destination}"\\} (\\S+)$`,
          'm',
        ).exec(text)?.[1],
      );
    expect(age('gm0999')).toBeGreaterThanOrEqual(2 * 3600 - 120);
    expect(age('gm0999')).toBeLessThan(3 * 3600);
    expect(age('gm0226')).toBeGreaterThan(0);
  });

  it('leaves them out of what the reconciler looks for, so a backlog of them cannot fill its round', async () => {
    const db = app.rt.ctx.db;
    // Older than the configured destination's delivery, as a removed destination's backlog is.
    await db.query(`UPDATE delivery SET updated_at = now() - interval '1 hour' WHERE destination = 'gm0999'`);
    // A round of two: without the filter the two oldest, both gm0999's, would be all it found.
    const stale = await stalePendingDeliveries(db, 0, ['gm0226'], 2);
    expect(stale.map((d) => d.destination)).toEqual(['gm0226']);
  });

  it('names them in a start-up warning: id and count, nothing else', async () => {
    later = await startTestApp({ testEnv: app.testEnv, receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
    const lines = fs
      .readFileSync(app.testEnv.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'pending deliveries to destinations no longer configured');
    // The rows were stored after the first start-up: only the second one finds them.
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', destinations: [{ id: 'gm0999', pending: 3 }] })]);
  });

  it('names them in config:check, as a warning, when the database answers', async () => {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: app.testEnv.schema,
    };
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '-s', 'config:check'], { cwd: ROOT, env });
    expect(stdout.trim().split('\n').slice(1)).toEqual(['configuration OK']);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^warning: destination gm0999 is not configured \(CONFIG_DIR\/destinations\) but holds 3 pending deliveries, the oldest waiting since \d{4}-\d\d-\d\dT[\d:.]+Z: /,
      ),
    ]);
  });

  it('says in config:check when the database could not be asked', async () => {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none',
    };
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '-s', 'config:check'], { cwd: ROOT, env });
    expect(stdout.trim().split('\n').slice(1)).toEqual(['configuration OK']);
    expect(stderr).toMatch(/^warning: pending deliveries to destinations not configured were not checked: /m);
  });
});
