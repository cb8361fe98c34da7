import fs from 'node:fs';
import { useTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * A hand-edited api-keys.json with a syntax error cannot be read: the keys loaded before stay in force (one typo must
 * not lock every HIS out), which includes a key the edit meant to revoke. So the state is loud: an error line naming
 * the file, `apiKeys: "invalid"` on /health/ready, and jeugdbrug_api_keys_file_invalid 1, until the file is valid.
 */
describe('an API key file that became invalid', () => {
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9' });

  const ready = async () =>
    (await (await fetch(`${app.url}/health/ready`)).json()) as { status: string; apiKeys?: string };
  const invalidMetric = async () =>
    /^jeugdbrug_api_keys_file_invalid (\d)$/m.exec(await (await fetch(`${app.url}/metrics`)).text())?.[1];

  it('is reported on /health/ready, in a metric and in an error line naming the file, until it is fixed', async () => {
    const file = app.testEnv.apiKeysFile;
    const valid = fs.readFileSync(file, 'utf8');
    expect(await invalidMetric()).toBe('0');
    fs.writeFileSync(file, '[{"id":"practice","role":"practice"');
    await waitFor('readiness to report the key file', async () => (await ready()).apiKeys === 'invalid');
    expect((await ready()).status).toBe('degraded');
    expect(await invalidMetric()).toBe('1');
    const errorLine = fs
      .readFileSync(app.testEnv.logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('API key file invalid'));
    expect(JSON.parse(errorLine ?? '{}')).toMatchObject({ level: 'error', file });
    // The keys loaded before are still in force (the documented choice).
    expect((await app.request('/his/v1/events/00000000-0000-4000-8000-000000000000')).status).toBe(404);

    fs.writeFileSync(file, valid);
    await waitFor('readiness to clear', async () => (await ready()).apiKeys === undefined);
    expect((await ready()).status).toBe('ok');
    expect(await invalidMetric()).toBe('0');
  }, 30_000);
});
