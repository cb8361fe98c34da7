import { randomUUID } from 'node:crypto';
import { OTHER_PRACTICE_AGB } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';

// A municipality's status update or trajectory event that could not reach the practice's HIS is a dead letter too.
// The queues page counted them (feedback: "2") but nothing linked there, the dead-letter page listed only deliveries
// to municipalities, and replaying them took curl (GET /admin/v1/feedback, POST …/replay). Now they are listed, and
// replayed from the console, audited as the API's replays are.
describe("the console's dead letters to practices: status updates and trajectory events, listed and replayed", () => {
  const h = useConsoleApp(['operator', 'otherOperator']);
  const c = h.consoles;
  const db = () => h.app.rt.ctx.db;
  const ids = { feedback: '', trajectory: '' };

  beforeAll(async () => {
    const [inboxId] = await insertInboxRows(db(), 'delivered', 1);
    ids.feedback = randomUUID();
    await db().query(
      `INSERT INTO feedback (id, inbox_id, tenant, municipality, status, service_request_status, task, submitted_by,
         idempotency_key, state, attempts, last_status, last_error)
       VALUES ($1, $2, '01234567', 'GM0226', 'accepted', 'active', '{}', 'api-key:municipality', $3, 'dead', 4,
         NULL, 'network error: ECONNREFUSED')`,
      [ids.feedback, inboxId, randomUUID()],
    );
    ids.trajectory = randomUUID();
    await db().query(
      `INSERT INTO trajectory_event (id, tenant, municipality, source_event_id, event_type, submitted_by, decision,
         decision_reason, idempotency_key, state, attempts, last_status, last_error, trace_id)
       VALUES ($1, $2, 'GM0226', 'gm-intake-2', 'intake', 'api-key:municipality', 'permit', 'permitted-by-consent',
         $3, 'dead', 4, 503, 'HTTP 503', 't')`,
      [ids.trajectory, OTHER_PRACTICE_AGB, randomUUID()],
    );
  });

  const text = async (path: string) => {
    const res = await c.operator.get(path);
    expect(res.status).toBe(200);
    return res.text();
  };

  it("links the feedback queue's dead count to the list", async () => {
    const queues = await text('/console/operator');
    expect(queues).toMatch(/<td data-dead="feedback"><a href="\/console\/operator\/to-practices">2<\/a><\/td>/);
  });

  it('lists each dead status update and trajectory event with its practice, what it is and the last answer', async () => {
    const page = await text('/console/operator/to-practices');
    const rowOf = (id: string) =>
      new RegExp(`<tr>((?:(?!</tr>)[\\s\\S])*?${id}/replay[\\s\\S]*?)</tr>`).exec(page)?.[1];
    const status = rowOf(`feedback/${ids.feedback}`) ?? '';
    expect(status).toContain('01234567');
    expect(status).toContain('GM0226');
    expect(status).toContain('Aangenomen door de gemeente');
    expect(status).toContain('network error: ECONNREFUSED');
    const trajectory = rowOf(`trajectory-events/${ids.trajectory}`) ?? '';
    expect(trajectory).toContain(OTHER_PRACTICE_AGB);
    expect(trajectory).toContain('gm-intake-2');
    expect(trajectory).toContain('HTTP 503');
  });

  it("holds an operator of one practice to it: only its practice's, and another's replay is a 404", async () => {
    const page = await (await c.otherOperator.get('/console/operator/to-practices')).text();
    expect(page).not.toContain(`feedback/${ids.feedback}/replay`);
    expect(page).toContain(`trajectory-events/${ids.trajectory}/replay`);
    expect((await c.otherOperator.post(`/console/operator/feedback/${ids.feedback}/replay`, {})).status).toBe(404);
    // Its queues page counts the dead letters to its practice only (the queue's own counts are totals).
    const queues = await (await c.otherOperator.get('/console/operator')).text();
    expect(queues).toMatch(/<td data-dead="feedback"><a href="\/console\/operator\/to-practices">1<\/a><\/td>/);
  });

  it('replays each, audited as the API audits a replay, and says when one is not dead any more', async () => {
    for (const [path, table, target] of [
      [`/console/operator/feedback/${ids.feedback}/replay`, 'feedback', `Task/${ids.feedback}`],
      [
        `/console/operator/trajectory-events/${ids.trajectory}/replay`,
        'trajectory_event',
        `trajectory_event/${ids.trajectory}`,
      ],
    ] as const) {
      const res = await c.operator.post(path, {});
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/console/operator/to-practices?replayed=1');
      const [row] = await db().query<{ state: string; round: number }>(
        `SELECT state, round FROM ${table} WHERE id = $1`,
        [path.split('/')[4]],
      );
      expect(row).toEqual({ state: 'pending', round: 1 });
      await h.app.rt.ctx.audit.flush();
      const [audit] = await db().query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_event WHERE type = '110100' AND entities @> ARRAY[$1]
           AND agents @> ARRAY['https://jeugdbrug.nl/principal|api-key:operator']`,
        [target],
      );
      expect(audit?.n).toBe(1);
      const again = await c.operator.post(path, {});
      expect(again.status).toBe(409);
    }
    expect(await text('/console/operator/to-practices?replayed=1')).toContain('Opnieuw verstuurd');
  });

  it('answers an id that is none with 404', async () => {
    expect((await c.operator.post(`/console/operator/feedback/${randomUUID()}/replay`, {})).status).toBe(404);
    expect((await c.operator.post('/console/operator/trajectory-events/not-a-uuid/replay', {})).status).toBe(404);
  });
});
