import { buildReferralEvent } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { usePausingDestination } from '../helpers/pausing-destination';
import { waitFor } from '../helpers/wait-for';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pausing a failing destination and resuming it', () => {
  // Many quick attempts, so that only a pause (not exhausted retries) explains jobs that stop being tried.
  const { h, status } = usePausingDestination(200);
  const destinationAudit = () =>
    h.app.rt.ctx.db.query<{ subtype: string; resource: { agent: { who: { identifier: { value: string } } }[] } }>(
      `SELECT subtype, resource::json AS resource FROM audit_event WHERE tenant = 'destination/gm0226' ORDER BY seq`,
    );
  /** The value of one series of the API's /metrics, `labels` as written there (`destination="gm0226",by="auto"`). */
  const metric = async (name: string, labels: string): Promise<number | undefined> => {
    const text = await (await fetch(`${h.app.url}/metrics`)).text();
    const value = new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  };
  /** Who has paused gm0226 as /metrics says: `jeugdbrug_destination_paused` per `by`. */
  const pausedBy = async () => ({
    operator: await metric('jeugdbrug_destination_paused', 'destination="gm0226",by="operator"'),
    auto: await metric('jeugdbrug_destination_paused', 'destination="gm0226",by="auto"'),
  });
  const operatorPost = (path: string, json?: unknown, key: 'operator' | 'practice' = 'operator') =>
    h.app.request(`/admin/v1/destinations/${path}`, { key, method: 'POST', ...(json ? { json } : {}) });
  /** Each event waits behind the pause: neither sent nor a dead letter. */
  const expectWaiting = async (ids: readonly string[]) => {
    for (const id of ids) {
      expect((await h.state(id)).state).toBe('decided');
    }
  };
  /** The receiver and its probe are back: each waiting event is delivered. */
  const deliveredOnceBack = async (ids: readonly string[]) => {
    h.receiver.probeStatus = 200;
    h.receiver.mode = { kind: 'ok' };
    for (const id of ids) {
      await h.reachesState(id, 'delivered');
    }
  };

  it('pauses after N consecutive failures, stops sending, and resumes by itself once a probe succeeds', async () => {
    h.receiver.mode = { kind: 'status', status: 503 };
    h.receiver.probeStatus = 503;
    const auditBefore = (await destinationAudit()).length;
    const ids = [await h.submit(buildReferralEvent()), await h.submit(buildReferralEvent())];
    const paused = await waitFor('the destination to pause', async () => {
      const s = await status();
      return s.paused && s.queuePaused ? s : undefined;
    });
    expect(paused.pausedBy).toBe('auto');
    expect(paused.consecutiveFailures).toBeGreaterThanOrEqual(3);
    // An outage, told apart from a planned pause: an alert pages on `by="auto"` only.
    expect(await pausedBy()).toEqual({ operator: 0, auto: 1 });
    expect(await metric('jeugdbrug_destination_up', 'destination="gm0226"')).toBe(0);
    expect(paused.pauseReason).toContain('HTTP 503');

    // Attempts in flight at the moment of pausing may still land; after that, nothing goes out.
    await sleep(300);
    const sent = h.receiver.deliveries.length;
    const probes = h.receiver.probes.length;
    await sleep(1200);
    expect(h.receiver.deliveries.length).toBe(sent);
    // Probed while paused (GET <base>/metadata), still down, so still paused; the events wait, attempts unspent.
    expect(h.receiver.probes.length).toBeGreaterThan(probes);
    expect(h.receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'GET', path: '/fhir/metadata' }));
    expect((await status()).paused).toBe(true);
    await expectWaiting(ids);

    await deliveredOnceBack(ids);
    const after = await status();
    expect(after).toEqual(expect.objectContaining({ paused: false, queuePaused: false, consecutiveFailures: 0 }));
    expect(await pausedBy()).toEqual({ operator: 0, auto: 0 });
    expect(after.lastProbeResult).toContain('up');
    const audit = (await destinationAudit()).slice(auditBefore);
    expect(audit.map((a) => a.subtype)).toEqual(['pause', 'resume']);
    expect(audit.every((a) => a.resource.agent[0]!.who.identifier.value === 'system/worker')).toBe(true);
  });

  it('counts a 404 on every delivery (the route missing) towards pausing, and keeps the events for the resume', async () => {
    // An OpenHIM core without the channel, a reverse proxy while the app is redeployed: nothing about one message.
    h.receiver.mode = { kind: 'status', status: 404 };
    h.receiver.probeStatus = 503;
    const ids = [await h.submit(buildReferralEvent()), await h.submit(buildReferralEvent())];
    const paused = await waitFor('the destination to pause', async () => {
      const s = await status();
      return s.paused ? s : undefined;
    });
    expect(paused.pauseReason).toContain('HTTP 404');
    await expectWaiting(ids);
    await deliveredOnceBack(ids);
  });

  it('does not count a message-level 4xx towards pausing', async () => {
    h.receiver.mode = { kind: 'status', status: 422 };
    const ids = await Promise.all([1, 2, 3, 4].map(() => h.submit(buildReferralEvent())));
    for (const id of ids) {
      await h.reachesState(id, 'dead');
    }
    expect(await status()).toEqual(expect.objectContaining({ paused: false, consecutiveFailures: 0 }));
  });

  it('replays the dead letters matching a filter up to its limit and says how many are left; the list counts them all', async () => {
    const since = new Date().toISOString();
    h.receiver.mode = { kind: 'status', status: 422 };
    const ids = await Promise.all([1, 2, 3].map(() => h.submit(buildReferralEvent())));
    for (const id of ids) {
      await h.reachesState(id, 'dead');
    }
    const list = await h.app.request(`/admin/v1/dead-letters?since=${encodeURIComponent(since)}&limit=1`, {
      key: 'operator',
    });
    expect(await list.json()).toEqual({ deadLetters: [expect.objectContaining({ lastStatus: 422 })], total: 3 });
    // A filter given twice is refused by name, as every query of the API refuses it.
    const twice = await h.app.request('/admin/v1/dead-letters?status=422&status=500', { key: 'operator' });
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression).toEqual(['status']);
    // Dead letters to a practice are status updates and trajectory events, not deliveries: the filter is refused by
    // name with where they are, rather than answered with an empty list while the metric counts them.
    for (const practiceFilter of [
      h.app.request('/admin/v1/dead-letters?destination=practice-01234567', { key: 'operator' }),
      h.app.request('/admin/v1/dead-letters/replay', {
        key: 'operator',
        method: 'POST',
        json: { destination: 'practice-01234567' },
      }),
    ]) {
      const refused = await practiceFilter;
      expect(refused.status).toBe(400);
      const issue = ((await refused.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] })
        .issue[0];
      expect(issue?.expression?.[0]).toMatch(/destination$/);
      expect(issue?.details?.text).toContain('GET /admin/v1/feedback');
      expect(issue?.details?.text).toContain('GET /admin/v1/trajectory-events');
    }

    h.receiver.mode = { kind: 'ok' };
    const replay = await h.app.request('/admin/v1/dead-letters/replay', {
      key: 'operator',
      method: 'POST',
      json: { since, limit: 2 },
    });
    expect(replay.status).toBe(202);
    const first = (await replay.json()) as { replayed: string[]; remaining: number };
    expect(first.replayed).toHaveLength(2);
    expect(first.remaining).toBe(1);
    const rest = await h.app.request('/admin/v1/dead-letters/replay', {
      key: 'operator',
      method: 'POST',
      json: { since },
    });
    expect(await rest.json()).toEqual({ replayed: [expect.any(String)], remaining: 0 });
    for (const id of ids) {
      await h.reachesState(id, 'delivered');
    }
  });

  it('lets an operator pause and resume a destination, audited, and no probe resumes an operator’s pause', async () => {
    expect((await operatorPost('gm0226/pause', undefined, 'practice')).status).toBe(403);
    expect((await operatorPost('nowhere/pause')).status).toBe(404);

    const auditBefore = (await destinationAudit()).length;
    const paused = await operatorPost('gm0226/pause', { reason: 'receiver maintenance' });
    expect(paused.status).toBe(200);
    const pausedAnswer = (await paused.json()) as { status: { pausedByPrincipal?: unknown } };
    expect(pausedAnswer).toEqual({
      changed: true,
      status: expect.objectContaining({ paused: true, pausedBy: 'operator', pauseReason: 'receiver maintenance' }),
    });
    const pausedStatus = pausedAnswer.status;
    expect(((await (await operatorPost('gm0226/pause')).json()) as { changed: boolean }).changed).toBe(false);

    // The receiver and its probe are fine; the destination stays paused all the same.
    const id = await h.submit(buildReferralEvent());
    await sleep(1200);
    expect((await h.state(id)).state).toBe('decided');
    expect((await status()).jobs.waiting).toBeGreaterThanOrEqual(1);
    // A planned pause, not an outage; the backlog it holds back ages meanwhile.
    expect(await pausedBy()).toEqual({ operator: 1, auto: 0 });
    const age = await metric('jeugdbrug_oldest_pending_delivery_age_seconds', 'destination="gm0226"');
    expect(age).toBeGreaterThanOrEqual(1);
    expect(age).toBeLessThan(60);

    const resumed = await operatorPost('gm0226/resume');
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as { changed: boolean }).changed).toBe(true);
    await h.reachesState(id, 'delivered');
    expect(await pausedBy()).toEqual({ operator: 0, auto: 0 });
    expect(await metric('jeugdbrug_oldest_pending_delivery_age_seconds', 'destination="gm0226"')).toBe(0);
    const audit = (await destinationAudit()).slice(auditBefore);
    expect(audit.map((a) => a.subtype)).toEqual(['pause', 'resume']);
    expect(audit.every((a) => a.resource.agent[0]!.who.identifier.value.includes('operator'))).toBe(true);
    // The status named who paused it, as the audit records the principal; the resume ends that too.
    expect(pausedStatus.pausedByPrincipal).toBe(audit[0]!.resource.agent[0]!.who.identifier.value);
    expect((await status()).pausedByPrincipal).toBeNull();
  });

  // A redelivery (or a replay) starts a new round: the backlog's age counts from then, not from the delivery's first
  // creation, or a redelivery from a backup hours old would read as deliveries waiting for hours.
  it('counts the backlog of a redelivered delivery from its new round', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'delivered');
    const db = h.app.rt.ctx.db;
    const [delivery] = await db.query<{ id: string }>(
      `UPDATE delivery SET created_at = now() - interval '3 hours' WHERE inbox_id = $1 RETURNING id`,
      [id],
    );
    expect((await operatorPost('gm0226/pause', { reason: 'receiver restores a backup' })).status).toBe(200);
    const redelivered = await h.app.request(`/admin/v1/deliveries/${delivery!.id}/redeliver`, {
      key: 'operator',
      json: { reason: 'the municipality restored a backup' },
    });
    expect(redelivered.status).toBe(202);
    const age = await metric('jeugdbrug_oldest_pending_delivery_age_seconds', 'destination="gm0226"');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(600);
    expect((await operatorPost('gm0226/resume')).status).toBe(200);
    await h.reachesState(id, 'delivered');
  });

  it('pauses the queue again when Redis loses the paused flag (PostgreSQL holds the pause)', async () => {
    expect((await operatorPost('gm0226/pause')).status).toBe(200);
    const queue = h.app.rt.ctx.queues.getDeliverQueue('gm0226');
    await queue.resume();
    await waitFor('the monitor to pause the queue again', () => queue.isPaused(), 10_000);
    expect((await operatorPost('gm0226/resume')).status).toBe(200);
    expect(await queue.isPaused()).toBe(false);
  });

  it('sends nothing for a paused destination while Redis has lost the paused flag, and sends it after the resume', async () => {
    expect((await operatorPost('gm0226/pause', { reason: 'receiver maintenance' })).status).toBe(200);
    const sent = h.receiver.deliveries.length;
    const id = await h.submit(buildReferralEvent());
    await waitFor('the delivery to wait in the paused queue', async () =>
      (await status()).jobs.waiting ? true : undefined,
    );
    // Redis restarted without its data, or failed over: the flag is gone, the job (re-added by the reconciler) runs.
    const queue = h.app.rt.ctx.queues.getDeliverQueue('gm0226');
    await queue.resume();
    await sleep(1000);
    expect(h.receiver.deliveries.length).toBe(sent);
    expect(await queue.isPaused()).toBe(true);
    const waiting = await status();
    expect(waiting.jobs.waiting).toBeGreaterThanOrEqual(1);
    expect((await h.state(id)).state).toBe('decided');

    expect((await operatorPost('gm0226/resume')).status).toBe(200);
    await h.reachesState(id, 'delivered');
    // No attempt was spent on the wait.
    const [delivery] = await h.app.rt.ctx.db.query<{ attempts: number }>(
      'SELECT attempts FROM delivery WHERE inbox_id = $1',
      [id],
    );
    expect(delivery?.attempts).toBe(1);
  });

  it('sends nothing of a referral the practice cancelled while it waited, nor its cancellation', async () => {
    expect((await operatorPost('gm0226/pause', { reason: 'receiver maintenance' })).status).toBe(200);
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await waitFor('the referral to wait in the paused queue', async () =>
      (await status()).jobs.waiting ? true : undefined,
    );
    const referralId = (referral.referral as { id: string }).id;
    const cancelId = await h.submit(
      buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } }),
    );

    expect((await operatorPost('gm0226/resume')).status).toBe(200);
    await h.reachesState(cancelId, 'completed');
    await h.reachesState(id, 'completed');
    expect((await h.state(id)).stateReason).toBe('cancelled by the practice before it was sent');
    // The municipality never had the referral, so a cancellation would only tell it about the child.
    expect((await h.state(cancelId)).stateReason).toBe(
      'not sent: the referral it cancels never reached the municipality',
    );
    for (const event of [id, cancelId]) {
      const delivery = await h.delivery(event);
      expect([delivery.state, delivery.attempts]).toEqual(['cancelled', 0]);
      expect(h.receiver.hitsFor(delivery.idempotency_key)).toEqual([]);
    }
  });

  it('sends the cancellation of a referral that went out once the referral has', async () => {
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');
    const referralId = (referral.referral as { id: string }).id;
    const cancelId = await h.submit(
      buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } }),
    );
    await h.reachesState(cancelId, 'delivered');
    expect(h.receiver.hitsFor((await h.delivery(cancelId)).idempotency_key)).toHaveLength(1);
  });

  it('sends the cancellation of a referral it never received: whether the municipality has it is unknown', async () => {
    const cancelId = await h.submit(
      buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: `ref-elsewhere-${Date.now()}` } }),
    );
    await h.reachesState(cancelId, 'delivered');
  });

  // The console's queue page replaced /admin/v1/dashboard; the dashboard's assertions hold for it.
  it('serves the queue page of the console to operators only', async () => {
    const practice = await openConsole(h.app, 'practice');
    expect((await practice.get('/console/operator')).status).toBe(403);
    // Without a session: no page, only the way to the sign-in form.
    const anonymous = await fetch(`${h.app.url}/console/operator`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/console/sign-in?back=%2Fconsole%2Foperator');
    const page = await (await openConsole(h.app, 'operator')).get('/console/operator');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    // The page lists the queues.
    expect(await page.text()).toMatch(/deliver\.gm0226/);
    expect((await h.app.request('/admin/v1/dashboard', { key: 'operator' })).status).toBe(404);
  });

  // The dashboard's `failed` count stayed at the number of dead letters ever, after all were replayed and delivered.
  it('counts a dead letter that was replayed and delivered nowhere: not in the console, not in BullMQ', async () => {
    h.receiver.mode = { kind: 'status', status: 422 };
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'dead');
    const operator = await openConsole(h.app, 'operator');
    const deadCell = async () =>
      /data-dead="deliver\.gm0226">(?:<a [^>]*>)?(\d+)/.exec(
        await (await operator.get('/console/operator')).text(),
      )?.[1];
    expect(Number(await deadCell())).toBeGreaterThanOrEqual(1);
    const failed = async () =>
      (
        (await (await h.app.request('/admin/v1/queues', { key: 'operator' })).json()) as {
          queues: { queue: string; state: string; count: number }[];
        }
      ).queues.find((q) => q.queue === 'deliver.gm0226' && q.state === 'failed')?.count;
    expect(await failed()).toBeGreaterThanOrEqual(1);

    h.receiver.mode = { kind: 'ok' };
    const replay = await operator.post('/console/operator/dead-letters/replay', { destination: 'gm0226' });
    expect(replay.status).toBe(303);
    await h.reachesState(id, 'delivered');
    expect(await deadCell()).toBe('0');
    expect(await failed()).toBe(0);
  });
});
