import fs from 'node:fs';
import { buildRegistry } from '../../src/event/registry';
import { deliverQueueName } from '../../src/event/queues';
import { queuePrefix } from '../../src/kernel/redis-client';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { LocalRedisCluster } from '../helpers/redis-cluster';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The whole pipeline on a real Redis Cluster (3 primaries, 3 replicas, our own redis-server processes), configured
 * with REDIS_CLUSTER_NODES only, and a hash tag per queue so the queues sit on different primaries. Then the
 * primary holding the deliver queue is killed outright while events are in flight.
 */
describe('on a Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: LocalRedisCluster;
  let municipality: DeliveryReceiver;
  let practiceHis: DeliveryReceiver;
  let app: TestApp;
  const testEnv = createTestEnv();
  const submitted: string[] = [];
  /**
   * The failover case has failed only inside the full suite, never alone, by running into Jest's timeout. So that
   * the next such run says where it stood, each step is noted, and a failed run prints the step and the app's log.
   */
  const steps: string[] = [];
  let failoverPassed = false;
  const step = (what: string) => steps.push(`${new Date().toISOString().slice(11, 23)} ${what}`);

  beforeAll(async () => {
    cluster = await LocalRedisCluster.start(3, 1);
    // A prefix whose map and deliver tags hash to slots on different primaries, so a failover of the deliver
    // queue's primary leaves the map queue running (and the test shows the tags really spread the queues).
    let prefix = testEnv.prefix;
    for (let i = 0; ; i++) {
      const map = await cluster.primaryFor(`${queuePrefix(prefix, 'map', true)}:x`);
      const deliver = await cluster.primaryFor(`${queuePrefix(prefix, deliverQueueName('gm0226'), true)}:x`);
      if (map.port !== deliver.port) {
        break;
      }
      prefix = `{${testEnv.prefix.slice(1, -1)}${i}}`;
    }
    municipality = await new DeliveryReceiver().start();
    practiceHis = await new DeliveryReceiver().start();
    app = await startTestApp({
      testEnv,
      env: {
        REDIS_URL: '',
        REDIS_CLUSTER_NODES: cluster.seeds,
        QUEUE_TAG_PER_QUEUE: 'true',
        QUEUE_PREFIX: prefix,
        // Jobs whose completion was lost in the failover come back through the stall check, events whose job was
        // lost through the reconciler; both often enough for the test to see them within seconds.
        JOB_LOCK_MS: '5000',
        RECONCILE_INTERVAL_MS: '2000',
      },
      registry: buildRegistry({
        agreements: [buildAgreement()],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceHis.url('/his/fhir') }],
      }),
    });
  }, 120_000);

  afterAll(async () => {
    if (!failoverPassed && steps.length > 0) {
      const log = fs.existsSync(testEnv.logFile) ? fs.readFileSync(testEnv.logFile, 'utf8').split('\n') : [];
      process.stderr.write(
        `redis-cluster failover: steps reached\n${steps.join('\n')}\nlast log lines:\n${log.slice(-80).join('\n')}\n`,
      );
    }
    try {
      // Bounded: the cluster is stopped below whatever state the app's Redis client is in.
      await Promise.race([app?.close(), new Promise((r) => setTimeout(r, 30_000).unref())]);
    } finally {
      await Promise.all([municipality?.stop(), practiceHis?.stop()]);
      await cluster?.stop();
      await cleanupTestEnv(testEnv);
    }
  }, 90_000);

  async function submit(count: number): Promise<string[]> {
    const res = await app.request('/his/v1/events', {
      json: Array.from({ length: count }, () => buildReferralEvent()),
    });
    expect(res.status).toBe(202);
    const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    submitted.push(...ids);
    return ids;
  }

  const states = async (ids: readonly string[]) =>
    app.rt.ctx.db.query<{ id: string; state: string; idempotency_key: string | null; delivery_id: string | null }>(
      `SELECT i.id, i.state, d.idempotency_key, d.id AS delivery_id
         FROM inbox i LEFT JOIN delivery d ON d.inbox_id = i.id WHERE i.id = ANY($1::uuid[])`,
      [ids],
    );

  /** Waits for every event to reach `state`; on a timeout the error says where the events and the jobs stood. */
  const allReach = async (ids: readonly string[], state: string, timeoutMs = 60_000) => {
    try {
      return await waitFor(
        `${ids.length} events to be ${state}`,
        async () => {
          const rows = await states(ids);
          return rows.length === ids.length && rows.every((r) => r.state === state) ? rows : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (err) {
      const byState = new Map<string, number>();
      (await states(ids)).forEach((r) => byState.set(r.state, (byState.get(r.state) ?? 0) + 1));
      const jobs = await Promise.race([
        app.rt.ctx.queues.depths(),
        new Promise((r) => setTimeout(() => r('queues did not answer'), 5000).unref()),
      ]);
      throw new Error(
        `${(err as Error).message}; events by state ${JSON.stringify([...byState])}; jobs ${JSON.stringify(jobs)}`,
        { cause: err },
      );
    }
  };

  it('delivers referrals, carries feedback back to the practice, and replays a dead letter', async () => {
    const ids = await submit(10);
    const rows = await allReach(ids, 'delivered');
    for (const r of rows) {
      expect(municipality.stored.has(r.idempotency_key ?? '')).toBe(true);
    }

    const status = await app.request(`/municipality/v1/referrals/${ids[0]}/status`, {
      key: 'municipality',
      json: { status: 'accepted' },
    });
    expect(status.status).toBe(202);
    const feedbackId = ((await status.json()) as { id: string }).id;
    await waitFor('the status update to reach the practice', () => practiceHis.stored.get(`fb-${feedbackId}`));

    municipality.script = [{ kind: 'status', status: 422 }];
    const [deadId] = await submit(1);
    await allReach([deadId!], 'dead');
    const [row] = await states([deadId!]);
    const replay = await app.request(`/admin/v1/dead-letters/${row!.delivery_id}/replay`, {
      key: 'operator',
      method: 'POST',
    });
    expect(replay.status).toBe(202);
    await allReach([deadId!], 'delivered');
    expect(municipality.stored.has(row!.idempotency_key ?? '')).toBe(true);
  }, 120_000);

  it('keeps each queue under its own hash tag, on different primaries', async () => {
    const queues = app.rt.ctx.queues;
    const holders = async (queue: string) =>
      (await cluster.primaryFor(`${queues.prefixFor(queue)}:${queue}:meta`)).port;
    const mapPrimary = await holders('map');
    const deliverPrimary = await holders(deliverQueueName('gm0226'));
    expect(mapPrimary).not.toBe(deliverPrimary);
    const replicaPorts = async (primary: number) => {
      const t = await cluster.topology();
      const id = t.find((n) => n.port === primary)?.id;
      return t.filter((n) => n.primaryId === id).map((n) => n.port);
    };
    // The keys themselves, node by node: on the queue's primary, elsewhere at most on its replica (which may lag).
    const deliverQueue = deliverQueueName('gm0226');
    for (const [pattern, primary] of [
      [`${queues.prefixFor('map')}:map:*`, mapPrimary],
      [`${queues.prefixFor(deliverQueue)}:${deliverQueue}:*`, deliverPrimary],
    ] as const) {
      const holders = await cluster.nodesHolding(pattern);
      expect(holders).toContain(primary);
      const allowed = [primary, ...(await replicaPorts(primary))];
      expect(holders.filter((port) => !allowed.includes(port))).toEqual([]);
    }
    expect(app.rt.redisUrl).toMatch(/^redis-cluster:\/\/127\.0\.0\.1:\d+/);
  });

  it('survives the deliver queue’s primary being killed: every event delivered, each idempotency key stored once', async () => {
    const queues = app.rt.ctx.queues;
    const deliverQueue = deliverQueueName('gm0226');
    const victim = await cluster.primaryFor(`${queues.prefixFor(deliverQueue)}:${deliverQueue}:wait`);
    const before = await cluster.topology();
    const victimId = before.find((t) => t.port === victim.port)!.id;
    const victimReplicas = before.filter((t) => t.primaryId === victimId).map((t) => t.port);
    expect(victimReplicas).toHaveLength(1);

    // Slow answers keep deliveries in flight when the primary goes.
    municipality.mode = { kind: 'slow', delayMs: 200 };
    step('submit first 30');
    const first = await submit(30);
    step('wait for deliveries under way');
    await waitFor('deliveries to be under way', () => municipality.deliveries.length >= 3, 60_000);
    step(`kill :${victim.port}`);
    await cluster.kill(victim);
    municipality.mode = { kind: 'ok' };
    // Events keep coming while the cluster elects a new primary; PostgreSQL takes them even if Redis cannot.
    step('submit 20 during failover');
    const during = await submit(20);

    step('wait for failover');
    await cluster.waitForFailover(victim, 3);
    const topology = await cluster.topology();
    expect(topology.find((t) => t.port === victim.port)?.flags).toContain('fail');
    // The victim's replica took over its slots: the deliver queue has a new primary.
    const replacement = await cluster.primaryFor(`${queues.prefixFor(deliverQueue)}:${deliverQueue}:wait`);
    expect(replacement.port).not.toBe(victim.port);
    expect(victimReplicas).toContain(replacement.port);

    step('submit 10 after failover');
    const after = await submit(10);
    step('wait for all 60 delivered');
    const rows = await allReach([...first, ...during, ...after], 'delivered', 120_000);
    const keys = rows.map((r) => r.idempotency_key ?? '');
    expect(new Set(keys).size).toBe(60);
    for (const key of keys) {
      expect(municipality.stored.has(key)).toBe(true);
    }
    // Every key the municipality holds belongs to an event we sent. A key may arrive more than once (a job whose
    // completion was lost in the failover, or whose lock lapsed on a busy machine, runs again), always under the
    // same key, so the municipality stores each event once.
    const all = await states(submitted);
    const ours = new Set(all.map((r) => r.idempotency_key));
    expect(municipality.deliveries.map((h) => h.idempotencyKey).filter((k) => !ours.has(k))).toEqual([]);
    expect(municipality.stored.size).toBe(new Set(municipality.deliveries.map((h) => h.idempotencyKey)).size);
    failoverPassed = true;
  }, 240_000);
});
