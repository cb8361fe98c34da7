import type { Job } from 'bullmq';
import Redis from 'ioredis';
import pg from 'pg';
import { processDeliverJob } from '../../src/event/deliver';
import { processMapJob } from '../../src/event/map';
import { deliverQueueName, type DeliverJobData } from '../../src/event/queues';
import { buildRegistry } from '../../src/event/registry';
import {
  buildAgreement,
  buildConsentEvent,
  buildDestination,
  buildReferralEvent,
  buildWithdrawalEvent,
} from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A consent and a denial for lack of it, at the same moment, each must see the other (src/event/redecide.ts). The
// interleaving is forced, not timed: the map stage is called directly (ROLE=api: no worker takes the jobs), and a
// second connection holds the referral's row so that its denial waits while the consent is recorded and searched.
// The deliver stage likewise waits for its send slot, which a test keeps taken in Redis (the destination's rate
// limit, send-window.ts) while a withdrawal is received.

const DESTINATION = 'gm0226';
/** The destination's rate-limit window: longer than any pause of the test's own refresher of the slot it holds. */
const WINDOW_MS = 5_000;

describe('a consent recorded while its child’s referral is being denied for want of it', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let holder: pg.Client;
  let redis: Redis;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({
      env: { ROLE: 'api' },
      registry: buildRegistry({
        agreements: [buildAgreement({ legalBasis: 'consent' })],
        // One send per window: nothing else here sends, and the slot is what holds a send back (below).
        destinations: [
          buildDestination(receiver.url, { id: DESTINATION, rateLimit: { max: 1, durationMs: WINDOW_MS } }),
        ],
      }),
    });
    holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    await holder.query(`SET search_path TO ${app.testEnv.schema}`);
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    redis.disconnect();
    await holder.end();
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const map = (inboxId: string) => processMapJob(app.rt.ctx, { inboxId, traceId: 'consent-race-test' });

  async function receive(events: Record<string, unknown>[]): Promise<string[]> {
    const res = await app.request('/his/v1/events', { json: events });
    expect(res.status).toBe(202);
    return ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
  }

  const consentFor = (referral: Record<string, unknown>) =>
    buildConsentEvent(referral, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] });

  /**
   * Holds the event's row on the second connection, runs `stage`, and resolves once the stage waits for the row
   * (it is then past its decision, at the statement that records it); `release` lets it go on.
   */
  async function holdRowWhile<T>(inboxId: string, stage: () => Promise<T>): Promise<{ release(): Promise<T> }> {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM inbox WHERE id = $1 FOR UPDATE', [inboxId]);
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const running = stage();
    running.catch(() => undefined);
    await waitFor('the stage to wait for the held row', async () => {
      const [row] = await app.rt.ctx.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
        [holderPid],
      );
      return row!.n > 0;
    });
    return {
      async release() {
        await holder.query('COMMIT');
        return running;
      },
    };
  }

  const stateOf = async (id: string) =>
    (await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]))[0]?.state;

  it('the referral whose decision read no consent, and whose denial committed after the consent’s search, is decided again', async () => {
    const referral = buildReferralEvent();
    const [referralId] = await receive([referral]);

    // The referral's row is held: its map job reads the child's consents (none yet), decides deny, and waits to
    // record the denial.
    const held = await holdRowWhile(referralId!, () => map(referralId!));

    // Meanwhile the consent is recorded and its map job searches the child's denied events: the referral is not
    // denied yet, so the search finds nothing.
    const [consentId] = await receive([consentFor(referral)]);
    expect(await map(consentId!)).toBe('completed');
    expect(await stateOf(referralId!)).toBe('received');

    // Now the denial is committed. Before, the referral stayed denied for good, its consent on record.
    expect(await held.release()).toBe('decided');
    expect(await stateOf(referralId!)).toBe('decided');
    const history = await app.rt.ctx.db.query<{ state: string }>(
      'SELECT state FROM inbox_history WHERE inbox_id = $1 ORDER BY id',
      [referralId],
    );
    expect(history.map((h) => h.state)).toEqual(['received', 'mapped', 'denied', 'decided']);
    // Both decisions audited: the denial at mapping, the permit when decided again.
    const decisions = await app.rt.ctx.db.query<{ outcome: string }>(
      `SELECT outcome FROM audit_event WHERE subtype = 'AuthZ-Consent' AND $1 = ANY(entities) ORDER BY seq`,
      [`inbox/${referralId}`],
    );
    expect(decisions.map((d) => d.outcome)).toEqual(['4', '0']);
  });

  it('a referral denied with no consent arriving meanwhile stays denied, and is found by its child when one does', async () => {
    const referral = buildReferralEvent();
    const [referralId] = await receive([referral]);
    expect(await map(referralId!)).toBe('denied');
    expect(await stateOf(referralId!)).toBe('denied');
    // Keyed by its child (a keyed hash, no BSN), so a consent finds it without opening the practice's denials.
    const [row] = await app.rt.ctx.db.query<{ child_key: string | null }>('SELECT child_key FROM inbox WHERE id = $1', [
      referralId,
    ]);
    expect(row!.child_key).toMatch(/^[a-p]{32}$/);

    const [consentId] = await receive([consentFor(referral)]);
    expect(await map(consentId!)).toBe('completed');
    expect(await stateOf(referralId!)).toBe('decided');
  });

  it('a referral denied at delivery (its consent withdrawn) while a new consent is recorded is decided again', async () => {
    const referral = buildReferralEvent();
    const first = consentFor(referral);
    const [firstId, referralId] = await receive([first, referral]);
    expect(await map(firstId!)).toBe('completed');
    expect(await map(referralId!)).toBe('decided');
    const [withdrawalId] = await receive([buildWithdrawalEvent(first, [{ kind: 'child' }])]);
    expect(await map(withdrawalId!)).toBe('completed');
    const [delivery] = await app.rt.ctx.db.query<{ id: string; round: number }>(
      'SELECT id, round FROM delivery WHERE inbox_id = $1',
      [referralId],
    );

    // The deliver stage decides again before sending, reads the withdrawal, and waits to record its denial.
    const job = { data: { deliveryId: delivery!.id, traceId: 'consent-race-test' } } as Job<DeliverJobData>;
    const held = await holdRowWhile(referralId!, () => processDeliverJob(app.rt.ctx, job));
    // A new consent meanwhile: its search finds the referral still decided, not denied.
    const [secondId] = await receive([consentFor(referral)]);
    expect(await map(secondId!)).toBe('completed');

    expect(await held.release()).toBe('denied');
    expect(await stateOf(referralId!)).toBe('decided');
    const [revived] = await app.rt.ctx.db.query<{ state: string; round: number }>(
      'SELECT state, round FROM delivery WHERE id = $1',
      [delivery!.id],
    );
    // The delivery the denial cancelled, given a new round.
    expect(revived).toEqual({ state: 'pending', round: delivery!.round + 1 });
  });

  /** Keeps the destination's one send slot taken (on Redis's clock, as send-window.ts counts) until released. */
  function holdSendSlot(): () => Promise<void> {
    const key = `${app.rt.ctx.queues.prefixFor(deliverQueueName(DESTINATION))}:send-window:${DESTINATION}`;
    const take = () =>
      redis.eval(
        `local t = redis.call('TIME')
         redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 'held-by-test')
         redis.call('PEXPIRE', KEYS[1], ARGV[1])`,
        1,
        key,
        WINDOW_MS,
      );
    let holding = take();
    const timer = setInterval(() => {
      holding = take();
    }, 250);
    return async () => {
      clearInterval(timer);
      await holding;
      await redis.del(key);
    };
  }

  const decisionsOf = async (inboxId: string) =>
    (
      await app.rt.ctx.db.query<{ outcome: string }>(
        `SELECT outcome FROM audit_event WHERE subtype = 'AuthZ-Consent' AND $1 = ANY(entities) ORDER BY seq`,
        [`inbox/${inboxId}`],
      )
    ).map((d) => d.outcome);

  it('a consent withdrawn between the deliver stage’s decision and its send is decided on again: the referral does not leave', async () => {
    const referral = buildReferralEvent();
    const consent = consentFor(referral);
    const [consentId, referralId] = await receive([consent, referral]);
    expect(await map(consentId!)).toBe('completed');
    expect(await map(referralId!)).toBe('decided');
    const [delivery] = await app.rt.ctx.db.query<{ id: string; idempotency_key: string }>(
      'SELECT id, idempotency_key FROM delivery WHERE inbox_id = $1',
      [referralId],
    );

    const release = holdSendSlot();
    const job = { data: { deliveryId: delivery!.id, traceId: 'consent-race-test' } } as Job<DeliverJobData>;
    const delivering = processDeliverJob(app.rt.ctx, job);
    delivering.catch(() => undefined);
    // The deliver stage has read the consents and permitted (its decision audited after the map stage's).
    await waitFor('the deliver stage’s decision', async () => (await decisionsOf(referralId!)).length === 2);
    expect(await decisionsOf(referralId!)).toEqual(['0', '0']);

    // The withdrawal, committed at receipt on the API's connection; its map stage finds nothing disclosed yet.
    const [withdrawalId] = await receive([buildWithdrawalEvent(consent, [])]);
    expect(await map(withdrawalId!)).toBe('completed');
    expect(receiver.hits).toHaveLength(0);

    await release();
    // Before, the referral left after the withdrawal was committed (and a withdrawal notice had to follow it).
    expect(await delivering).toBe('denied');
    expect(receiver.hits.filter((h) => h.idempotencyKey === delivery!.idempotency_key)).toHaveLength(0);
    const [row] = await app.rt.ctx.db.query<{ state: string; state_reason: string }>(
      'SELECT state, state_reason FROM inbox WHERE id = $1',
      [referralId],
    );
    expect(row!.state).toBe('denied');
    expect(row!.state_reason).toMatch(/^denied at delivery: /);
    expect(await decisionsOf(referralId!)).toEqual(['0', '0', '4']);
  });
  it('a consent finds its child’s denial among more than 1,000 of the practice’s, the newest too; denials from before the child key are opened once', async () => {
    // 1,001 referrals of as many children, none with a consent: all denied, the last one newest.
    const referrals = Array.from({ length: 1001 }, () => buildReferralEvent());
    const ids: string[] = [];
    for (let i = 0; i < referrals.length; i += 100) {
      ids.push(...(await receive(referrals.slice(i, i + 100))));
    }
    for (let i = 0; i < ids.length; i += 50) {
      const results = await Promise.all(ids.slice(i, i + 50).map(map));
      expect(new Set(results)).toEqual(new Set(['denied']));
    }

    // The newest denial's child: before, only the practice's 1,000 oldest denials were looked at.
    const [newest] = await receive([consentFor(referrals.at(-1)!)]);
    expect(await map(newest!)).toBe('completed');
    expect(await stateOf(ids.at(-1)!)).toBe('decided');

    // Denials as migration 030 left them, without a child key: found by opening them, and keyed on the way.
    await app.rt.ctx.db.query(`UPDATE inbox SET child_key = NULL WHERE id = ANY($1::uuid[]) AND state = 'denied'`, [
      ids,
    ]);
    const [secondNewest] = await receive([consentFor(referrals.at(-2)!)]);
    expect(await map(secondNewest!)).toBe('completed');
    expect(await stateOf(ids.at(-2)!)).toBe('decided');
    const rows = await app.rt.ctx.db.query<{ state: string; keyed: boolean; n: number }>(
      `SELECT state, child_key IS NOT NULL AS keyed, count(*)::int AS n FROM inbox WHERE id = ANY($1::uuid[])
       GROUP BY 1, 2 ORDER BY 1, 2`,
      [ids],
    );
    // The other children's referrals stay denied, each keyed now, so the next consent opens none of them.
    expect(rows).toEqual([
      { state: 'decided', keyed: true, n: 2 },
      { state: 'denied', keyed: true, n: 999 },
    ]);
  }, 120_000);
});
