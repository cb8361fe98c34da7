import type { Logger } from 'pino';
import { OutageLog } from '../../../src/kernel/outage';
import { logReconcileFailure } from '../../../src/event/reconciler';

describe('logReconcileFailure: a reconcile round that fails', () => {
  /** An OutageLog whose PostgreSQL does not answer, and the messages and levels logged. */
  function setUp() {
    const lines: [string, string][] = [];
    const at = (level: string) => (_fields: unknown, msg: string) => lines.push([level, msg]);
    const log = { error: at('error'), info: at('info'), warn: at('warn') } as unknown as Logger;
    const probes = {
      database: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      redis: () => Promise.resolve(),
    };
    return { ctx: { log, outages: new OutageLog(log, probes, 60_000) }, lines };
  }
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('is part of the PostgreSQL outage, logged once when it starts, not a warning every interval', async () => {
    const { ctx, lines } = setUp();
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    for (let round = 0; round < 3; round++) {
      logReconcileFailure(ctx, refused);
      await settle();
    }
    expect(lines).toEqual([['error', 'dependency outage started']]);
    ctx.outages.close();
  });

  it('is a warning when it is not an outage', () => {
    const { ctx, lines } = setUp();
    logReconcileFailure(ctx, new Error('column "x" does not exist'));
    expect(lines).toEqual([['warn', 'reconcile failed']]);
    ctx.outages.close();
  });
});
