import type { Job } from 'bullmq';
import { flushAcceptedSendDrops } from '../../src/event/accepted-sends';
import { idempotencyKeyOf } from '../../src/event/idempotency-key';
import type { Db } from '../../src/kernel/db';
import { processDeliverJob } from '../../src/event/deliver';
import { processMapJob } from '../../src/event/map';
import { deliverJobId, mapJobId, type DeliverJobData } from '../../src/event/queues';
import { buildContactEvent, buildDestination, buildReferralEvent } from '../helpers/builders';
import { waitFor } from '../helpers/wait-for';
import { useStageApp } from '../helpers/stage-app';

// The map stage's jobs, run together as BullMQ's concurrency runs them, share one statement per step
// (src/event/stage-groups.ts). These tests call the stage directly (ROLE=api: no worker takes the jobs) so that
// every member of the group is known, and check what grouping must not change.

describe('map jobs that run together', () => {
  const stage = useStageApp();
  const { receive } = stage;
  const destination = () => buildDestination(stage.receiver.url).id;

  /** Sends `count` requests of one event each at once; returns each request's one receipt, in order. */
  async function receiveOneEach(count: number): Promise<{ status: string; id: string }[]> {
    const answers = await Promise.all(
      Array.from({ length: count }, () => stage.app.request('/his/v1/events', { json: buildReferralEvent() })),
    );
    return Promise.all(
      answers.map(async (res) => {
        expect(res.status).toBe(202);
        const { receipts } = (await res.json()) as { receipts: { status: string; id: string }[] };
        expect(receipts).toHaveLength(1);
        return receipts[0]!;
      }),
    );
  }

  const map = (inboxId: string) => processMapJob(stage.app.rt.ctx, { inboxId, traceId: 'stage-groups-test' });

  async function deliveriesOf(ids: readonly string[]) {
    return stage.app.rt.ctx.db.query<{ id: string; inbox_id: string; idempotency_key: string; round: number }>(
      'SELECT id, inbox_id, idempotency_key, round FROM delivery WHERE inbox_id = ANY($1::uuid[])',
      [ids],
    );
  }

  it('a member that fails does not fail its group: the others are decided, each with its own delivery and key', async () => {
    const ids = await receive(20);
    // Not a uuid: the group's read refuses it, so the group is run member by member and only this one fails.
    const results = await Promise.allSettled([...ids, 'not-an-inbox-id'].map(map));

    expect(results.slice(0, 20).map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual(
      ids.map(() => 'decided'),
    );
    expect(results[20]!.status).toBe('rejected');

    const deliveries = await deliveriesOf(ids);
    expect(deliveries).toHaveLength(20);
    for (const d of deliveries) {
      expect(d.idempotency_key).toBe(idempotencyKeyOf(d.inbox_id, destination()));
    }
    // The history of each event in order, as one job alone would have written it.
    const history = await stage.app.rt.ctx.db.query<{ inbox_id: string; states: string[] }>(
      `SELECT inbox_id, array_agg(state ORDER BY id) AS states FROM inbox_history
       WHERE inbox_id = ANY($1::uuid[]) GROUP BY inbox_id`,
      [ids],
    );
    expect(history).toHaveLength(20);
    history.forEach((h) => expect(h.states).toEqual(['received', 'mapped', 'decided']));
    // One deliver job per delivery, under the delivery's own job id (its own attempts and dead letter).
    const queue = stage.app.rt.ctx.queues.getDeliverQueue(destination());
    const jobs = await Promise.all(deliveries.map((d) => queue.getJob(deliverJobId(d.id, d.round))));
    expect(jobs.map((j) => j?.data.deliveryId)).toEqual(deliveries.map((d) => d.id));
  });

  it('the same event twice in one group, and again later, still has one delivery and one decision in its history', async () => {
    const ids = await receive(5);
    const twice = [...ids, ...ids];
    const first = await Promise.all(twice.map(map));
    expect(first.every((r) => r === 'decided')).toBe(true);
    // A job that runs again after a crash (its row already decided) only makes sure the deliver job exists.
    const again = await Promise.all(ids.map(map));
    expect(again).toEqual(ids.map(() => 'requeued'));

    const deliveries = await deliveriesOf(ids);
    expect(deliveries).toHaveLength(5);
    expect(new Set(deliveries.map((d) => d.inbox_id))).toEqual(new Set(ids));
    const decided = await stage.app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox_history WHERE inbox_id = ANY($1::uuid[]) AND state = 'decided'`,
      [ids],
    );
    expect(decided[0]!.n).toBe(5);
  });

  it("reads a referral's consents once for both its monitoring count and its decision", async () => {
    const [id] = await receive(1);
    const db = stage.app.rt.ctx.db;
    const countedReferrals = async () =>
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM report_referral'))[0]!.n;
    const countedBefore = await countedReferrals();
    const consentReads: string[] = [];
    // The same database, noting the statements that read a child's consents on the way.
    const counting: Db = {
      ...db,
      query: (sql, params) => {
        if (/FROM consent\b/.test(sql)) {
          consentReads.push(sql);
        }
        return db.query(sql, params);
      },
    };

    expect(
      await processMapJob({ ...stage.app.rt.ctx, db: counting }, { inboxId: id!, traceId: 'stage-groups-test' }),
    ).toBe('decided');
    expect(consentReads).toHaveLength(1);
    // Both decisions were made: the referral counts in the monitoring figures, and it has its delivery.
    expect(await countedReferrals()).toBe(countedBefore + 1);
    expect(await deliveriesOf([id!])).toHaveLength(1);
  });

  it("opens a delivered child's stored event once for its decision, its send, its audit and its disclosure's record", async () => {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    const [delivery] = await deliveriesOf([id!]);
    // A cipher of its own, which the map stage handed no event on to (event-handed-on.test.ts): the job opens it.
    const cipher = { ...stage.app.rt.ctx.cipher };
    const opened = jest.spyOn(cipher, 'decrypt');
    try {
      const job = { data: { deliveryId: delivery!.id, traceId: 'stage-groups-test' } } as Job<DeliverJobData>;
      expect(await processDeliverJob({ ...stage.app.rt.ctx, cipher }, job)).toBe('delivered');
      expect(opened).toHaveBeenCalledTimes(1);
    } finally {
      opened.mockRestore();
    }
    // Still recorded as before: delivered, with what it disclosed about the child.
    const [row] = await stage.app.rt.ctx.db.query<{ state: string; disclosed: number }>(
      `SELECT d.state, (SELECT count(*)::int FROM child_disclosure c WHERE c.delivery_id = d.id) AS disclosed
       FROM delivery d WHERE d.id = $1`,
      [delivery!.id],
    );
    expect(row).toEqual({ state: 'delivered', disclosed: 1 });
    expect(stage.receiver.stored.has(delivery!.idempotency_key)).toBe(true);
  });

  it('contact deliveries running together ask about corrections at the destination in one statement, each about its own', async () => {
    // One contact whose correction reached the destination first (not sent: it would undo the correction there), and
    // nine others, delivered.
    const older = buildContactEvent({ durationMinutes: 30 });
    const correction = {
      ...older,
      eventId: `${String(older.eventId)}-corrected`,
      contact: { ...(older.contact as object), durationMinutes: 45 },
    };
    const res = await stage.app.request('/his/v1/events', {
      json: [older, correction, ...Array.from({ length: 9 }, () => buildContactEvent())],
    });
    expect(res.status).toBe(202);
    const [olderId, correctionId, ...otherIds] = ((await res.json()) as { receipts: { id: string }[] }).receipts.map(
      (r) => r.id,
    );
    const ids = [olderId!, correctionId!, ...otherIds];
    expect(await Promise.all(ids.map(map))).toEqual(ids.map(() => 'decided'));
    const deliveryOf = new Map((await deliveriesOf(ids)).map((d) => [d.inbox_id, d.id]));
    // A cipher of its own, which the map stage handed no event on to (event-handed-on.test.ts): each job opens its
    // event, and the openings below say when all ten have.
    const cipher = { ...stage.app.rt.ctx.cipher };
    const deliver = (inboxId: string) =>
      processDeliverJob({ ...stage.app.rt.ctx, cipher }, {
        data: { deliveryId: deliveryOf.get(inboxId)!, traceId: 'stage-groups-test' },
      } as Job<DeliverJobData>);
    expect(await deliver(correctionId!)).toBe('delivered');

    const { db } = stage.app.rt.ctx;
    const opened = jest.spyOn(cipher, 'decrypt');
    const realQuery = db.query.bind(db);
    let correctionReads = 0;
    // The first question about corrections waits until all ten deliveries have opened their events (each asks right
    // after), so how the jobs are spread in time cannot decide the grouping.
    const query = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
      if (/JOIN delivery nd ON nd\.id = cd\.delivery_id/.test(sql)) {
        correctionReads++;
        await waitFor('all 10 deliveries opened', () => opened.mock.calls.length >= 10, 30_000, 2);
      }
      return realQuery(sql, params);
    });
    try {
      const results = await Promise.all([olderId!, ...otherIds].map(deliver));
      expect(results).toEqual(['superseded', ...otherIds.map(() => 'delivered')]);
      // Asked before the decision and again right before the send: on main one statement each, 1 + 2 × 9 = 19.
      expect(correctionReads).toBeGreaterThanOrEqual(2);
      expect(correctionReads).toBeLessThan(10);
    } finally {
      query.mockRestore();
      opened.mockRestore();
    }
  });

  it('one request with an event sent twice: the first is accepted, the second is its duplicate', async () => {
    const event = buildReferralEvent();
    const res = await stage.app.request('/his/v1/events', { json: [event, buildReferralEvent(), event] });
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as { receipts: { status: string; id: string }[] };
    expect(receipts.map((r) => r.status)).toEqual(['accepted', 'accepted', 'duplicate']);
    expect(receipts[2]!.id).toBe(receipts[0]!.id);
    const again = await stage.app.request('/his/v1/events', { json: [buildReferralEvent(), event] });
    const second = (await again.json()) as { receipts: { status: string; id: string }[] };
    expect(second.receipts.map((r) => r.status)).toEqual(['accepted', 'duplicate']);
    expect(second.receipts[1]!.id).toBe(receipts[0]!.id);
  });

  it('requests received at the same moment store their events in one statement, each with its own receipt', async () => {
    const { db, cipher } = stage.app.rt.ctx;
    // Each request seals its event (twice: record and canonical event) right before it asks to store it.
    const seal = jest.spyOn(cipher, 'encrypt');
    const realQuery = db.query.bind(db);
    const inserts: unknown[][] = [];
    // The statements already sent are held until every request has sealed its event, so how the requests are spread
    // in time on a loaded machine cannot decide the grouping: those that arrive meanwhile must go together.
    const query = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
      if (/^WITH input AS \(\s*SELECT \* FROM unnest\(\$1::uuid\[\], \$2::text\[\]/.test(sql)) {
        inserts.push((params?.[0] as unknown[]) ?? []);
        await waitFor('all 20 requests sealed', () => seal.mock.calls.length >= 40, 30_000, 2);
      }
      return realQuery(sql, params);
    });
    try {
      const receipts = await receiveOneEach(20);
      expect(receipts.map((r) => r.status)).toEqual(receipts.map(() => 'accepted'));
      expect(inserts.length).toBeGreaterThanOrEqual(1);
      expect(inserts.length).toBeLessThan(20);
      const ids = receipts.map((r) => r.id);
      expect(inserts.flat().sort()).toEqual([...ids].sort());
      const stored = await realQuery<{ id: string }>('SELECT id FROM inbox WHERE id = ANY($1::uuid[])', [ids]);
      expect(stored).toHaveLength(20);
    } finally {
      query.mockRestore();
      seal.mockRestore();
    }
  });

  it('requests received at the same moment check their referrals in one statement, each refused only for its own', async () => {
    const { db, cipher } = stage.app.rt.ctx;
    const earlier = buildReferralEvent();
    expect((await stage.app.request('/his/v1/events', { json: earlier })).status).toBe(202);
    // The earlier referral's id for another child: refused (409 at referral.id), alone in its request.
    const reused = buildReferralEvent({ referral: earlier.referral });
    const events = Array.from({ length: 20 }, (_, i) => (i === 7 ? reused : buildReferralEvent()));
    const seal = jest.spyOn(cipher, 'encrypt');
    const realQuery = db.query.bind(db);
    const checks: unknown[][] = [];
    // As above: the checks already sent wait until every request has sealed its event (each request seals before it
    // checks), so that how the requests are spread in time cannot decide the grouping.
    const query = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
      if (/x\.reused OR \(cur\.service_request_status/.test(sql)) {
        checks.push((params?.[4] as unknown[]) ?? []);
        await waitFor('all 20 requests sealed', () => seal.mock.calls.length >= 40, 30_000, 2);
      }
      return realQuery(sql, params);
    });
    try {
      const answers = await Promise.all(events.map((json) => stage.app.request('/his/v1/events', { json })));
      expect(answers.map((r) => r.status)).toEqual(events.map((_, i) => (i === 7 ? 409 : 202)));
      const refusal = (await answers[7]!.json()) as { issue: { expression?: string[] }[] };
      expect(refusal.issue[0]!.expression).toEqual(['referral.id']);
      // Fewer statements than requests, and every request's referral was checked.
      expect(checks.length).toBeGreaterThanOrEqual(1);
      expect(checks.length).toBeLessThan(20);
      expect(checks.flat().sort()).toEqual(events.map((e) => e.eventId).sort());
    } finally {
      query.mockRestore();
      seal.mockRestore();
    }
  });

  it('the same event in two requests received at the same moment is accepted once, the other its duplicate', async () => {
    const event = buildReferralEvent();
    const answers = await Promise.all([1, 2].map(() => stage.app.request('/his/v1/events', { json: event })));
    const receipts = await Promise.all(
      answers.map(async (res) => ((await res.json()) as { receipts: { status: string; id: string }[] }).receipts[0]!),
    );
    expect(receipts.map((r) => r.status).sort()).toEqual(['accepted', 'duplicate']);
    expect(receipts[0]!.id).toBe(receipts[1]!.id);
  });

  it('requests received at the same moment add their map jobs together, each under its own event id', async () => {
    const queues = stage.app.rt.ctx.queues;
    // Each request hands its map jobs to the grouped enqueue and then waits for them through `timed`.
    const timed = jest.spyOn(queues, 'timed');
    const requestsAtEnqueue = () => timed.mock.calls.filter(([, what]) => what === 'enqueue map').length;
    const realAddBulk = queues.map.addBulk.bind(queues.map);
    const realAdd = queues.map.add.bind(queues.map);
    // The groups already sent are held until every request has reached its enqueue, so how the requests are spread in
    // time on a loaded machine cannot decide the grouping: those that arrive meanwhile must go together. A group of
    // one job is added as itself (`add`), a larger one in one `addBulk`: one round trip a group either way.
    const allAtEnqueue = () => waitFor('all 20 requests at their enqueue', () => requestsAtEnqueue() >= 20, 30_000, 2);
    const addBulk = jest.spyOn(queues.map, 'addBulk').mockImplementation(async (jobs) => {
      await allAtEnqueue();
      return realAddBulk(jobs);
    });
    const add = jest.spyOn(queues.map, 'add').mockImplementation(async (...args) => {
      await allAtEnqueue();
      return realAdd(...args);
    });
    try {
      const ids = (await receiveOneEach(20)).map((r) => r.id);
      // A request answers after REDIS_ANSWER_MS even when its jobs are not yet added: wait for every add.
      await Promise.all([...addBulk.mock.results, ...add.mock.results].map((r) => r.value as Promise<unknown>));
      // Fewer round trips than requests, and every event has its own job, found by the id the reconciler looks up.
      const roundTrips = addBulk.mock.calls.length + add.mock.calls.length;
      expect(roundTrips).toBeGreaterThanOrEqual(1);
      expect(roundTrips).toBeLessThan(ids.length);
      const jobs = await Promise.all(ids.map((id) => queues.map.getJob(mapJobId(id))));
      expect(jobs.map((j) => j?.data.inboxId)).toEqual(ids);
    } finally {
      addBulk.mockRestore();
      add.mockRestore();
      timed.mockRestore();
    }
  });
  it('adds a lone job as itself and several in one addBulk, each under its own id either way', async () => {
    const queues = stage.app.rt.ctx.queues;
    const add = jest.spyOn(queues.map, 'add');
    const addBulk = jest.spyOn(queues.map, 'addBulk');
    const ids = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'];
    try {
      // One job: no ioredis pipeline, which copies every script BullMQ defines for each one it makes.
      await queues.enqueueMap([{ inboxId: ids[0]!, traceId: 'stage-groups-test' }]);
      expect(add).toHaveBeenCalledTimes(1);
      expect(addBulk).not.toHaveBeenCalled();
      // Two: still one round trip for both.
      await queues.enqueueMap(ids.map((inboxId) => ({ inboxId, traceId: 'stage-groups-test' })));
      expect(add).toHaveBeenCalledTimes(1);
      expect(addBulk).toHaveBeenCalledTimes(1);
      const jobs = await Promise.all(ids.map((id) => queues.map.getJob(mapJobId(id))));
      expect(jobs.map((j) => [j?.id, j?.data.inboxId, j?.opts.attempts])).toEqual(
        ids.map((id) => [mapJobId(id), id, 5]),
      );
    } finally {
      add.mockRestore();
      addBulk.mockRestore();
      await Promise.all(ids.map((id) => queues.map.remove(mapJobId(id))));
    }
  });

  /**
   * A Db and Redis client of the product that note, in order, when each watched statement or note command is sent and
   * answered, and the audit's appends and their commits: which round trips of one job are on their way at once.
   */
  async function watchRoundTrips(): Promise<{ db: Db; seen: string[]; stop: () => void }> {
    const seen: string[] = [];
    const db = stage.app.rt.ctx.db;
    const kindOf = (sql: string): string | undefined =>
      /FROM consent c\b/.test(sql)
        ? 'consents'
        : /INSERT INTO report_referral/.test(sql)
          ? 'monitoring count'
          : /INSERT INTO child_disclosure/.test(sql)
            ? 'disclosure'
            : undefined;
    const watched: Db = {
      ...db,
      query: async <T>(sql: string, params?: readonly unknown[]) => {
        const kind = kindOf(sql);
        if (kind) {
          seen.push(`${kind} sent`);
        }
        const rows = await db.query<T>(sql, params);
        if (kind) {
          seen.push(`${kind} answered`);
        }
        return rows;
      },
    };
    const append = stage.app.rt.ctx.audit.append.bind(stage.app.rt.ctx.audit);
    const audit = jest.spyOn(stage.app.rt.ctx.audit, 'append').mockImplementation(async (tenant, event) => {
      seen.push('audit appended');
      await append(tenant, event);
      seen.push('audit durable');
    });
    // The sent-once note's commands, one at a time here: a read, or a write that says whether it notes the audit.
    const client = (await stage.app.rt.ctx.queues.redisClient()) as unknown as Record<
      'get' | 'set',
      (...args: unknown[]) => Promise<unknown>
    >;
    const { get, set } = client;
    client.get = async (...args) => {
      seen.push('note read sent');
      const answer = await get.apply(client, args);
      seen.push('note read answered');
      return answer;
    };
    client.set = async (...args) => {
      const what = String(args[1]).includes('"audited":true') ? 'note of the audit' : 'note';
      seen.push(`${what} sent`);
      const answer = await set.apply(client, args);
      seen.push(`${what} answered`);
      return answer;
    };
    const stop = () => {
      audit.mockRestore();
      client.get = get;
      client.set = set;
    };
    return { db: watched, seen, stop };
  }

  it('writes a map job’s monitoring count while its decision is audited, both before the event moves on', async () => {
    const [id] = await receive(1);
    const { db, seen, stop } = await watchRoundTrips();
    try {
      expect(await processMapJob({ ...stage.app.rt.ctx, db }, { inboxId: id!, traceId: 'stage-groups-test' })).toBe(
        'decided',
      );
    } finally {
      stop();
    }
    // One after the other before: the decision was made and audited only once the count had been written.
    expect(seen.indexOf('audit appended')).toBeLessThan(seen.indexOf('monitoring count answered'));
    expect(seen.indexOf('monitoring count sent')).toBeLessThan(seen.indexOf('audit durable'));
    expect(seen.filter((s) => s === 'consents sent')).toHaveLength(1);
    expect(await deliveriesOf([id!])).toHaveLength(1);
  });

  /** Maps and delivers one new referral; the round trips of its deliver job, in the order they were seen. */
  async function deliverOneWatched(): Promise<string[]> {
    const [id] = await receive(1);
    expect(await map(id!)).toBe('decided');
    const [delivery] = await deliveriesOf([id!]);
    // Notes an earlier test's deliveries left to drop would ride in one script with this job's note commands, and
    // the commands are watched one at a time: they go first.
    await flushAcceptedSendDrops(stage.app.rt.ctx.queues);
    const { db, seen, stop } = await watchRoundTrips();
    try {
      const job = { data: { deliveryId: delivery!.id, traceId: 'stage-groups-test' } } as Job<DeliverJobData>;
      expect(await processDeliverJob({ ...stage.app.rt.ctx, db }, job)).toBe('delivered');
    } finally {
      stop();
    }
    return seen;
  }

  it('reads the child’s consents for the deliver decision while it reads the sent-once note', async () => {
    const seen = await deliverOneWatched();
    // Before, the consents were asked for only once the note's read had answered.
    expect(seen.indexOf('consents sent')).toBeLessThan(seen.indexOf('note read answered'));
    // Still in this order around the send: the decision audited, the consents read again, the send noted, audited,
    // the disclosure recorded (the note's read and the note of the audit go out beside steps of this list).
    expect(seen.filter((s) => / (sent|appended)$/.test(s) && !/^note (read|of the audit)/.test(s))).toEqual([
      'consents sent',
      'audit appended',
      'consents sent',
      'note sent',
      'audit appended',
      'disclosure sent',
    ]);
    expect(seen.indexOf('note read answered')).toBeLessThan(seen.indexOf('audit appended'));
    expect(seen.indexOf('note answered')).toBeLessThan(seen.lastIndexOf('audit appended'));
  });

  it('records a delivered disclosure while it notes its audit, and ends the job only once both are done', async () => {
    const seen = await deliverOneWatched();
    // Before, the disclosure was recorded only once the note of its audit had been written.
    expect(seen.indexOf('disclosure sent')).toBeLessThan(seen.indexOf('note of the audit answered'));
    // The audit is durable before either; the job returned after both were answered.
    expect(seen.lastIndexOf('audit durable')).toBeLessThan(seen.indexOf('note of the audit sent'));
    expect(seen).toContain('note of the audit answered');
    expect(seen).toContain('disclosure answered');
  });
});
