import { randomUUID } from 'node:crypto';
import { OTHER_PRACTICE_AGB } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';

// A weekend of a practice's HIS being away leaves hundreds of dead status updates and trajectory events to it. The
// municipal dead letters had a batch replay; these could be replayed one at a time only, and
// `GET /admin/v1/dead-letters?destination=practice-<agb>` answered an empty list while the metric counted them.
describe("a batch replay of a practice's dead status updates and trajectory events", () => {
  const h = useConsoleApp(['operator', 'otherOperator']);
  const c = h.consoles;
  const db = () => h.app.rt.ctx.db;
  const PRACTICE = '01234567';
  const ids = { statusUpdates: [] as string[], trajectoryEvents: [] as string[], otherPractice: '' };

  /** A dead trajectory event to `practice`, died `minutesAgo`. */
  const insertDeadTrajectoryEvent = async (practice: string, minutesAgo: number) => {
    const id = randomUUID();
    await db().query(
      `INSERT INTO trajectory_event (id, tenant, municipality, source_event_id, event_type, submitted_by, decision,
         decision_reason, idempotency_key, state, attempts, last_status, last_error, trace_id, updated_at)
       VALUES ($1, $2, 'GM0226', $3, 'intake', 'api-key:municipality', 'permit', 'permitted-by-consent',
         $4, 'dead', 15, 500, 'HTTP 500', 't', now() - make_interval(mins => $5))`,
      [id, practice, `gm-${id}`, randomUUID(), minutesAgo],
    );
    return id;
  };

  /** Dead status updates to `practice` on `count` delivered referrals, the first died `minutesAgo`, each later one a minute after. */
  const insertDeadStatusUpdates = async (practice: string, count: number, minutesAgo: number) => {
    const inserted: string[] = [];
    for (const [i, inboxId] of (await insertInboxRows(db(), 'delivered', count)).entries()) {
      const id = randomUUID();
      await db().query(
        `INSERT INTO feedback (id, inbox_id, tenant, municipality, status, service_request_status, task, submitted_by,
           idempotency_key, state, attempts, last_status, last_error, updated_at)
         VALUES ($1, $2, $3, 'GM0226', 'accepted', 'active', '{}', 'api-key:municipality', $4, 'dead', 15, 500,
           'HTTP 500', now() - make_interval(mins => $5))`,
        [id, inboxId, practice, randomUUID(), minutesAgo - i],
      );
      inserted.push(id);
    }
    return inserted;
  };

  beforeAll(async () => {
    ids.statusUpdates.push(...(await insertDeadStatusUpdates(PRACTICE, 3, 10)));
    ids.trajectoryEvents.push(await insertDeadTrajectoryEvent(PRACTICE, 1));
    ids.otherPractice = await insertDeadTrajectoryEvent(OTHER_PRACTICE_AGB, 5);
  });

  const replay = (json: unknown, key: 'operator' | 'otherOperator' = 'operator') =>
    h.app.request('/admin/v1/feedback/replay', { key, method: 'POST', json });
  const stateOf = async (table: 'feedback' | 'trajectory_event', id: string) =>
    (await db().query<{ state: string }>(`SELECT state FROM ${table} WHERE id = $1`, [id]))[0]?.state;

  it('refuses a body without a practice, or with one that is no AGB code, naming the field', async () => {
    for (const body of [{}, { practice: 'practice-01234567' }, { practice: PRACTICE, limit: 0 }]) {
      const res = await replay(body);
      expect(res.status).toBe(400);
      const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0]?.expression?.[0]).toMatch(/^(practice|limit)$/);
    }
  });

  it("replays nothing of a practice outside the operator's scope", async () => {
    expect(await (await replay({ practice: PRACTICE }, 'otherOperator')).json()).toEqual({
      replayed: { statusUpdates: [], trajectoryEvents: [] },
      remaining: 0,
    });
    expect(await stateOf('feedback', ids.statusUpdates[0] ?? '')).toBe('dead');
  });

  it('replays the oldest `limit` of the practice, both kinds, audited each, and says how many are left', async () => {
    const first = await replay({ practice: PRACTICE, limit: 2 });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({
      replayed: { statusUpdates: ids.statusUpdates.slice(0, 2), trajectoryEvents: [] },
      remaining: 2,
    });
    expect(await (await replay({ practice: PRACTICE })).json()).toEqual({
      replayed: { statusUpdates: ids.statusUpdates.slice(2), trajectoryEvents: ids.trajectoryEvents },
      remaining: 0,
    });
    for (const id of ids.statusUpdates) {
      expect(await stateOf('feedback', id)).toBe('pending');
    }
    expect(await stateOf('trajectory_event', ids.trajectoryEvents[0] ?? '')).toBe('pending');
    // Another practice's dead letter is not this practice's replay.
    expect(await stateOf('trajectory_event', ids.otherPractice)).toBe('dead');

    await h.app.rt.ctx.audit.flush();
    const targets = [
      ...ids.statusUpdates.map((id) => `Task/${id}`),
      ...ids.trajectoryEvents.map((id) => `trajectory_event/${id}`),
    ];
    const [audit] = await db().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event WHERE type = '110100' AND entities && $1::text[]
         AND agents @> ARRAY['https://jeugdbrug.nl/principal|api-key:operator']`,
      [targets],
    );
    expect(audit?.n).toBe(targets.length);
  });

  it('refuses a dead-letter filter on practice-<agb>, naming where those dead letters are', async () => {
    const res = await h.app.request(`/admin/v1/dead-letters?destination=practice-${PRACTICE}`, { key: 'operator' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('POST /admin/v1/feedback/replay');
  });

  it('offers "replay all N" per practice in scope on the console page, and replays them', async () => {
    const buttonOf = (page: string, practice: string) =>
      new RegExp(`name="practice" value="${practice}" />\\s*<button type="submit">\\s*([^<]*?)\\s*</button>`).exec(
        page,
      )?.[1];
    const page = await (await c.operator.get('/console/operator/to-practices')).text();
    // The first practice's were replayed above; the other practice has its one.
    expect(buttonOf(page, PRACTICE)).toBeUndefined();
    expect(buttonOf(page, OTHER_PRACTICE_AGB)).toBe(`Alle 1 aan praktijk ${OTHER_PRACTICE_AGB} opnieuw versturen`);
    // An operator of the other practice only sees its own.
    const more = await insertDeadTrajectoryEvent(PRACTICE, 1);
    const theirs = await (await c.otherOperator.get('/console/operator/to-practices')).text();
    expect(buttonOf(theirs, PRACTICE)).toBeUndefined();
    expect(buttonOf(theirs, OTHER_PRACTICE_AGB)).toBeDefined();
    // …and replaying another practice's from its session sends nothing.
    expect((await c.otherOperator.post('/console/operator/to-practices/replay', { practice: PRACTICE })).status).toBe(
      303,
    );
    expect(await stateOf('trajectory_event', more)).toBe('dead');

    const res = await c.operator.post('/console/operator/to-practices/replay', { practice: OTHER_PRACTICE_AGB });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/operator/to-practices?replayed=all');
    expect(await stateOf('trajectory_event', ids.otherPractice)).toBe('pending');
    expect(await stateOf('trajectory_event', more)).toBe('dead');
    expect((await c.operator.post('/console/operator/to-practices/replay', { practice: 'x' })).status).toBe(400);
  });

  // An operator whose practice's HIS refused only the trajectory events (its FHIR endpoint for EpisodeOfCare was down)
  // could only replay both kinds at once, sending the status updates that would fail again with them.
  describe('limited to one kind', () => {
    const PRACTICE_3 = '01234569';
    const dead = { statusUpdates: [] as string[], trajectoryEvents: [] as string[] };
    beforeAll(async () => {
      dead.statusUpdates = await insertDeadStatusUpdates(PRACTICE_3, 2, 20);
      dead.trajectoryEvents = [
        await insertDeadTrajectoryEvent(PRACTICE_3, 15),
        await insertDeadTrajectoryEvent(PRACTICE_3, 14),
      ];
    });

    it('refuses an unknown kind with 400 naming `kind`', async () => {
      for (const kind of ['statusUpdates', 'feedback', '']) {
        const res = await replay({ practice: PRACTICE_3, kind });
        expect(res.status).toBe(400);
        const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
        expect(outcome.issue.map((i) => i.expression?.[0])).toEqual(['kind']);
      }
      expect(await stateOf('feedback', dead.statusUpdates[0] ?? '')).toBe('dead');
    });

    it('replays only the trajectory events with kind=trajectoryEvent, and counts only those as remaining', async () => {
      const first = await replay({ practice: PRACTICE_3, kind: 'trajectoryEvent', limit: 1 });
      expect(first.status).toBe(202);
      expect(await first.json()).toEqual({
        replayed: { statusUpdates: [], trajectoryEvents: dead.trajectoryEvents.slice(0, 1) },
        remaining: 1,
      });
      expect(await (await replay({ practice: PRACTICE_3, kind: 'trajectoryEvent' })).json()).toEqual({
        replayed: { statusUpdates: [], trajectoryEvents: dead.trajectoryEvents.slice(1) },
        remaining: 0,
      });
      for (const id of dead.statusUpdates) {
        expect(await stateOf('feedback', id)).toBe('dead');
      }
    });

    it('offers a button per kind on the console page, which replays that kind only', async () => {
      await insertDeadTrajectoryEvent(PRACTICE_3, 1);
      const page = await (await c.operator.get('/console/operator/to-practices')).text();
      const kindButton = (kind: string) =>
        new RegExp(
          `name="practice" value="${PRACTICE_3}" />\\s*<input type="hidden" name="kind" value="${kind}" />\\s*` +
            '<button type="submit">\\s*([^<]*?)\\s*</button>',
        ).exec(page)?.[1];
      expect(kindButton('statusUpdate')).toBe(
        `Alleen de statusberichten (2) aan praktijk ${PRACTICE_3} opnieuw versturen`,
      );
      expect(kindButton('trajectoryEvent')).toBe(
        `Alleen de trajectgebeurtenissen (1) aan praktijk ${PRACTICE_3} opnieuw versturen`,
      );

      const res = await c.operator.post('/console/operator/to-practices/replay', {
        practice: PRACTICE_3,
        kind: 'statusUpdate',
      });
      expect(res.status).toBe(303);
      for (const id of dead.statusUpdates) {
        expect(await stateOf('feedback', id)).toBe('pending');
      }
      const [left] = await db().query<{ n: number }>(
        `SELECT count(*)::int AS n FROM trajectory_event WHERE tenant = $1 AND state = 'dead'`,
        [PRACTICE_3],
      );
      expect(left?.n).toBe(1);
      const refused = await c.operator.post('/console/operator/to-practices/replay', {
        practice: PRACTICE_3,
        kind: 'x',
      });
      expect(refused.status).toBe(400);
    });
  });
});
