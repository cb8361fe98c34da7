import { createApiKeyEntry, readApiKeyFile, writeApiKeyFile } from '../../src/access/api-keys';
import { PRACTICE_AGB } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

/**
 * An operator key made as the README shows for one practice (`api-key create --role operator --practice <agb>`):
 * a practice scope and no municipality scope. A destination is a municipality's and serves every practice that sends
 * to it, so pausing it is not within a practice's scope.
 */
describe('an operator key scoped to practices only, on destinations', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let practiceOperatorKey = '';

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    const testEnv = createTestEnv();
    const created = createApiKeyEntry(
      { role: 'operator', practices: [PRACTICE_AGB], id: 'ops-practice' },
      readApiKeyFile(testEnv.apiKeysFile),
    );
    writeApiKeyFile(testEnv.apiKeysFile, created.entries);
    practiceOperatorKey = created.key;
    app = await startTestApp({ receiverUrl: receiver.url, testEnv });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const isPaused = async () =>
    (
      (await (await app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' })).json()) as {
        paused: boolean;
      }
    ).paused;

  const refusalsInChain = async () =>
    (
      await app.rt.ctx.db.query<{ outcome: string }>(
        `SELECT outcome FROM audit_event WHERE tenant = 'destination/gm0226'
         AND 'https://jeugdbrug.nl/principal|api-key:ops-practice' = ANY(agents) AND outcome = '4'`,
      )
    ).length;

  it.each(['pause', 'resume'])(
    'answers POST /admin/v1/destinations/{id}/%s with 404 and records it',
    async (action) => {
      const before = await refusalsInChain();
      const res = await fetch(`${app.url}/admin/v1/destinations/gm0226/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${practiceOperatorKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'not mine' }),
      });
      expect(res.status).toBe(404);
      expect(await isPaused()).toBe(false);
      expect(await refusalsInChain()).toBe(before + 1);
    },
  );

  it('lists no destination for it, nor lets the console pause one', async () => {
    const list = await fetch(`${app.url}/admin/v1/destinations`, {
      headers: { authorization: `Bearer ${practiceOperatorKey}` },
    });
    expect(((await list.json()) as { destinations: unknown[] }).destinations).toEqual([]);
    const session = await openConsole(app, { credential: practiceOperatorKey });
    const res = await session.post('/console/operator/destinations/gm0226/pause', { reason: 'not mine' });
    expect(res.status).toBe(404);
    expect(await isPaused()).toBe(false);
  });
});
