import fs from 'node:fs';
import { buildDestination, buildReferralEvent } from '../helpers/builders';
import { startOwnRedis, type OwnRedis } from '../helpers/own-services';
import { waitFor } from '../helpers/wait-for';
import { useDeliveryApp } from '../unit/delivery/support/adapter-contract';

type LogLine = Record<string, unknown>;

/**
 * A delivery in flight while Redis restarts without its data: BullMQ finds its job's lock gone when it renews it
 * ("could not renew lock for job …") and its key gone when it ends ("Missing key for job …"). That is the outage's consequence (the delivery is recorded in PostgreSQL and sent
 * once), so it is logged at warn, not as a "worker error" at error, which README keeps for what is not an outage.
 */
describe('a job a Redis outage interrupted', () => {
  let redis: OwnRedis;
  // Filled in before the app starts (the hooks run in the order they are declared).
  const env: Record<string, string> = {};
  beforeAll(async () => {
    redis = await startOwnRedis();
    env.REDIS_URL = redis.url;
  });
  const h = useDeliveryApp({
    env,
    destination: (r) => buildDestination(r.url('/fhir'), { timeoutMs: 8000 }),
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  const log = (): LogLine[] =>
    fs
      .readFileSync(h.app.testEnv.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);

  it('is logged at warn as the outage’s consequence, and the delivery still arrives once', async () => {
    h.receiver.mode = { kind: 'slow', delayMs: 4000 };
    const before = log().length;
    const id = await h.submit(buildReferralEvent());
    await waitFor('the delivery to reach the receiver', () => h.receiver.deliveries.length > 0);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();
    const lines = await waitFor(
      'the interrupted job in the log',
      () => {
        const all = log().slice(before);
        return all.some((l) => typeof l.reason === 'string' && /^Missing (key|lock) for job/.test(l.reason))
          ? all
          : undefined;
      },
      30_000,
    );
    expect(lines.filter((l) => l.msg === 'worker error')).toEqual([]);
    // report-drill L3: the job had often finished (its delivery recorded, sent once) when Redis lost its key, so
    // the line no longer says a job was interrupted.
    expect(lines.filter((l) => l.msg === 'job interrupted by a Redis outage')).toEqual([]);
    const interrupted = lines.filter(
      (l) => l.msg === "Redis lost a job's key or lock in an outage; its outcome is in PostgreSQL",
    );
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    expect(interrupted.every((l) => l.level === 'warn')).toBe(true);
    await h.reachesState(id, 'delivered', 30_000);
    expect(h.receiver.hitsFor((await h.delivery(id)).idempotency_key)).toHaveLength(1);
  }, 60_000);
});
