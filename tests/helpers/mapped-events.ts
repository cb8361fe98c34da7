import pg from 'pg';
import type { Registry } from '../../src/event/registry';
import { TERMINAL_STATES } from '../../src/event/states';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from './test-runtime';
import { waitFor } from './wait-for';

/** The product started in-process, with a client on its schema to read what the map stage wrote. */
export interface AppWithClient {
  readonly app: TestApp;
  readonly client: pg.Client;
}

/** Starts the product with `registry` and connects a client to its schema. */
export async function startAppWithClient(registry: Registry): Promise<AppWithClient> {
  const app = await startTestApp({ registry });
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`SET search_path TO ${app.testEnv.schema}`);
  return { app, client };
}

/** Closes what `startAppWithClient` started (either may be missing when it failed half-way). */
export async function stopAppWithClient(started: Partial<AppWithClient> | undefined): Promise<void> {
  await started?.client?.end();
  await started?.app?.close();
  if (started?.app) {
    await cleanupTestEnv(started.app.testEnv);
  }
}

/** Sends events as `key` to the HIS API and waits until each has finished the map stage; answers their inbox ids. */
export async function sendMapped(
  { app, client }: AppWithClient,
  key: 'practice' | 'otherPractice',
  events: Record<string, unknown>[],
): Promise<string[]> {
  const res = await app.request('/his/v1/events', { key, json: events });
  const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
  await waitFor('events mapped', async () => {
    const done = await client.query(`SELECT count(*) AS n FROM inbox WHERE id = ANY($1) AND state = ANY($2)`, [
      ids,
      [...TERMINAL_STATES],
    ]);
    return Number(done.rows[0]?.n) === ids.length ? true : undefined;
  });
  return ids;
}
