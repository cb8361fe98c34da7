import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { checkEvictionPolicy } from '../../../src/kernel/redis-memory';

/** A logger that keeps its lines' level and message. */
function capturingLog(): { log: Logger; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void => {
      lines.push({ level, msg: String(args.find((a) => typeof a === 'string')) });
    };
  const log = { info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
  return { log, lines };
}

describe("the start-up check of Redis's maxmemory-policy", () => {
  // A cluster whose slots are not loaded has no master to ask: nothing said the policy is noeviction.
  it('says it could not check the policy when there is no server to ask, not that it is noeviction', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7399 }], { lazyConnect: true });
    try {
      expect(cluster.nodes('master')).toEqual([]);
      const { log, lines } = capturingLog();
      await checkEvictionPolicy(cluster, log);
      expect(lines).toEqual([
        {
          level: 'warn',
          msg: 'could not check the Redis maxmemory-policy (CONFIG GET and INFO refused): make sure it is noeviction',
        },
      ]);
    } finally {
      cluster.disconnect();
    }
  });
});
