import fs from 'node:fs';
import { finishDelivery } from '../../src/event/event-store';
import { buildContactEvent } from '../helpers/builders';
import { insertInboxRows } from '../helpers/inbox-rows';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { processMapJob } from '../../src/event/map';

const REASON = 'gm0999 replaced by gm0226 (ticket OPS-1234)';

// A destination taken out of CONFIG_DIR while deliveries to it waited was named (start-up, config:check, metric,
// alert), but the only way to end those deliveries was to configure it again. An operator now ends them, audited.
describe('ending the pending deliveries of a destination no longer configured', () => {
  let app: TestApp;
  let operator: ConsoleClient;
  let removed: string[];
  let kept: string[];

  const db = () => app.rt.ctx.db;
  const post = (destination: string, json: unknown, key: 'operator' | 'practice' = 'operator') =>
    app.request(`/admin/v1/destinations/${destination}/end-pending`, { key, json });
  const unconfiguredSeries = async (destination: string): Promise<number> => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const m = new RegExp(
      `^jeugdbrug_unconfigured_destination_pending_deliveries\\{destination="${destination}"\\} (\\S+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };
  const insertPending = async (destination: string, n: number): Promise<string[]> => {
    const inboxIds = await insertInboxRows(db(), 'decided', n);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, pending_since)
       SELECT gen_random_uuid(), inbox_id, $2, gen_random_uuid()::text, 'pending', now() - interval '1 hour'
       FROM unnest($1::uuid[]) AS x(inbox_id)`,
      [inboxIds, destination],
    );
    return inboxIds;
  };

  beforeAll(async () => {
    // Configured: gm0226 only; no workers, so gm0226's delivery stays pending for the test to see.
    app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
    removed = await insertPending('gm0999', 3);
    kept = await insertPending('gm0226', 1);
    operator = await openConsole(app, 'operator');
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  it('refuses a configured destination with a 409 that names it, and ends nothing', async () => {
    const res = await post('gm0226', { reason: REASON });
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as {
      resourceType: string;
      issue: { details?: { text?: string }; expression?: string[] }[];
    };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.details?.text).toMatch(/^destination gm0226 is configured/);
    expect(outcome.issue[0]?.expression).toEqual(['id']);
    const [d] = await db().query<{ state: string }>(`SELECT state FROM delivery WHERE inbox_id = $1`, [kept[0]]);
    expect(d?.state).toBe('pending');
  });

  it('refuses a request without a reason with an OperationOutcome naming the field', async () => {
    const res = await post('gm0999', { reason: 'Gemeente overgestapt', extra: 1 });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.expression?.[0]).toBe('extra');
    // The reason is held to the acknowledgement's rule (two words, 12 characters), refused with its codes.
    for (const [body, code] of [
      [{}, 'reason-missing'],
      [{ reason: '   ' }, 'reason-missing'],
      [{ reason: 'x' }, 'reason-too-short'],
      [{ reason: 'twelvecharsxx' }, 'reason-too-short'],
    ] as const) {
      const refused = await post('gm0999', body);
      expect(refused.status).toBe(422);
      const { issue } = (await refused.json()) as {
        issue: { expression?: string[]; details?: { coding?: { code?: string }[] } }[];
      };
      expect(issue[0]?.expression).toEqual(['reason']);
      expect(issue[0]?.details?.coding?.[0]?.code).toBe(code);
    }
    expect(await unconfiguredSeries('gm0999')).toBe(3);
  });

  it('is for operators only, and 404 for a destination that holds nothing', async () => {
    expect((await post('gm0999', { reason: REASON }, 'practice')).status).toBe(403);
    const unknown = await post('gm0777', { reason: REASON });
    expect(unknown.status).toBe(404);
    // Named, so that an operator tells a typo from deliveries already ended.
    expect(await unknown.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'not-found', expression: ['id'], details: { text: expect.stringContaining('gm0777') } }],
    });
  });

  it('offers the operator console a form for it, with a required reason and CSRF', async () => {
    const page = await (await operator.get('/console/operator/destinations')).text();
    expect(page).toContain('action="/console/operator/destinations/gm0999/end-pending"');
    expect(page).toMatch(/name="reason"[^>]*required/);
    // Without a reason: refused, nothing ended.
    const missing = await operator.post('/console/operator/destinations/gm0999/end-pending', {});
    expect(missing.status).toBe(422);
    // A reason too short to say anything is refused as the API refuses it.
    const short = await operator.post('/console/operator/destinations/gm0999/end-pending', { reason: 'x' });
    expect(short.status).toBe(422);
    // Without the session's CSRF token: refused.
    const forged = await operator.post('/console/operator/destinations/gm0999/end-pending', {
      reason: REASON,
      _csrf: 'forged',
    });
    expect(forged.status).toBe(403);
    expect(await unconfiguredSeries('gm0999')).toBe(3);
  });

  it('ends them as cancelled, the event failed with a reason the practice sees, audited per practice', async () => {
    const res = await operator.submit('/console/operator/destinations/gm0999/end-pending', { reason: REASON });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('gm0999');
    const deliveries = await db().query<{ state: string }>(
      `SELECT state FROM delivery WHERE inbox_id = ANY($1::uuid[])`,
      [removed],
    );
    expect(deliveries.map((d) => d.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const events = await db().query<{ state: string; state_reason: string }>(
      `SELECT state, state_reason FROM inbox WHERE id = ANY($1::uuid[])`,
      [removed],
    );
    for (const e of events) {
      expect(e).toEqual({
        state: 'failed',
        state_reason: 'not sent: destination gm0999 is no longer configured; ended by operator',
      });
    }
    // The practice reads it in its own API, not only the operator.
    const listed = (await (await app.request(`/his/v1/events/${removed[0]}`, { key: 'practice' })).json()) as {
      state?: string;
      stateReason?: string;
    };
    expect(listed).toMatchObject({ state: 'failed', stateReason: expect.stringContaining('gm0999') });
    // The configured destination's delivery is left alone.
    const [other] = await db().query<{ state: string }>(`SELECT state FROM delivery WHERE inbox_id = $1`, [kept[0]]);
    expect(other?.state).toBe('pending');
    expect(await unconfiguredSeries('gm0999')).toBe(0);

    // Each event's practice chain records it, with the operator's reason; the destination's chain the count.
    const audited = await db().query<{ tenant: string; resource: string }>(
      `SELECT tenant, resource::text AS resource FROM audit_event WHERE subtype LIKE '%end-pending%' ORDER BY seq`,
    );
    const ofPractice = audited.filter((a) => a.tenant === '01234567');
    expect(ofPractice).toHaveLength(3);
    for (const id of removed) {
      expect(ofPractice.some((a) => a.resource.includes(`inbox/${id}`) && a.resource.includes(REASON))).toBe(true);
    }
    expect(audited.filter((a) => a.tenant === 'destination/gm0999')).toHaveLength(1);

    // The log names the destination and the count, never the operator's words.
    const log = fs.readFileSync(app.testEnv.logFile, 'utf8');
    expect(log).toMatch(/"destination":"gm0999".*"ended":3/);
    expect(log).not.toContain('OPS-1234');
  });

  it('answers a second request 404: nothing is pending there any more', async () => {
    const res = await post('gm0999', { reason: REASON });
    expect(res.status).toBe(404);
  });

  // An event with deliveries to two destinations (a consent event's withdrawal notices): ending the one to the removed
  // destination marked the event `failed` while the other still waited, and that one, delivered later, could not move
  // it on (the deliver stage moves an event only from `decided`): the practice read "not sent" for what went out. An
  // event with a delivery under way is `decided` (redelivered, withdrawalNoticeLater); the last one's finish decides.
  it('leaves an event decided while its delivery to another destination waits; ending the last one fails it', async () => {
    const stateOf = async (id: string) =>
      (
        await db().query<{ state: string; state_reason: string | null }>(
          'SELECT state, state_reason FROM inbox WHERE id = $1',
          [id],
        )
      )[0];
    const [event] = await insertPending('gm0888', 1);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, pending_since)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'pending', now())`,
      [event],
    );
    const first = await post('gm0888', { reason: REASON });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { ended: string[] }).ended).toHaveLength(1);
    const states = await db().query<{ destination: string; state: string }>(
      'SELECT destination, state FROM delivery WHERE inbox_id = $1 ORDER BY destination',
      [event],
    );
    expect(states).toEqual([
      { destination: 'gm0226', state: 'pending' },
      { destination: 'gm0888', state: 'cancelled' },
    ]);
    // Still under way; its history says why the one delivery ended, for the practice to read.
    expect(await stateOf(event ?? '')).toEqual({
      state: 'decided',
      state_reason: 'not sent: destination gm0888 is no longer configured; ended by operator',
    });
    // The other delivery's own finish then moves it, as the deliver stage finishes a delivery the receiver accepted.
    const [other] = await db().query<{ id: string }>(
      `SELECT id FROM delivery WHERE inbox_id = $1 AND destination = 'gm0226'`,
      [event],
    );
    await finishDelivery(db(), {
      deliveryId: other?.id ?? '',
      inboxId: event ?? '',
      deliveryState: 'delivered',
      step: 'delivered',
      reason: 'delivered',
    });
    expect((await stateOf(event ?? ''))?.state).toBe('delivered');

    // An event whose last waiting delivery is ended fails, as one with a single delivery does.
    const [another] = await insertPending('gm0888', 1);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, pending_since)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'cancelled', now())`,
      [another],
    );
    expect((await post('gm0888', { reason: REASON })).status).toBe(200);
    expect((await stateOf(another ?? ''))?.state).toBe('failed');
  });

  it('logs the state each event got: dead when another of its deliveries is a dead letter, failed, or decided', async () => {
    const withOther = async (state: 'dead' | 'pending' | null): Promise<string> => {
      const [event] = await insertPending('gm0777', 1);
      if (state) {
        await db().query(
          `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, last_error, pending_since)
           VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, $2, 'HTTP 422; refused', now())`,
          [event, state],
        );
      }
      return event!;
    };
    const dead = await withOther('dead');
    const failed = await withOther(null);
    const underWay = await withOther('pending');
    expect((await post('gm0777', { reason: REASON })).status).toBe(200);
    const [row] = await db().query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [dead]);
    expect(row?.state).toBe('dead');
    const logged = (id: string) =>
      fs
        .readFileSync(app.testEnv.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(id) && l.includes('"stage":"end-pending"'))
        .map((l) => (JSON.parse(l) as { state: string }).state);
    expect({ dead: logged(dead), failed: logged(failed), underWay: logged(underWay) }).toEqual({
      dead: ['dead'],
      failed: ['failed'],
      underWay: ['decided'],
    });
  });

  it("takes the practice's resend of an event it ended again, and maps and sends it anew", async () => {
    // The practice reads "ended by operator" and sends the same event again (the same eventId and body), as the
    // changelog and the runbook say it may: it is accepted again and goes to the destination configured now.
    const event = buildContactEvent();
    const first = await app.request('/his/v1/events', { json: event });
    const [{ id }] = ((await first.json()) as { receipts: [{ id: string }] }).receipts;
    // As if decided while gm0888 served the municipality, then taken out of the configuration.
    await db().query(`UPDATE inbox SET state = 'decided' WHERE id = $1`, [id]);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, pending_since)
       VALUES (gen_random_uuid(), $1, 'gm0888', 'key-of-gm0888', 'pending', now())`,
      [id],
    );
    expect((await post('gm0888', { reason: REASON })).status).toBe(200);
    const resend = async () =>
      ((await (await app.request('/his/v1/events', { json: event })).json()) as { receipts: { status: string }[] })
        .receipts[0];

    expect(await resend()).toMatchObject({ status: 'accepted', id });
    const [row] = await db().query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
    expect(row?.state).toBe('received');
    expect(await processMapJob(app.rt.ctx, { inboxId: id, traceId: 'resend' })).toBe('decided');
    const deliveries = await db().query<{ destination: string; state: string; idempotency_key: string }>(
      'SELECT destination, state, idempotency_key FROM delivery WHERE inbox_id = $1 ORDER BY created_at',
      [id],
    );
    expect(deliveries).toEqual([
      { destination: 'gm0888', state: 'cancelled', idempotency_key: 'key-of-gm0888' },
      { destination: 'gm0226', state: 'pending', idempotency_key: expect.not.stringMatching(/^key-of-gm0888$/) },
    ]);
    const history = await db().query<{ state: string }>(
      'SELECT state FROM inbox_history WHERE inbox_id = $1 ORDER BY id',
      [id],
    );
    expect(history.map((h) => h.state).slice(-4)).toEqual(['failed', 'received', 'mapped', 'decided']);
    // Audited as a receipt again, as the resend of an unacknowledged event is.
    const receipts = await db().query(
      `SELECT 1 FROM audit_event WHERE type = 'rest' AND subtype = 'create' AND $1 = ANY(entities)`,
      [`inbox/${id}`],
    );
    expect(receipts).toHaveLength(2);
    // Once on its way again, a further resend is a plain duplicate.
    expect(await resend()).toMatchObject({ status: 'duplicate', id });
  });

  it('sends a resend again to a destination configured again under the id it was ended for', async () => {
    // Ended while gm0226 was out of the configuration; configured again since, under the same id.
    const event = buildContactEvent();
    const first = await app.request('/his/v1/events', { json: event });
    const [{ id }] = ((await first.json()) as { receipts: [{ id: string }] }).receipts;
    await db().query(
      `UPDATE inbox SET state = 'failed', state_reason = 'not sent: destination gm0226 is no longer configured; ' ||
         'ended by operator' WHERE id = $1`,
      [id],
    );
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, attempts)
       VALUES (gen_random_uuid(), $1, 'gm0226', $2, 'cancelled', 1)`,
      [id, `key-of-gm0226-${id}`],
    );
    const again = await app.request('/his/v1/events', { json: event });
    expect(((await again.json()) as { receipts: { status: string }[] }).receipts[0]).toMatchObject({
      status: 'accepted',
    });
    expect(await processMapJob(app.rt.ctx, { inboxId: id, traceId: 'resend' })).toBe('decided');
    // The delivery it was ended with gets a new round, pending, under its key (the receiver may have seen it).
    const deliveries = await db().query<{ state: string; round: number; attempts: number; idempotency_key: string }>(
      'SELECT state, round, attempts, idempotency_key FROM delivery WHERE inbox_id = $1',
      [id],
    );
    expect(deliveries).toEqual([{ state: 'pending', round: 1, attempts: 0, idempotency_key: `key-of-gm0226-${id}` }]);
  });
});
