import fs from 'node:fs';
import { purgeExpired } from '../../src/event/retention';
import { useTestApp } from '../helpers/test-runtime';

// A purge with nothing due left no trace: an auditor could not tell that retention runs at all, nor by which terms.
describe('each retention run', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  it('logs that it ran, with every retention term, also when nothing was due (no personal data)', async () => {
    await purgeExpired(app.rt.ctx);
    const lines = fs
      .readFileSync(app.testEnv.logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'retention purge done');
    expect(lines.at(-1)).toMatchObject({
      payloadsCleared: 0,
      chains: 0,
      auditRows: 0,
      inboxPayloadRetentionDays: expect.any(Number),
      referralIdentityRetentionDays: expect.any(Number),
      auditRetentionDays: expect.any(Number),
    });
  });
});
