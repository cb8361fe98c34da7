import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { fhirProviders } from '../../src/http/fhir-router';
import { documentedRoutes } from '../../src/http/openapi/document';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

type Cell = [route: string, key: KeyName | null, expected: number];

describe('authorisation: every route × role × own and other tenant', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let ownEventId = '';
  let ownReferralId = '';
  let ownDeliveryId = '';
  let ownFeedbackId = '';

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    const referral = buildReferralEvent();
    ownReferralId = (referral.referral as { id: string }).id;
    const res = await app.request('/his/v1/events', { json: referral });
    ownEventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the event to be delivered', async () => {
      const v = (await (await app.request(`/his/v1/events/${ownEventId}`)).json()) as { state: string };
      return v.state === 'delivered';
    });
    ownDeliveryId = (
      await app.rt.ctx.db.query<{ id: string }>('SELECT id FROM delivery WHERE inbox_id = $1', [ownEventId])
    )[0]!.id;
    // A status update on the practice's referral (the rows below record `accepted` after it).
    const sent = await app.request(`/municipality/v1/referrals/${encodeURIComponent(ownReferralId)}/status`, {
      key: 'municipality',
      json: { status: 'received' },
    });
    ownFeedbackId = ((await sent.json()) as { id: string }).id;
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const requests: Record<string, () => { path: string; init?: RequestInit & { json?: unknown } }> = {
    'POST /his/v1/events (for practice 01234567)': () => ({
      path: '/his/v1/events',
      init: { json: buildReferralEvent() },
    }),
    'GET /his/v1/events/{id} of practice 01234567': () => ({ path: `/his/v1/events/${ownEventId}` }),
    'GET /his/v1/schema/generic-json': () => ({ path: '/his/v1/schema/generic-json' }),
    'GET /admin/v1/dead-letters': () => ({ path: '/admin/v1/dead-letters' }),
    'POST /admin/v1/dead-letters/replay': () => ({ path: '/admin/v1/dead-letters/replay', init: { json: {} } }),
    'GET /admin/v1/agreements': () => ({ path: '/admin/v1/agreements' }),
    'GET /admin/v1/queues': () => ({ path: '/admin/v1/queues' }),
    'GET /admin/v1/destinations/{id}/status of GM0226': () => ({ path: '/admin/v1/destinations/gm0226/status' }),
    'POST /admin/v1/destinations/{id}/end-pending of GM0226': () => ({
      path: '/admin/v1/destinations/gm0226/end-pending',
      init: { json: { reason: 'matrix' } },
    }),
    'POST /admin/v1/destinations/{id}/pause of GM0226': () => ({
      path: '/admin/v1/destinations/gm0226/pause',
      init: { json: { reason: 'matrix' } },
    }),
    'POST /admin/v1/destinations/{id}/resume of GM0226': () => ({
      path: '/admin/v1/destinations/gm0226/resume',
      init: { json: {} },
    }),
    'GET /fhir/Consent': () => ({
      path: '/fhir/Consent?patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|111222333',
    }),
    'POST /policy/v1/$explain for an event of practice 01234567': () => ({
      path: '/policy/v1/$explain',
      init: { json: { eventId: ownEventId } },
    }),
    'POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)': () => ({
      path: '/municipality/v1/trajectories/events',
      init: {
        json: {
          eventId: `gm-${Math.random().toString(36).slice(2)}`,
          type: 'intake',
          municipality: 'GM0226',
          practice: { agb: '01234567' },
          child: { bsn: '111222333', birthDate: '2013-05-01' },
          trajectory: { id: 'traj-matrix', startDate: '2026-10-01' },
          date: '2026-10-01',
        },
      },
    }),
    // Each key that gets through records another status; the first is 202, the municipality's own.
    'POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226': () => ({
      path: `/municipality/v1/referrals/${encodeURIComponent(ownReferralId)}/status`,
      init: { json: { status: 'accepted' } },
    }),
    'POST /fhir/Task on the referral delivered to GM0226': () => ({
      path: '/fhir/Task',
      init: {
        json: {
          resourceType: 'Task',
          status: 'accepted',
          intent: 'order',
          focus: { identifier: { value: ownReferralId } },
        },
      },
    }),
    'GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226': () => ({
      path: `/fhir/Task/${ownFeedbackId}`,
    }),
    'GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226': () => ({
      path: `/fhir/Task?focus:identifier=${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${ownReferralId}`)}`,
    }),
    'GET /admin/v1/trajectory-events': () => ({ path: '/admin/v1/trajectory-events' }),
    'POST /admin/v1/trajectory-events/{id}/replay of an unknown event': () => ({
      path: '/admin/v1/trajectory-events/00000000-0000-4000-8000-000000000000/replay',
      init: { json: {} },
    }),
    'POST /admin/v1/events/{id}/redecide of practice 01234567': () => ({
      path: `/admin/v1/events/${ownEventId}/redecide`,
      init: { json: {} },
    }),
    'POST /admin/v1/events/{id}/remap of practice 01234567': () => ({
      path: `/admin/v1/events/${ownEventId}/remap`,
      init: { json: {} },
    }),
    'POST /admin/v1/dead-letters/{id}/replay of a delivery of practice 01234567': () => ({
      path: `/admin/v1/dead-letters/${ownDeliveryId}/replay`,
      init: { json: {} },
    }),
    'POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567': () => ({
      path: `/admin/v1/deliveries/${ownDeliveryId}/redeliver`,
      init: { json: { reason: 'matrix' } },
    }),
    // A window before anything was delivered: the route's access, without sending anything.
    'POST /admin/v1/deliveries/redeliver to GM0226': () => ({
      path: '/admin/v1/deliveries/redeliver',
      init: {
        json: { destination: 'gm0226', from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z', reason: 'matrix' },
      },
    }),
    'POST /admin/v1/feedback/{id}/replay of a status update of practice 01234567': () => ({
      path: `/admin/v1/feedback/${ownFeedbackId}/replay`,
      init: { json: {} },
    }),
    'GET /health/ready': () => ({ path: '/health/ready' }),
    'GET /metrics': () => ({ path: '/metrics' }),
  };

  const cells: Cell[] = [
    ['POST /his/v1/events (for practice 01234567)', 'practice', 202],
    ['POST /his/v1/events (for practice 01234567)', 'otherPractice', 403],
    ['POST /his/v1/events (for practice 01234567)', 'municipality', 403],
    ['POST /his/v1/events (for practice 01234567)', 'auditor', 403],
    ['POST /his/v1/events (for practice 01234567)', 'operator', 403],
    ['POST /his/v1/events (for practice 01234567)', null, 401],
    ['GET /his/v1/events/{id} of practice 01234567', 'practice', 200],
    // Another practice's event is not found, as an unknown id is: ids of other practices are not its to learn.
    ['GET /his/v1/events/{id} of practice 01234567', 'otherPractice', 404],
    ['GET /his/v1/events/{id} of practice 01234567', 'municipality', 403],
    ['GET /his/v1/events/{id} of practice 01234567', 'auditor', 200],
    ['GET /his/v1/events/{id} of practice 01234567', 'operator', 200],
    ['GET /his/v1/events/{id} of practice 01234567', null, 401],
    ['GET /his/v1/schema/generic-json', 'practice', 200],
    ['GET /his/v1/schema/generic-json', 'municipality', 403],
    ['GET /admin/v1/dead-letters', 'operator', 200],
    ['GET /admin/v1/dead-letters', 'practice', 403],
    ['GET /admin/v1/dead-letters', 'municipality', 403],
    ['GET /admin/v1/dead-letters', 'auditor', 403],
    ['GET /admin/v1/dead-letters', null, 401],
    ['POST /admin/v1/dead-letters/replay', 'operator', 202],
    ['POST /admin/v1/dead-letters/replay', 'auditor', 403],
    ['POST /admin/v1/dead-letters/replay', 'practice', 403],
    ['GET /admin/v1/agreements', 'operator', 200],
    ['GET /admin/v1/agreements', 'practice', 403],
    ['GET /admin/v1/agreements', 'otherMunicipalityOperator', 200],
    ['GET /admin/v1/queues', 'operator', 200],
    ['GET /admin/v1/queues', 'otherMunicipalityOperator', 200],
    ['GET /admin/v1/queues', 'auditor', 403],
    // A destination is its municipality's: an operator of another municipality finds none (404, the attempt
    // recorded in the destination's chain: the test after the matrix). Paused by `operator`, resumed at once.
    ['GET /admin/v1/destinations/{id}/status of GM0226', 'operator', 200],
    ['GET /admin/v1/destinations/{id}/status of GM0226', 'otherMunicipalityOperator', 404],
    ['GET /admin/v1/destinations/{id}/status of GM0226', 'municipality', 403],
    ['POST /admin/v1/destinations/{id}/pause of GM0226', 'otherMunicipalityOperator', 404],
    ['POST /admin/v1/destinations/{id}/pause of GM0226', 'auditor', 403],
    // Configured: refused (409) to its operator; outside the scope of another municipality's, unknown (404).
    ['POST /admin/v1/destinations/{id}/end-pending of GM0226', 'operator', 409],
    ['POST /admin/v1/destinations/{id}/end-pending of GM0226', 'otherMunicipalityOperator', 404],
    ['POST /admin/v1/destinations/{id}/end-pending of GM0226', 'auditor', 403],
    ['POST /admin/v1/destinations/{id}/end-pending of GM0226', 'practice', 403],
    ['POST /admin/v1/destinations/{id}/resume of GM0226', 'otherMunicipalityOperator', 404],
    ['POST /admin/v1/destinations/{id}/resume of GM0226', 'practice', 403],
    ['GET /fhir/Consent', 'practice', 200],
    ['GET /fhir/Consent', 'otherPractice', 200],
    ['GET /fhir/Consent', 'auditor', 200],
    ['GET /fhir/Consent', 'operator', 200],
    ['GET /fhir/Consent', 'municipality', 403],
    ['GET /fhir/Consent', null, 401],
    ['POST /policy/v1/$explain for an event of practice 01234567', 'practice', 200],
    ['POST /policy/v1/$explain for an event of practice 01234567', 'otherPractice', 404],
    ['POST /policy/v1/$explain for an event of practice 01234567', 'auditor', 200],
    ['POST /policy/v1/$explain for an event of practice 01234567', 'municipality', 403],
    ['POST /policy/v1/$explain for an event of practice 01234567', null, 401],
    // The test agreement keeps the HIS as system of record: even a municipality that is a party gets 403 here
    // (tests/integration/trajectory-events.test.ts covers the agreement that lets it through).
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', 'municipality', 403],
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', 'otherMunicipality', 403],
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', 'practice', 403],
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', 'auditor', 403],
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', null, 401],
    // An operator's key acts for no municipality: it may read a referral's status, not set it or send trajectories.
    ['POST /municipality/v1/trajectories/events (for GM0226, practice 01234567)', 'operator', 403],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', 'municipality', 202],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', 'operator', 403],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', 'otherMunicipality', 404],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', 'practice', 403],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', 'auditor', 403],
    ['POST /municipality/v1/referrals/{id}/status of the referral delivered to GM0226', null, 401],
    ['POST /fhir/Task on the referral delivered to GM0226', 'operator', 403],
    ['POST /fhir/Task on the referral delivered to GM0226', 'practice', 403],
    ['POST /fhir/Task on the referral delivered to GM0226', null, 401],
    // Statuses are read by who sees the referral's: the municipality it reached, the practice (its auditors and
    // operators) within their practice scope. Another party's Task is not found, as an unknown id (the refusal on
    // record: fhir-task-read.test); its search finds nothing (the test after the matrix counts the matches).
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'municipality', 200],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'practice', 200],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'auditor', 200],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'operator', 200],
    [
      'GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226',
      'otherMunicipality',
      404,
    ],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'otherPractice', 404],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', 'otherOperator', 404],
    ['GET /fhir/Task/{id} of a status on the referral of practice 01234567 delivered to GM0226', null, 401],
    ['GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226', 'municipality', 200],
    ['GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226', 'practice', 200],
    [
      'GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226',
      'otherMunicipality',
      200,
    ],
    ['GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226', null, 401],
    ['GET /admin/v1/trajectory-events', 'operator', 200],
    ['GET /admin/v1/trajectory-events', 'municipality', 403],
    ['GET /admin/v1/trajectory-events', 'practice', 403],
    ['GET /admin/v1/trajectory-events', 'auditor', 403],
    ['POST /admin/v1/trajectory-events/{id}/replay of an unknown event', 'operator', 404],
    ['POST /admin/v1/trajectory-events/{id}/replay of an unknown event', 'municipality', 403],
    ['POST /admin/v1/trajectory-events/{id}/replay of an unknown event', 'practice', 403],
    ['POST /admin/v1/trajectory-events/{id}/replay of an unknown event', null, 401],
    // An operator acts only within its practice scope: another practice's event, delivery or status update is
    // answered as an unknown id is (the refusal on record: the test after the matrix). Delivered, the event is not
    // denied nor its delivery dead: an operator of every practice gets 409. (The status update goes to no practice
    // endpoint here and soon is a dead letter: the test after the matrix replays it.)
    ['GET /admin/v1/dead-letters', 'otherOperator', 200],
    ['POST /admin/v1/events/{id}/redecide of practice 01234567', 'operator', 409],
    ['POST /admin/v1/events/{id}/redecide of practice 01234567', 'otherOperator', 404],
    ['POST /admin/v1/events/{id}/redecide of practice 01234567', 'practice', 403],
    // Not failed: 409 to an operator of its practice; to another practice's operator it is no event at all.
    ['POST /admin/v1/events/{id}/remap of practice 01234567', 'operator', 409],
    ['POST /admin/v1/events/{id}/remap of practice 01234567', 'otherOperator', 404],
    ['POST /admin/v1/events/{id}/remap of practice 01234567', 'practice', 403],
    ['POST /admin/v1/dead-letters/{id}/replay of a delivery of practice 01234567', 'operator', 409],
    ['POST /admin/v1/dead-letters/{id}/replay of a delivery of practice 01234567', 'otherOperator', 404],
    ['POST /admin/v1/dead-letters/{id}/replay of a delivery of practice 01234567', 'auditor', 403],
    // Another practice's operator cannot tell the delivery exists; a role other than operator is refused first.
    ['POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567', 'otherOperator', 404],
    ['POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567', 'auditor', 403],
    ['POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567', 'practice', 403],
    ['POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567', 'municipality', 403],
    ['POST /admin/v1/deliveries/{id}/redeliver of a delivery of practice 01234567', null, 401],
    ['POST /admin/v1/deliveries/redeliver to GM0226', 'operator', 202],
    ['POST /admin/v1/deliveries/redeliver to GM0226', 'otherMunicipalityOperator', 404],
    ['POST /admin/v1/deliveries/redeliver to GM0226', 'auditor', 403],
    ['POST /admin/v1/deliveries/redeliver to GM0226', 'municipality', 403],
    ['POST /admin/v1/deliveries/redeliver to GM0226', 'practice', 403],
    ['POST /admin/v1/feedback/{id}/replay of a status update of practice 01234567', 'otherOperator', 404],
    ['POST /admin/v1/feedback/{id}/replay of a status update of practice 01234567', 'municipality', 403],
    ['GET /admin/v1/trajectory-events', 'otherOperator', 200],
    ['GET /health/ready', null, 200],
    ['GET /metrics', null, 200],
  ];

  it.each(cells)('%s as %s → %d', async (route, key, expected) => {
    const { path, init } = requests[route]!();
    const res = await app.request(path, { ...init, key });
    expect(res.status).toBe(expected);
    if (expected >= 400) {
      const body = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
      expect(body.resourceType).toBe('OperationOutcome');
      expect(body.issue.length).toBeGreaterThan(0);
      const expressions = body.issue.flatMap((i) => i.expression ?? []);
      // A refusal names what decided it: the credential (Authorization), or the field out of the caller's scope.
      if (expected === 401) {
        expect(expressions).toContain('Authorization');
      }
      if (expected === 403) {
        expect(expressions).not.toEqual([]);
      }
    }
  });

  it.each<[KeyName, boolean]>([
    ['municipality', true],
    ['practice', true],
    ['auditor', true],
    ['operator', true],
    ['otherMunicipality', false],
    ['otherPractice', false],
    ['otherOperator', false],
  ])("finds the referral's status Tasks by focus as %s: %s", async (key, finds) => {
    const { path } =
      requests['GET /fhir/Task?focus:identifier= of the referral of practice 01234567 delivered to GM0226']!();
    const res = await app.request(path, { key });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as { entry?: { resource: { id: string } }[] };
    const ids = (bundle.entry ?? []).map((e) => e.resource.id);
    expect(ids.includes(ownFeedbackId)).toBe(finds);
    if (!finds) {
      expect(ids).toEqual([]);
    }
  });

  it('tells a caller refused for its role the roles the route is for, and only roles it lets through', async () => {
    const path = `/municipality/v1/referrals/${encodeURIComponent(ownReferralId)}/status`;
    const refused = await app.request(path, { key: 'practice', json: { status: 'accepted' } });
    expect(refused.status).toBe(403);
    const issue = ((await refused.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] })
      .issue[0];
    expect(issue?.expression).toEqual(['Authorization']);
    expect(issue?.details?.text).toMatch(/for the roles municipality;/);
    // The same on the HIS side: only a practice sends events, though its operators and auditors read them.
    const post = await app.request('/his/v1/events', { key: 'municipality', json: {} });
    expect(post.status).toBe(403);
    expect(((await post.json()) as { issue: { details?: { text?: string } }[] }).issue[0]?.details?.text).toMatch(
      /for the roles practice;/,
    );
    // The GET of the same path is for operators too, and says so.
    const read = await app.request(path, { key: 'practice' });
    expect(read.status).toBe(403);
    expect(((await read.json()) as { issue: { details?: { text?: string } }[] }).issue[0]?.details?.text).toMatch(
      /for the roles municipality, operator;/,
    );
  });

  it("lists none of another practice's dead letters or status updates to an operator of one practice, and records its refused actions", async () => {
    // Made dead letters here, after the matrix: the delivery and the status update of practice 01234567.
    await app.rt.ctx.db.query(`UPDATE delivery SET state = 'dead' WHERE id = $1`, [ownDeliveryId]);
    await app.rt.ctx.db.query(`UPDATE feedback SET state = 'dead' WHERE id = $1`, [ownFeedbackId]);
    const list = async (key: KeyName) => {
      const dead = (await (await app.request('/admin/v1/dead-letters', { key })).json()) as {
        deadLetters: { id: string }[];
        total: number;
      };
      const feedback = (await (await app.request('/admin/v1/feedback', { key })).json()) as {
        feedback: { id: string }[];
      };
      return {
        dead: dead.deadLetters.map((d) => d.id),
        total: dead.total,
        feedback: feedback.feedback.map((f) => f.id),
      };
    };
    // (The matrix's `accepted` update is a dead letter of the practice's too by now.)
    expect(await list('operator')).toEqual({
      dead: [ownDeliveryId],
      total: 1,
      feedback: expect.arrayContaining([ownFeedbackId]),
    });
    expect(await list('otherOperator')).toEqual({ dead: [], total: 0, feedback: [] });
    // Replaying "all" replays only what is within the scope.
    const all = await app.request('/admin/v1/dead-letters/replay', { key: 'otherOperator', json: {} });
    expect(await all.json()).toEqual({ replayed: [], remaining: 0 });
    const refusedBefore = await refusals();
    for (const path of [
      `/admin/v1/dead-letters/${ownDeliveryId}/replay`,
      `/admin/v1/feedback/${ownFeedbackId}/replay`,
      `/admin/v1/events/${ownEventId}/redecide`,
      `/admin/v1/events/${ownEventId}/remap`,
    ]) {
      const res = await app.request(path, { key: 'otherOperator', json: {} });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    const [deadStill] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM delivery WHERE id = $1', [
      ownDeliveryId,
    ]);
    expect(deadStill?.state).toBe('dead');
    // Each refusal is recorded where the event's own reads are: in its practice's chain, outcome 4, naming it.
    const refused = await refusals();
    expect(refused.length - refusedBefore.length).toBe(4);
    for (const r of refused) {
      expect(r).toMatchObject({
        tenant: PRACTICE_AGB,
        outcome: '4',
        entities: expect.arrayContaining([`inbox/${ownEventId}`]),
      });
    }
  });

  it("shows an operator of other municipalities none of GM0226's agreements, destinations or queues, and records its refused actions on one", async () => {
    const list = async (key: KeyName) => {
      const agreements = (await (await app.request('/admin/v1/agreements', { key })).json()) as {
        agreements: { id: string }[];
      };
      const destinations = (await (await app.request('/admin/v1/destinations', { key })).json()) as {
        destinations: { id: string }[];
      };
      const statuses = (await (await app.request('/admin/v1/destinations/status', { key })).json()) as {
        destinations: { id: string }[];
      };
      const queues = (await (await app.request('/admin/v1/queues', { key })).json()) as {
        queues: { queue: string }[];
      };
      return {
        agreements: agreements.agreements.length,
        destinations: destinations.destinations.map((d) => d.id),
        statuses: statuses.destinations.map((d) => d.id),
        queues: [...new Set(queues.queues.map((q) => q.queue))],
      };
    };
    expect(await list('operator')).toEqual({
      agreements: 1,
      destinations: ['gm0226'],
      statuses: ['gm0226'],
      queues: ['map', 'deliver.gm0226', 'feedback'],
    });
    // Its practice has no agreement here, nor its municipality a destination: nothing of GM0226's is listed. The
    // shared stage queues (map, feedback) hold every practice's jobs and cannot be split: they stay, as totals.
    expect(await list('otherMunicipalityOperator')).toEqual({
      agreements: 0,
      destinations: [],
      statuses: [],
      queues: ['map', 'feedback'],
    });
    const chain = () =>
      app.rt.ctx.db.query<{ outcome: string; agents: string[]; entities: string[] }>(
        `SELECT outcome, agents, entities FROM audit_event WHERE tenant = 'destination/gm0226'
         AND 'https://jeugdbrug.nl/principal|api-key:othermunicipalityoperator' = ANY(agents) ORDER BY seq`,
      );
    const before = (await chain()).length;
    const res = await app.request('/admin/v1/destinations/gm0226/pause', {
      key: 'otherMunicipalityOperator',
      json: { reason: 'not mine' },
    });
    expect(res.status).toBe(404);
    const status = (await (await app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' })).json()) as {
      paused: boolean;
    };
    expect(status.paused).toBe(false);
    const refused = (await chain()).slice(before);
    expect(refused).toEqual([
      expect.objectContaining({ outcome: '4', entities: expect.arrayContaining(['destination/gm0226']) }),
    ]);
  });

  async function refusals(): Promise<{ tenant: string; outcome: string; entities: string[] }[]> {
    return app.rt.ctx.db.query(
      `SELECT tenant, outcome, entities FROM audit_event WHERE outcome = '4'
       AND 'https://jeugdbrug.nl/principal|api-key:otheroperator' = ANY(agents) ORDER BY seq`,
    );
  }

  it.each([
    ['an unknown API key', 'Bearer jb_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a tampered API key', 'tamper'],
    ['a malformed bearer token', 'Bearer not.a.jwt'],
    ['an unsupported scheme', 'Basic dXNlcjpwYXNz'],
  ])('answers %s with 401 and an OperationOutcome', async (_what, authorization) => {
    const header = authorization === 'tamper' ? `Bearer ${app.testEnv.keys.practice.slice(0, -2)}xx` : authorization;
    const res = await app.request('/his/v1/schema/generic-json', { key: null, headers: { authorization: header } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('audits a refusal with the principal and outcome 4', async () => {
    // (Reading its event by id is no longer a 403 but a 404, recorded in its own chain: event-reads-audited.test.)
    // Only this request's refusal: the matrix's refused reads of practice 01234567's data are in that one's chain.
    await app.rt.ctx.audit.flush();
    const since = new Date();
    const res = await app.request('/his/v1/events', { key: 'otherPractice', json: buildReferralEvent() });
    expect(res.status).toBe(403);
    const rows = await waitFor('the refusal audit', () =>
      app.rt.ctx.db
        .query<{ outcome: string; agents: string[]; tenant: string }>(
          `SELECT outcome, agents, tenant FROM audit_event WHERE type = '110113' AND outcome = '4'
           AND 'https://jeugdbrug.nl/principal|api-key:otherpractice' = ANY(agents) AND recorded >= $1`,
          [since],
        )
        .then((r) => (r.length > 0 ? r : undefined)),
    );
    expect(rows[0]!.tenant).toBe('07654321');
  });

  // Answers hold a child's data (a timeline, consents, an overview) or say who may see it: no cache along the way
  // (a proxy, the browser's disk) keeps them. Only what describes the service, and holds no data, may differ.
  const PUBLIC = /^\/(health|metrics|docs|openapi\.json)(\/|$)/;
  it('sends Cache-Control: no-store with every answer of every route but the public ones, for every role', async () => {
    const keys: KeyName[] = ['practice', 'auditor', 'operator', 'municipality'];
    const missing: string[] = [];
    for (const { method, path } of documentedRoutes(fhirProviders(app.rt.ctx))) {
      if (PUBLIC.test(path)) {
        continue;
      }
      const url = path.replace('/his/v1/events/{id}', `/his/v1/events/${ownEventId}`).replace(/\{[^}]+\}/g, 'x-1');
      for (const key of keys) {
        const init = method === 'get' ? {} : { method: method.toUpperCase(), json: {} };
        const res = await app.request(url, { ...init, key });
        if (res.headers.get('cache-control') !== 'no-store') {
          missing.push(`${method.toUpperCase()} ${url} as ${key} (${res.status}): ${res.headers.get('cache-control')}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it.each<[string, KeyName]>([
    ['/fhir/Consent?patient=111222333', 'practice'],
    ['/audit/v1/overview?patient=111222333', 'auditor'],
    ['/his/v1/events/{id}', 'practice'],
  ])('answers %s with its data and Cache-Control: no-store', async (url, key) => {
    const res = await app.request(url.replace('{id}', ownEventId), { key });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('sends no CORS headers to a browser origin that is not configured', async () => {
    const res = await app.request('/health/live', { key: null, headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
