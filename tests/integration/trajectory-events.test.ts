import type { Bundle, Encounter, EpisodeOfCare } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { purgeExpired } from '../../src/event/retention';
import {
  buildAgreement,
  buildConsentEvent,
  buildContactEvent,
  buildDestination,
  buildReferralEvent,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
  randomBsn,
} from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { openConsole } from '../helpers/console-client';
import { waitFor } from '../helpers/wait-for';
import { expectOverviewToShowWhatSearchFinds } from '../helpers/overview-vs-search';
import { trajectoryEventSchema } from '../../mappings/practice/trajectory-event';
import type { PipelineContext } from '../../src/event/context';
import { receiveTrajectoryEvent } from '../../src/event/trajectory-events';
import { reconcileOnce } from '../../src/event/reconciler';
import { trajectoryEventReceived } from '../../src/audit/audit-events';
import { DeliveryReceiver, type Hit } from '../helpers/delivery-receiver';
import { getPseudonymiser } from '../../src/event/report-pseudonym';
import { TERMINAL_STATES } from '../../src/event/states';

const OUTCOME_EXTENSION = 'https://jeugdbrug.nl/fhir/StructureDefinition/trajectory-outcome';
/** A third practice, whose HIS takes signed webhook notifications. */
const WEBHOOK_PRACTICE_AGB = '76543210';
const HOOK_SECRET = 'practice-hook-secret-for-trajectory-tests';
process.env.TEST_TRAJECTORY_HOOK_SECRET = HOOK_SECRET;

interface EventView {
  id: string;
  eventId: string;
  decision: { effect: string; reasons?: string[] };
  delivery: { state: string };
}

let seq = 0;

/** A trajectory event as a municipality's system sends it; every call gets a fresh event id. */
function trajectoryEvent(
  type: 'intake' | 'contact' | 'referral' | 'closure',
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  seq++;
  return {
    eventId: `gm-${Date.now().toString(36)}-${seq}`,
    type,
    municipality: MUNICIPALITY,
    practice: { agb: PRACTICE_AGB },
    child: { bsn: '111222333', birthDate: '2013-05-01' },
    trajectory: { id: 'traj-1', startDate: '2026-10-01' },
    date: '2026-10-01',
    helpQuestion: 'parenting',
    ...(type === 'contact'
      ? { contact: { mode: '1', durationMinutes: 45, interventions: ['psycho-education'] }, date: '2026-10-08' }
      : {}),
    ...(type === 'referral' ? { referral: { id: 'gm-ref-1', target: 'youth-care-provider' }, date: '2026-10-20' } : {}),
    ...(type === 'closure' ? { outcome: 'closed-without-referral', date: '2026-11-15' } : {}),
    ...overrides,
  };
}

describe('the reverse direction: a municipality-registered trajectory reaches the practice’s HIS', () => {
  let municipality: DeliveryReceiver;
  let practiceHis: DeliveryReceiver;
  let practiceHook: DeliveryReceiver;
  let app: TestApp;
  const testEnv = createTestEnv();

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practiceHis = await new DeliveryReceiver().start();
    practiceHook = await new DeliveryReceiver().start();
    practiceHook.webhookSecret = HOOK_SECRET;
    const toPractice = {
      purpose: 'contact-registration' as const,
      dataClasses: {
        // Encounter.length is left out on purpose: the contact's duration must not reach the practice.
        EpisodeOfCare: {
          fields: ['identifier', 'status', 'type', 'patient', 'period', OUTCOME_EXTENSION],
        },
        Encounter: { fields: ['identifier', 'status', 'class', 'type', 'subject', 'episodeOfCare', 'period'] },
        ServiceRequest: { fields: ['identifier', 'status', 'intent', 'code', 'subject', 'performerType'] },
      },
    };
    const ofRecord = { employer: 'social-team' as const, systemOfRecord: 'municipality' as const };
    app = await startTestApp({
      testEnv,
      registry: buildRegistry({
        agreements: [
          buildAgreement({ professional: ofRecord, toPractice }),
          buildAgreement({
            id: 'webhook-practice',
            practice: { agb: WEBHOOK_PRACTICE_AGB },
            professional: ofRecord,
            toPractice,
          }),
          // The other practice's professional registers in its HIS: nothing may flow back to it.
          buildAgreement({ id: 'his-of-record', practice: { agb: OTHER_PRACTICE_AGB } }),
        ],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [
          { agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceHis.url('/his/fhir'), auth: { type: 'none' } },
          {
            agb: OTHER_PRACTICE_AGB,
            adapter: 'fhir-rest',
            baseUrl: practiceHis.url('/other/fhir'),
            auth: { type: 'none' },
          },
          {
            agb: WEBHOOK_PRACTICE_AGB,
            adapter: 'webhook',
            baseUrl: practiceHook.url('/his/hook'),
            auth: { type: 'hmac', secretEnv: 'TEST_TRAJECTORY_HOOK_SECRET' },
          },
        ],
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), practiceHis.stop(), practiceHook.stop()]);
    await cleanupTestEnv(testEnv);
  });

  const post = (body: unknown, key: KeyName = 'municipality') =>
    app.request('/municipality/v1/trajectories/events', { json: body, key });

  const arrivalOf = (view: EventView): Promise<Hit> =>
    waitFor(`trajectory event ${view.id} to reach the practice`, () => practiceHis.stored.get(`tr-${view.id}`));

  function resourcesOf(hit: Hit) {
    const bundle = hit.body as Bundle;
    return bundle.entry!.map((e) => ({ request: e.request!, resource: e.resource! }));
  }

  it('counts the trajectory in the monitoring report, as a practice’s own, where the municipality is of record', async () => {
    const child = { bsn: randomBsn(), birthDate: '2013-05-01' };
    const trajectory = { id: `traj-m-${Date.now().toString(36)}`, startDate: '2026-09-03' };
    for (const [type, extra] of [
      ['intake', {}],
      ['contact', { date: '2026-09-10' }],
      // A closure that does not repeat the help question keeps the one the intake gave.
      ['closure', { date: '2026-09-30', helpQuestion: undefined }],
    ] as const) {
      const res = await post(trajectoryEvent(type, { child, trajectory, ...extra }));
      expect(res.status).toBe(202);
    }
    const rows = await app.rt.ctx.db.query<{
      trajectory_key: string;
      closed_on: string;
      outcome: string;
      help_questions: string[];
      contact_count: number;
    }>(
      `SELECT trajectory_key, to_char(closed_on, 'YYYY-MM-DD') AS closed_on, outcome, help_questions, contact_count
       FROM report_trajectory WHERE practice = $1 AND start_date = '2026-09-03'`,
      [PRACTICE_AGB],
    );
    expect(rows).toEqual([
      expect.objectContaining({
        closed_on: '2026-09-30',
        outcome: 'closed-without-referral',
        help_questions: ['parenting'],
        contact_count: 1,
      }),
    ]);
    const contacts = await app.rt.ctx.db.query<{ interventions: string[] }>(
      'SELECT interventions FROM report_contact WHERE trajectory_key = $1',
      [rows[0]?.trajectory_key],
    );
    expect(contacts).toEqual([{ interventions: ['psycho-education'] }]);
  });

  it('intake → contact → closure arrive at the practice minimised, audited on receipt and on disclosure', async () => {
    const child = { bsn: randomBsn(), birthDate: '2013-05-01' };
    const trajectory = { id: `traj-${Date.now().toString(36)}`, startDate: '2026-10-01' };
    const send = async (type: 'intake' | 'contact' | 'closure') => {
      const res = await post(trajectoryEvent(type, { child, trajectory }));
      expect(res.status).toBe(202);
      const view = (await res.json()) as EventView;
      expect(view.decision.effect).toBe('permit');
      return view;
    };

    const intake = await send('intake');
    const intakeEntries = resourcesOf(await arrivalOf(intake));
    expect(intakeEntries).toHaveLength(1);
    const opened = intakeEntries[0]!;
    // The intake opens the practice's copy, created conditionally on the municipality's trajectory identifier (so a
    // retried intake never reopens a closed one).
    expect(opened.request.method).toBe('POST');
    expect(opened.request.ifNoneExist).toMatch(/^identifier=/);
    expect(opened.resource).toEqual(
      expect.objectContaining({ resourceType: 'EpisodeOfCare', status: 'active', period: { start: '2026-10-01' } }),
    );
    expect((opened.resource as EpisodeOfCare).patient.identifier?.value).toBe(child.bsn);
    // Not in the toPractice allow-list: the managing organisation stays behind.
    expect(opened.resource).not.toHaveProperty('managingOrganization');

    const contact = await send('contact');
    const contactEntries = resourcesOf(await arrivalOf(contact));
    const encounter = contactEntries.find((e) => e.resource.resourceType === 'Encounter')!;
    const encounterResource = encounter.resource as Encounter;
    expect(encounterResource.type?.flatMap((t) => t.coding?.map((c) => c.code))).toEqual(['1', 'psycho-education']);
    expect(encounterResource.class.code).toBeDefined();
    // Minimised: the duration (Encounter.length) and the service provider are not on the allow-list.
    expect(encounterResource).not.toHaveProperty('length');
    expect(encounterResource).not.toHaveProperty('serviceProvider');
    // The contact's episode is sent as a conditional create, so it never reopens a closed trajectory.
    const episodeInContact = contactEntries.find((e) => e.resource.resourceType === 'EpisodeOfCare')!;
    expect(episodeInContact.request.method).toBe('POST');

    const closure = await send('closure');
    const closed = resourcesOf(await arrivalOf(closure))[0]!;
    expect(closed.request.method).toBe('PUT');
    const episode = closed.resource as EpisodeOfCare;
    expect(episode.status).toBe('finished');
    expect(episode.period).toEqual({ start: '2026-10-01', end: '2026-11-15' });
    expect(episode.extension).toEqual([
      expect.objectContaining({
        url: OUTCOME_EXTENSION,
        valueCoding: expect.objectContaining({ code: 'closed-without-referral' }),
      }),
    ]);

    for (const view of [intake, contact, closure]) {
      await waitFor(`event ${view.id} recorded as delivered`, async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM trajectory_event WHERE id = $1', [
          view.id,
        ]);
        return row?.state === 'delivered';
      });
      const audit = await app.rt.ctx.db.query<{
        type: string;
        subtype: string;
        outcome: string;
        agents: string[];
        entities: string[];
      }>(
        `SELECT type, subtype, outcome, agents, entities FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities)
         ORDER BY seq`,
        [PRACTICE_AGB, `trajectory_event/${view.id}`],
      );
      // Received from the municipality (Import), decided at receipt and again before sending (AuthZ-Consent),
      // disclosed to the practice (Export).
      expect(audit.map((a) => [a.type, a.subtype, a.outcome])).toEqual([
        ['110107', 'receive', '0'],
        ['110113', 'AuthZ-Consent', '0'],
        ['110113', 'AuthZ-Consent', '0'],
        ['110106', 'disclose', '0'],
      ]);
      expect(audit[0]!.agents).toContain(`https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`);
      expect(audit[3]!.agents).toContain(`http://fhir.nl/fhir/NamingSystem/agb-z|${PRACTICE_AGB}`);
      // The disclosure names the agreement it was decided under, as its decisions do.
      const agreementsOf = (i: number) => audit[i]!.entities.filter((x) => x.startsWith('Agreement/'));
      expect(agreementsOf(3)).toHaveLength(1);
      expect(agreementsOf(3)).toEqual(agreementsOf(2));
    }
    // Nothing of this went to the municipality's own receiver: it is the sender here.
    expect(municipality.stored.size).toBe(0);
    // The child's overview shows what the municipality sent: everything a search by the child finds.
    for (const key of ['auditor', 'practice', 'municipality'] as const) {
      await expectOverviewToShowWhatSearchFinds(app, child.bsn, key);
    }
  });

  it('sends a closure to a practice with a webhook endpoint as a signed notification', async () => {
    const res = await post(
      trajectoryEvent('closure', {
        practice: { agb: WEBHOOK_PRACTICE_AGB },
        child: { bsn: randomBsn(), birthDate: '2014-07-07' },
      }),
    );
    expect(res.status).toBe(202);
    const view = (await res.json()) as EventView;
    const hit = await waitFor('the notification to reach the practice', () => practiceHook.stored.get(`tr-${view.id}`));
    expect(hit.signatureValid).toBe(true);
    const episode = (hit.body as Bundle).entry!.map((e) => e.resource).find((r) => r?.resourceType === 'EpisodeOfCare');
    expect(episode).toEqual(expect.objectContaining({ status: 'finished' }));
    expect(episode).not.toHaveProperty('managingOrganization');
  });

  // A trajectory event stored whose receipt AuditEvent was never written (PostgreSQL went away between the two, or the
  // process stopped) was answered 503, or not at all: the municipality was not told it was accepted. The reconciler
  // must not deliver it on its own; the municipality's resend records the receipt, and only then does it go on.
  describe('without its receipt on record', () => {
    const actor = { userId: 'api-key:municipality', accessPoint: 'test' };
    const auditOf = async (id: string) =>
      app.rt.ctx.db.query<{ type: string; outcome: string }>(
        `SELECT type, outcome FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
        [PRACTICE_AGB, `trajectory_event/${id}`],
      );
    const stateOf = async (id: string) =>
      (await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM trajectory_event WHERE id = $1', [id]))[0]
        ?.state;
    /** Lets the workers run for a while: long enough to decide and deliver an event several times over. */
    const settle = () => new Promise((r) => setTimeout(r, 1500));

    /** The first request stores the event, then its audit writer fails, as when PostgreSQL goes away right there. */
    async function storedWithoutReceipt(body: Record<string, unknown>): Promise<string> {
      const down = { ...app.rt.ctx, audit: { append: () => Promise.reject(new Error('connect ECONNREFUSED')) } };
      await expect(
        receiveTrajectoryEvent(down as unknown as PipelineContext, trajectoryEventSchema.parse(body), actor, 'trace'),
      ).rejects.toThrow('ECONNREFUSED');
      const [stored] = await app.rt.ctx.db.query<{ id: string }>(
        'SELECT id FROM trajectory_event WHERE source_event_id = $1',
        [body.eventId],
      );
      expect(await auditOf(stored!.id)).toEqual([]);
      return stored!.id;
    }

    /** An event held for want of its receipt, whose receipt is recorded afterwards, with no job queued then. */
    async function heldThenReceipted(): Promise<string> {
      const body = trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2012-06-08' } });
      const id = await storedWithoutReceipt(body);
      await reconcileOnce(app.rt.ctx, 0);
      expect(await stateOf(id)).toBe('unacknowledged');
      const event = trajectoryEventSchema.parse(body);
      await app.rt.ctx.audit.append(
        PRACTICE_AGB,
        trajectoryEventReceived({
          actor,
          municipality: event.municipality,
          practiceAgb: PRACTICE_AGB,
          patientBsn: event.child.bsn,
          trajectoryEventId: id,
          eventType: event.type,
          purpose: 'contact-registration',
        }),
      );
      return id;
    }

    it('audits the receipt on the repeat, and delivers nothing of it before', async () => {
      const body = trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2012-06-07' } });
      const id = await storedWithoutReceipt(body);

      // The reconciler finds the stored event without a job, and every round after it too.
      await reconcileOnce(app.rt.ctx, 0);
      await settle();
      await reconcileOnce(app.rt.ctx, 0);
      await settle();

      expect(await stateOf(id)).toBe('unacknowledged');
      expect(practiceHis.hitsFor(`tr-${id}`)).toHaveLength(0);
      // Not decided, not disclosed: no AuditEvent names it, the receipt included.
      expect(await auditOf(id)).toEqual([]);
      // An operator sees it held.
      const listed = await app.request('/admin/v1/trajectory-events?state=unacknowledged', { key: 'operator' });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { trajectoryEvents: { id: string; state: string }[] }).trajectoryEvents).toEqual(
        expect.arrayContaining([expect.objectContaining({ id, state: 'unacknowledged' })]),
      );

      // The municipality, told 503, sends it again: now it is accepted (the first answer was not), with the same id.
      const again = await post(body);
      expect(again.status).toBe(202);
      const view = (await again.json()) as EventView;
      expect(view.id).toBe(id);
      expect(view.delivery.state).toBe('pending');
      await arrivalOf(view);
      // Received and decided, audited by the repeat; decided again and disclosed by the delivery it queued. The
      // disclosure is appended once the practice's HIS has answered, so it may follow the arrival by a moment.
      const disclosed = await waitFor('the disclosure to be audited', async () => {
        const rows = await auditOf(view.id);
        return rows.some((a) => a.type === '110106') ? rows : undefined;
      });
      // The operator's read of the list that showed it held comes first (operators' lists are audited).
      expect(disclosed.map((a) => [a.type, a.outcome])).toEqual([
        ['rest', '0'],
        ['110107', '0'],
        ['110113', '0'],
        ['110113', '0'],
        ['110106', '0'],
      ]);
      // A third send is a plain repeat: no second receipt, no second delivery.
      expect((await post(body)).status).toBe(200);
      await settle();
      expect(await auditOf(view.id)).toHaveLength(5);
      expect(practiceHis.hitsFor(`tr-${id}`)).toHaveLength(1);
    });

    it('goes on when its receipt is recorded after it was held, though no job was queued then', async () => {
      // As when the resend's receipt committed but Redis did not take its job, or the first request's audit committed
      // just after a reconciler round held the event.
      const id = await heldThenReceipted();

      await reconcileOnce(app.rt.ctx, 0);

      await waitFor('the acknowledged event to be delivered', async () => (await stateOf(id)) === 'delivered');
      expect(practiceHis.hitsFor(`tr-${id}`)).toHaveLength(1);
    });

    it('goes on at once when a job comes for it after it was held', async () => {
      // The first request's audit committed just after the reconciler held the event, and the request then queued
      // its job as usual.
      const id = await heldThenReceipted();

      await app.rt.ctx.queues.enqueueTrajectory({ id, round: 0 }, 'late-receipt');

      await waitFor('the acknowledged event to be delivered', async () => (await stateOf(id)) === 'delivered');
      expect(practiceHis.hitsFor(`tr-${id}`)).toHaveLength(1);
    });
  });

  it('answers a repeated event id with the same event and delivers it once', async () => {
    const body = trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2012-01-01' } });
    const first = await post(body);
    expect(first.status).toBe(202);
    const view = (await first.json()) as EventView;
    await arrivalOf(view);
    const again = await post(body);
    expect(again.status).toBe(200);
    expect(((await again.json()) as EventView).id).toBe(view.id);
    const rows = await app.rt.ctx.db.query('SELECT id FROM trajectory_event WHERE source_event_id = $1', [
      body.eventId,
    ]);
    expect(rows).toHaveLength(1);
    expect(practiceHis.hitsFor(`tr-${view.id}`)).toHaveLength(1);

    // The same id with other content is another message: refused, and the first stays as it was.
    const changed = await post({ ...body, date: '2026-10-02' });
    expect(changed.status).toBe(409);
    const outcome = (await changed.json()) as { issue: { code: string; expression: string[] }[] };
    expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['eventId'] }));
    const [stored] = await app.rt.ctx.db.query<{ event_type: string }>(
      'SELECT event_type FROM trajectory_event WHERE source_event_id = $1',
      [body.eventId],
    );
    expect(stored?.event_type).toBe('intake');
  });

  it('accepts the same event sent twice at the same moment once, with one receipt and one delivery', async () => {
    const body = trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2012-02-02' } });
    const answers = await Promise.all([post(body), post(body)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 202]);
    const views = (await Promise.all(answers.map((a) => a.json()))) as EventView[];
    expect(views[0]!.id).toBe(views[1]!.id);
    await arrivalOf(views[0]!);
    await app.rt.ctx.audit.flush();
    // The second request did not take the receipt the first was recording for a failed request's.
    const receipts = await app.rt.ctx.db.query(
      `SELECT 1 FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) AND type = '110107'`,
      [PRACTICE_AGB, `trajectory_event/${views[0]!.id}`],
    );
    expect(receipts).toHaveLength(1);
    expect(practiceHis.hitsFor(`tr-${views[0]!.id}`)).toHaveLength(1);
  });

  it('makes a refused delivery a dead letter an operator replays, without a second receipt', async () => {
    const bsn = randomBsn();
    // The practice's HIS echoes the child in its answer, as an error page may.
    practiceHis.mode = {
      kind: 'status',
      status: 422,
      body: JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', diagnostics: bsn }] }),
    };
    try {
      const res = await post(trajectoryEvent('intake', { child: { bsn, birthDate: '2011-02-03' } }));
      expect(res.status).toBe(202);
      const view = (await res.json()) as EventView;
      await waitFor('the refused delivery to be dead', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM trajectory_event WHERE id = $1', [
          view.id,
        ]);
        return row?.state === 'dead';
      });
      const dead = await (await app.request('/admin/v1/trajectory-events', { key: 'operator' })).text();
      const listed = (JSON.parse(dead) as { trajectoryEvents: { id: string; lastStatus: number }[] }).trajectoryEvents;
      // The answer as operators see it: its issues' codes, not its text (receiver-answer.ts).
      expect(listed).toEqual([
        expect.objectContaining({
          id: view.id,
          lastStatus: 422,
          answer: { contentType: 'application/json', size: expect.any(Number), issues: [{ severity: 'error' }] },
        }),
      ]);
      expect(dead).not.toContain(bsn);
      const deadGauge = async () =>
        (await (await app.request('/metrics', { key: null })).text()).match(
          new RegExp(`^jeugdbrug_dead_letters\\{destination="practice-${PRACTICE_AGB}"\\} (\\d+)$`, 'm'),
        )?.[1];
      expect(await deadGauge()).toBe('1');
      // The operator console counts it with the feedback queue that carries it, linked to the list to replay it.
      const consolePage = await (await openConsole(app, 'operator')).get('/console/operator');
      expect(await consolePage.text()).toMatch(
        /<td data-dead="feedback"><a href="\/console\/operator\/to-practices">1<\/a><\/td>/,
      );
      practiceHis.mode = { kind: 'ok' };
      // An operator of another practice neither sees it nor can replay it: 404 as for an unknown id, on record.
      const otherList = await app.request('/admin/v1/trajectory-events', { key: 'otherOperator' });
      expect(((await otherList.json()) as { trajectoryEvents: unknown[] }).trajectoryEvents).toEqual([]);
      const outOfScope = await app.request(`/admin/v1/trajectory-events/${view.id}/replay`, {
        json: {},
        key: 'otherOperator',
      });
      expect(outOfScope.status).toBe(404);
      const replay = await app.request(`/admin/v1/trajectory-events/${view.id}/replay`, { json: {}, key: 'operator' });
      expect(replay.status).toBe(202);
      await arrivalOf(view);
      await waitFor('the replayed delivery to be recorded', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM trajectory_event WHERE id = $1', [
          view.id,
        ]);
        return row?.state === 'delivered';
      });
      const again = await app.request(`/admin/v1/trajectory-events/${view.id}/replay`, { json: {}, key: 'operator' });
      expect(again.status).toBe(409);
      // Replayed: the practice's series stays, at 0, so `== 0` alerts get an answer.
      expect(await deadGauge()).toBe('0');
      const audit = await app.rt.ctx.db.query<{ type: string; outcome: string }>(
        `SELECT type, outcome FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
        [PRACTICE_AGB, `trajectory_event/${view.id}`],
      );
      // Received once; decided at receipt and before each send; the failed disclosure, the operator's read of the
      // dead list (the other practice's operator's list does not show it), the other practice's operator's refused
      // replay, the operator's replay and the successful disclosure all on record.
      expect(audit.map((a) => [a.type, a.outcome])).toEqual([
        ['110107', '0'],
        ['110113', '0'],
        ['110113', '0'],
        ['110106', '8'],
        ['rest', '0'],
        ['110113', '4'],
        ['110100', '0'],
        ['110113', '0'],
        ['110106', '0'],
      ]);
    } finally {
      practiceHis.mode = { kind: 'ok' };
    }
  });

  /** The child objects, through the practice, to its trajectory and contacts reaching the practice's HIS. */
  async function recordObjection(referral: Record<string, unknown>): Promise<void> {
    const objection = buildConsentEvent(referral, {
      decision: 'deny',
      givenBy: [{ kind: 'child' }],
      purposes: ['contact-registration'],
      dataClasses: ['EpisodeOfCare', 'Encounter'],
    });
    expect((await app.request('/his/v1/events', { json: objection, key: 'practice' })).status).toBe(202);
  }

  it('stores but does not send an event the family objected to, and audits the deny', async () => {
    const referral = buildReferralEvent({
      child: { id: 'child-objects', bsn: randomBsn(), birthDate: '2012-03-04', municipality: MUNICIPALITY },
    });
    await recordObjection(referral);
    const child = referral.child as { bsn: string; birthDate: string };
    const res = await post(trajectoryEvent('intake', { child: { bsn: child.bsn, birthDate: child.birthDate } }));
    expect(res.status).toBe(202);
    const view = (await res.json()) as EventView;
    // The municipality learns that it was not sent, not why: that the family objected, or that no consent is on
    // record, is the practice's to know. The reason stays in the audit and the operator's list.
    expect(view.decision).toEqual({ effect: 'deny' });
    expect(view.delivery.state).toBe('denied');
    const denied = (await (
      await app.request('/admin/v1/trajectory-events?state=denied', { key: 'operator' })
    ).json()) as {
      trajectoryEvents: { id: string; decisionReason: string }[];
    };
    expect(denied.trajectoryEvents.find((t) => t.id === view.id)?.decisionReason).toBe('consent-denied');
    const audit = await app.rt.ctx.db.query<{ type: string; outcome: string }>(
      `SELECT type, outcome FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
      [PRACTICE_AGB, `trajectory_event/${view.id}`],
    );
    // Received, denied, and the operator's read of the list that says why.
    expect(audit.map((a) => [a.type, a.outcome])).toEqual([
      ['110107', '0'],
      ['110113', '4'],
      ['rest', '0'],
    ]);
    const [why] = await app.rt.ctx.db.query<{ outcome_desc: string }>(
      `SELECT resource::json->>'outcomeDesc' AS outcome_desc FROM audit_event
       WHERE tenant = $1 AND $2 = ANY(entities) AND outcome = '4'`,
      [PRACTICE_AGB, `trajectory_event/${view.id}`],
    );
    expect(why?.outcome_desc).toContain('consent-denied');
    expect(practiceHis.stored.has(`tr-${view.id}`)).toBe(false);
  });

  it('stops an event at delivery when the family objected after receipt: denied, not a dead letter', async () => {
    const referral = buildReferralEvent({
      child: { id: 'child-objects-later', bsn: randomBsn(), birthDate: '2012-03-04', municipality: MUNICIPALITY },
    });
    const child = referral.child as { bsn: string; birthDate: string };
    // The first attempt hangs past the delivery timeout; the objection arrives meanwhile; the retry decides again.
    practiceHis.mode = { kind: 'slow', delayMs: 3_000 };
    try {
      const res = await post(trajectoryEvent('intake', { child: { bsn: child.bsn, birthDate: child.birthDate } }));
      const view = (await res.json()) as EventView;
      expect(view.decision.effect).toBe('permit');
      await recordObjection(referral);
      const row = await waitFor('the retry to stop it', async () => {
        const [r] = await app.rt.ctx.db.query<{ state: string; decision: string }>(
          'SELECT state, decision FROM trajectory_event WHERE id = $1',
          [view.id],
        );
        return r?.state === 'pending' ? undefined : r;
      });
      expect(row).toEqual({ state: 'denied', decision: 'deny' });
      const dead = await app.request('/admin/v1/trajectory-events', { key: 'operator' });
      const listed = ((await dead.json()) as { trajectoryEvents: { id: string }[] }).trajectoryEvents;
      expect(listed.map((e) => e.id)).not.toContain(view.id);
      const audit = await app.rt.ctx.db.query<{ type: string; outcome: string }>(
        `SELECT type, outcome FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
        [PRACTICE_AGB, `trajectory_event/${view.id}`],
      );
      // Received, permitted at receipt, permitted before the first send (which timed out), denied before the second.
      expect(audit.map((a) => [a.type, a.outcome]).slice(-1)).toEqual([['110113', '4']]);
    } finally {
      practiceHis.mode = { kind: 'ok' };
    }
  });

  it('removes the content of finished trajectory events after the payload retention, keeping the row', async () => {
    const res = await post(trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2010-09-09' } }));
    const view = (await res.json()) as EventView;
    await waitFor('the event to be delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM trajectory_event WHERE id = $1', [
        view.id,
      ]);
      return row?.state === 'delivered';
    });
    const answerOf = async () =>
      (
        await app.rt.ctx.db.query<{ sealed: Buffer | null; summary: unknown }>(
          'SELECT response_sealed AS sealed, response_summary AS summary FROM trajectory_event WHERE id = $1',
          [view.id],
        )
      )[0];
    expect((await answerOf())?.sealed).not.toBeNull();
    await purgeExpired(app.rt.ctx, new Date(Date.now() + 365 * 24 * 3600_000));
    const [row] = await app.rt.ctx.db.query<{ state: string; payload: Buffer | null; content_digest: string | null }>(
      'SELECT state, payload, content_digest FROM trajectory_event WHERE id = $1',
      [view.id],
    );
    // The digest of the content goes with the content, and so does the practice's answer; its summary stays.
    expect(row).toEqual({ state: 'delivered', payload: null, content_digest: null });
    expect(await answerOf()).toEqual({
      sealed: null,
      summary: { contentType: 'application/json', size: expect.any(Number) },
    });
  });

  it('removes the content of an event held for want of its receipt, never sent again, after the retention too', async () => {
    const res = await post(trajectoryEvent('intake', { child: { bsn: randomBsn(), birthDate: '2010-10-10' } }));
    const view = (await res.json()) as EventView;
    const id = view.id;
    await arrivalOf(view);
    // As the reconciler leaves an event whose first request failed before its receipt, had this one's.
    await app.rt.ctx.db.query(`UPDATE trajectory_event SET state = 'unacknowledged' WHERE id = $1`, [id]);
    await purgeExpired(app.rt.ctx, new Date(Date.now() + 365 * 24 * 3600_000));
    const [row] = await app.rt.ctx.db.query<{ state: string; payload: Buffer | null }>(
      'SELECT state, payload FROM trajectory_event WHERE id = $1',
      [id],
    );
    expect(row).toEqual({ state: 'unacknowledged', payload: null });
  });

  it('refuses with 403 a practice whose agreement keeps the HIS as system of record', async () => {
    const res = await post(trajectoryEvent('intake', { practice: { agb: OTHER_PRACTICE_AGB } }));
    expect(res.status).toBe(403);
    const outcome = (await res.json()) as { resourceType: string; issue: { details?: { text?: string } }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]!.details?.text).toMatch(/system of record/);
  });

  it('refuses with 403 a municipality that is not a party, naming the field that decided it', async () => {
    const res = await post(trajectoryEvent('intake'), 'otherMunicipality');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression).toEqual([
      'municipality',
    ]);
  });

  it.each([
    ['free text in a contact', trajectoryEvent('contact', { note: 'Moeder maakt zich zorgen' }), 'note'],
    [
      'a free-text summary inside the contact',
      trajectoryEvent('contact', {
        contact: { mode: '1', durationMinutes: 30, interventions: [], summary: 'Gesprek over slapen' },
      }),
      'contact.summary',
    ],
    ['a closure without its outcome', trajectoryEvent('closure', { outcome: undefined }), 'outcome'],
    ['an unknown outcome code', trajectoryEvent('closure', { outcome: 'fine' }), 'outcome'],
    ['a referral without a target', trajectoryEvent('referral', { referral: { id: 'r1' } }), 'referral.target'],
    [
      'an invalid BSN',
      trajectoryEvent('intake', { child: { bsn: '123456789', birthDate: '2013-05-01' } }),
      'child.bsn',
    ],
    ['an unknown event type', trajectoryEvent('intake', { type: 'visit' }), 'type'],
  ])('answers 422 naming the field for %s', async (_what, body, field) => {
    const res = await post(JSON.parse(JSON.stringify(body)));
    expect(res.status).toBe(422);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue.flatMap((i) => i.expression ?? [])).toContain(field);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await app.request('/municipality/v1/trajectories/events', {
      key: 'municipality',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"eventId": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  // Last: the HIS events below are delivered to the municipality's receiver, which the tests above expect empty.
  /** Sends HIS events as the practice and waits until each has finished the map stage. */
  async function sendFromHis(events: Record<string, unknown>[]): Promise<void> {
    const res = await app.request('/his/v1/events', { key: 'practice', json: events });
    expect(res.status).toBe(202);
    const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    await waitFor('events mapped', async () => {
      const done = await app.rt.ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM inbox WHERE id = ANY($1) AND state = ANY($2)`,
        [ids, [...TERMINAL_STATES]],
      );
      return done[0]?.n === ids.length ? true : undefined;
    });
  }

  /** The trajectories and referrals the reporting store counts for one child of the practice. */
  async function countedFor(bsn: string): Promise<{ trajectories: number; referrals: number }> {
    const childPseudonym = getPseudonymiser(app.rt.ctx.config).pseudonym(MUNICIPALITY, `bsn/${bsn}`);
    const [row] = await app.rt.ctx.db.query<{ trajectories: number; referrals: number }>(
      `SELECT (SELECT count(*)::int FROM report_trajectory WHERE practice = $1 AND child_pseudonym = $2) AS trajectories,
              (SELECT count(*)::int FROM report_referral WHERE practice = $1 AND child_pseudonym = $2) AS referrals`,
      [PRACTICE_AGB, childPseudonym],
    );
    return row!;
  }

  /** An HIS event of the practice for the child with `bsn`. */
  const hisEventOf = (event: Record<string, unknown>, bsn: string): Record<string, unknown> => ({
    ...event,
    child: { ...(event.child as object), bsn, birthDate: '2013-05-01' },
  });

  it('takes a municipality-registered trajectory out of the figures when the child objects at the practice', async () => {
    const bsn = randomBsn();
    const child = { bsn, birthDate: '2013-05-01' };
    const trajectory = { id: `traj-o-${Date.now().toString(36)}`, startDate: '2026-09-03' };
    for (const [type, extra] of [
      ['intake', {}],
      ['contact', { date: '2026-09-10' }],
      ['referral', { date: '2026-09-20', referral: { id: `gm-ref-${trajectory.id}`, target: 'youth-care-provider' } }],
    ] as const) {
      expect((await post(trajectoryEvent(type, { child, trajectory, ...extra }))).status).toBe(202);
    }
    expect(await countedFor(bsn)).toEqual({ trajectories: 1, referrals: 1 });
    const objection = buildConsentEvent(hisEventOf(buildReferralEvent(), bsn), {
      decision: 'deny',
      givenBy: [{ kind: 'child' }],
      purposes: ['monitoring'],
      dataClasses: ['EpisodeOfCare'],
    });
    await sendFromHis([objection]);
    expect(await countedFor(bsn)).toEqual({ trajectories: 0, referrals: 0 });
    // The municipality's next event of the trajectory does not bring it back.
    expect((await post(trajectoryEvent('closure', { child, trajectory, date: '2026-09-30' }))).status).toBe(202);
    expect(await countedFor(bsn)).toEqual({ trajectories: 0, referrals: 0 });
  });

  it('does not count the practice’s HIS trajectory of a child as a second one where the municipality is of record', async () => {
    const bsn = randomBsn();
    const trajectory = { id: `traj-h-${Date.now().toString(36)}`, startDate: '2026-09-03' };
    expect(
      (await post(trajectoryEvent('intake', { child: { bsn, birthDate: '2013-05-01' }, trajectory }))).status,
    ).toBe(202);
    // The GP sees the child the next day and registers it in the HIS, under a trajectory of its own.
    const consultation = hisEventOf(buildContactEvent({ start: '2026-09-04T09:00:00+02:00' }), bsn);
    await sendFromHis([
      { ...consultation, trajectory: { ...(consultation.trajectory as object), startDate: '2026-09-04' } },
    ]);
    expect(await countedFor(bsn)).toEqual({ trajectories: 1, referrals: 0 });
    // A referral the GP makes in the HIS is still a referral of the practice.
    await sendFromHis([hisEventOf(buildReferralEvent(), bsn)]);
    expect(await countedFor(bsn)).toEqual({ trajectories: 1, referrals: 1 });
  });
});
