import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface Summary {
  id: string;
  eventId: string;
  eventType: string;
  state: string;
  stateReason: string | null;
  receivedAt: string;
  updatedAt: string;
  deliveredBefore: boolean;
}
interface Listing {
  events: Summary[];
  pollFrom?: string;
  next?: string;
}

// A HIS polls the states of its own events instead of reading every receipt id one by one (report-xhis F2):
// `GET /his/v1/events?state=&_since=&_count=`, its own practices' events only, ids and states, never a BSN.
describe('GET /his/v1/events: a practice lists and polls its own events', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const ids: string[] = [];

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
      ids.push(((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id);
    }
    await waitFor('the referrals delivered', async () => {
      const rows = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = ANY($1)', [ids]);
      return rows.every((r) => r.state === 'delivered') ? true : undefined;
    });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const list = async (query: string, key: KeyName = 'practice') => {
    const res = await app.request(`/his/v1/events${query}`, { key });
    expect(res.status).toBe(200);
    return (await res.json()) as Listing;
  };

  it('lists its events newest first, each with its ids, type, state and reason', async () => {
    const { events, next } = await list('');
    expect(events.map((e) => e.id)).toEqual([...ids].reverse());
    expect(events[0]).toEqual({
      id: ids[2],
      eventId: expect.stringMatching(/^evt-/),
      eventType: 'referral.created',
      state: 'delivered',
      stateReason: expect.anything(),
      receivedAt: expect.any(String),
      updatedAt: expect.any(String),
      deliveredBefore: false,
    });
    expect(next).toBeUndefined();
  });

  // Review: the console shows a dead event whose redelivery failed as delivered (the municipality has it); the poll
  // said only `dead`, so a HIS polling state=dead would send again what the municipality holds.
  it('says of a dead event whether the municipality had received it before', async () => {
    const [, , last] = ids;
    await app.rt.ctx.db.query(`UPDATE inbox SET state = 'dead', updated_at = now() WHERE id = $1`, [last]);
    try {
      const { events } = await list('?state=dead');
      expect(events.map((e) => [e.id, e.deliveredBefore])).toEqual([[last, true]]);
    } finally {
      await app.rt.ctx.db.query(`UPDATE inbox SET state = 'delivered' WHERE id = $1`, [last]);
    }
  });

  // One event, two destinations: the one that accepted it does not make the other's dead letter a failed resend.
  it('says a dead event with a destination that never received it was not received before, in the list and console', async () => {
    const [, , last] = ids;
    const db = app.rt.ctx.db;
    await db.query(`UPDATE inbox SET state = 'dead', updated_at = now() WHERE id = $1`, [last]);
    await db.query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, attempts, last_error)
       VALUES (gen_random_uuid(), $1, 'gm0344', gen_random_uuid()::text, 'dead', 12, 'HTTP 503 (retries exhausted)')`,
      [last],
    );
    try {
      const { events } = await list('?state=dead');
      expect(events.map((e) => [e.id, e.deliveredBefore])).toEqual([[last, false]]);
      const page = await (await (await openConsole(app, 'practice')).get(`/console/practice/events/${last}`)).text();
      expect(page).not.toContain('afgeleverd; opnieuw versturen mislukt</dd>');
      expect(page).toMatch(/<dd>onbestelbaar<\/dd>/);
    } finally {
      await db.query(`DELETE FROM delivery WHERE inbox_id = $1 AND destination = 'gm0344'`, [last]);
      await db.query(`UPDATE inbox SET state = 'delivered' WHERE id = $1`, [last]);
    }
  });

  it('finds those in one state, and those whose state changed since a moment (_since)', async () => {
    const since = new Date().toISOString();
    await app.rt.ctx.db.query(
      `UPDATE inbox SET state = 'denied', state_reason = 'consent-missing-child', updated_at = now() WHERE id = $1`,
      [ids[1]],
    );
    expect((await list('?state=denied')).events.map((e) => e.id)).toEqual([ids[1]]);
    expect((await list(`?_since=${encodeURIComponent(since)}`)).events.map((e) => e.id)).toEqual([ids[1]]);
    const denied = await list(`?state=denied&_since=${encodeURIComponent(since)}`);
    expect(denied.events).toMatchObject([{ id: ids[1], state: 'denied', stateReason: 'consent-missing-child' }]);
    expect((await list('?state=failed')).events).toEqual([]);
  });

  it('pages with _count through the next link', async () => {
    const first = await list('?_count=2');
    expect(first.events.map((e) => e.id)).toEqual([ids[2], ids[1]]);
    expect(first.next).toMatch(/^\/his\/v1\/events\?.*_page=/);
    expect(first.next).toContain('_count=2');
    const second = await list(first.next!.slice('/his/v1/events'.length));
    expect(second.events.map((e) => e.id)).toEqual([ids[0]]);
    expect(second.next).toBeUndefined();
  });

  it('shows another practice none of them', async () => {
    expect((await list('', 'otherPractice')).events).toEqual([]);
  });

  it.each([
    ['?state=lost', 'state'],
    ['?_since=yesterday', '_since'],
    ['?_since=2026-12-01T10:00:00', '_since'],
    ['?_count=0', '_count'],
    ['?_page=forged', '_page'],
    ['?bsn=111222333', 'bsn'],
    ['?_pollFrom=forged', '_pollFrom'],
    ['?_pollFrom=eyJ4IjoiMSJ9&_since=2026-12-01T10:00:00Z', '_pollFrom'],
    // Transaction ids above 2^64-1 (unsigned tokens a client can write): PostgreSQL's xid8 refused them, a 500.
    ['?_pollFrom=eyJ4IjoiOTk5OTk5OTk5OTk5OTk5OTk5OTkifQ', '_pollFrom'],
    [
      '?_pollFrom=eyJ4IjoiMSJ9&_page=eyJrIjoiYyIsImEiOiI5OTk5OTk5OTk5OTk5OTk5OTk5OSIsImkiOiIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDAiLCJ3IjoiMSJ9',
      '_page',
    ],
    [
      '?_page=eyJrIjoiciIsImEiOiIyMDI2LTEyLTAxVDEwOjAwOjAwLjAwMDAwMFoiLCJpIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIiwidyI6IjE4NDQ2NzQ0MDczNzA5NTUxNjE2In0',
      '_page',
    ],
    [
      '?_since=2026-12-01T10:00:00Z&_page=eyJrIjoiciIsImEiOiIyMDI2LTEyLTAxVDEwOjAwOjAwLjAwMDAwMFoiLCJpIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIiwidyI6IjEifQ',
      '_page',
    ],
  ])('answers %s 400 naming the parameter', async (query, parameter) => {
    const res = await app.request(`/his/v1/events${query}`, { key: 'practice' });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue.flatMap((i) => i.expression ?? [])).toContain(parameter);
  });

  it('is for the practice and those who read its events, not a municipality', async () => {
    expect((await app.request('/his/v1/events', { key: 'municipality' })).status).toBe(403);
  });

  it("records the listing in the practice's chain with the events it showed", async () => {
    await app.rt.ctx.audit.flush();
    const reads = () =>
      app.rt.ctx.db.query<{ tenant: string; outcome: string }>(
        `SELECT tenant, outcome FROM audit_event WHERE agents @> ARRAY[$1] AND entities @> ARRAY[$2] ORDER BY seq`,
        [`${PRINCIPAL_SYSTEM}|api-key:practice`, `inbox/${ids[0]}`],
      );
    const before = (await reads()).length;
    await list('');
    await app.rt.ctx.audit.flush();
    const after = await reads();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0' });
  });

  /**
   * `updated_at` is when the transaction that changed an event began. A change still being written while a poll ran
   * commits with a time before that poll: a HIS polling from the newest `updatedAt` it saw (or from the moment of its
   * last poll) missed it for good. The answer's `pollFrom` is where the next poll starts and misses nothing.
   */
  it('answers a pollFrom; a poll from it sees the change a transaction open across the poll before committed', async () => {
    const db = app.rt.ctx.db;
    const [slow, other, third] = ids as [string, string, string];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    // One connection: a transaction that changes an event and stays open across the poll.
    const slowChange = db.transaction(async (tx) => {
      await tx.query(`UPDATE inbox SET state = 'dead', state_reason = 'slow', updated_at = now() WHERE id = $1`, [
        slow,
      ]);
      written();
      await held;
    });
    await wrote;
    // Another: a change that begins after it and commits at once.
    await new Promise((r) => setTimeout(r, 20));
    await db.query(`UPDATE inbox SET state = 'denied', updated_at = now() WHERE id = $1`, [other]);

    const poll = await list('?_count=2');
    expect(poll.events.map((e) => e.id)).toEqual([third, other]);
    expect(poll.events.find((e) => e.id === slow)).toBeUndefined();
    expect(typeof poll.pollFrom).toBe('string');
    // Every page of one poll answers the same pollFrom.
    expect(poll.next).toBeDefined();
    expect((await list(poll.next!.slice('/his/v1/events'.length))).pollFrom).toBe(poll.pollFrom);
    const newestSeen = poll.events
      .map((e) => e.updatedAt)
      .sort()
      .at(-1)!;

    release();
    await slowChange;

    // The change committed with the time its transaction began, before what the poll saw: `_since` misses it.
    const bySince = await list(`?_since=${encodeURIComponent(newestSeen)}`);
    expect(bySince.events.map((e) => e.id)).not.toContain(slow);
    // The poll from the last one's pollFrom has it.
    const next = await list(`?_pollFrom=${encodeURIComponent(poll.pollFrom!)}`);
    expect(next.events.map((e) => [e.id, e.state])).toContainEqual([slow, 'dead']);
    // And a poll from that one, with nothing changed since, nothing new: pollFrom is the oldest transaction running in
    // the whole PostgreSQL cluster (xids are the cluster's), so another test's open transaction may hold it back and
    // show some of these again, as they were, but never a change they did not show.
    await new Promise((r) => setTimeout(r, 20));
    const seen = next.events.map((e) => [e.id, e.state, e.updatedAt]);
    for (const e of (await list(`?_pollFrom=${encodeURIComponent(next.pollFrom!)}`)).events) {
      expect(seen).toContainEqual([e.id, e.state, e.updatedAt]);
    }
  });

  it('pages a poll from a pollFrom through the next links, keeping it', async () => {
    const start = (await list('')).pollFrom!;
    await app.rt.ctx.db.query(`UPDATE inbox SET updated_at = now() WHERE id = ANY($1)`, [ids]);
    const first = await list(`?_pollFrom=${encodeURIComponent(start)}&_count=2`);
    expect(first.events).toHaveLength(2);
    expect(first.next).toContain('_pollFrom=');
    const second = await list(first.next!.slice('/his/v1/events'.length));
    expect(new Set([...first.events, ...second.events].map((e) => e.id))).toEqual(new Set(ids));
    expect(second.next).toBeUndefined();
    expect(second.pollFrom).toBe(first.pollFrom);
  });
});
