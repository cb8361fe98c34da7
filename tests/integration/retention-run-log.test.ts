import fs from 'node:fs';
import { purgeExpired } from '../../src/event/retention';
import { useTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A purge with nothing due left no trace: an auditor could not tell that retention runs at all, nor by which terms.
describe('each retention run', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  it('logs that it ran, with every retention term, also when nothing was due (no personal data)', async () => {
    await purgeExpired(app.rt.ctx);
    // The log file is written asynchronously: the line may land a moment after the run.
    const lines = await waitFor('the retention run logged', () => {
      const done = fs
        .readFileSync(app.testEnv.logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'retention purge done');
      return done.length > 0 ? done : undefined;
    });
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
