import fs from 'node:fs';
import path from 'node:path';
import type {
  Bundle,
  EpisodeOfCare,
  Identifier,
  RelatedPerson,
  Resource,
  ServiceRequest,
  Task,
} from '@medplum/fhirtypes';
import { RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { EXTENSION, REFERRAL_REJECTION_REASON_SYSTEM, REFERRAL_STATUS_SYSTEM } from '../../src/kernel/fhir/terminology';
import { JZ020_SYSTEM } from '../../src/kernel/fhir/systems';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import type { Agreement } from '../../src/policy/agreement';
import { buildRegistry } from '../../src/event/registry';
import {
  buildConsentEvent,
  buildContactEvent,
  buildDestination,
  buildReferralEvent,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { DeliveryReceiver, type Hit } from '../helpers/delivery-receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const HOOK_SECRET = 'municipality-hook-secret-for-tests';
process.env.TEST_MUNICIPALITY_HOOK_SECRET = HOOK_SECRET;

/** The shipped agreement (config/), so what its allow-list lets through is what these tests see. */
const SHIPPED = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../config/agreements/demo-overbetuwe.json'), 'utf8'),
) as Agreement;

interface StatusView {
  id: string;
  status: string;
  task: Task;
}

async function submit(app: TestApp, event: Record<string, unknown>, key: KeyName = 'practice'): Promise<string> {
  const res = await app.request('/his/v1/events', { json: event, key });
  expect(res.status).toBe(202);
  return ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
}

async function stateOf(app: TestApp, id: string, states: string[]): Promise<string> {
  return waitFor(`event ${id} to reach ${states.join('/')}`, async () => {
    const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
    return row && states.includes(row.state) ? row.state : undefined;
  });
}

/** The resources a FHIR receiver got in one Bundle (transaction or notification). */
function resourcesIn(hit: Hit): Resource[] {
  return ((hit.body as Bundle).entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
}

/** The referral's business identifier as the municipality's receiver got it, read only from what arrived. */
function identifierReceived(adapter: string, hit: Hit): Identifier {
  if (adapter === 'isamenleving') {
    const id = (hit.body as { verwijzing: { identificatie: { systeem: string; waarde: string } } }).verwijzing
      .identificatie;
    return { system: id.systeem, value: id.waarde };
  }
  const request = resourcesIn(hit).find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const own = request?.identifier?.find((i) => i.system !== RESOURCE_ID_SYSTEM);
  if (!own) {
    throw new Error('no business identifier arrived');
  }
  return own;
}

/** A stand-in municipality and practice HIS, and the product between them with this agreement and format. */
interface Loop {
  readonly municipality: DeliveryReceiver;
  readonly practice: DeliveryReceiver;
  readonly app: TestApp;
  close(): Promise<void>;
}

/** `more`: agreements of other practices with the same municipality. */
async function startLoop(agreement: Agreement, adapter: string, more: Agreement[] = []): Promise<Loop> {
  const testEnv = createTestEnv();
  const municipality = await new DeliveryReceiver().start();
  const practice = await new DeliveryReceiver().start();
  if (adapter === 'webhook') {
    municipality.webhookSecret = HOOK_SECRET;
  }
  const app = await startTestApp({
    testEnv,
    registry: buildRegistry({
      agreements: [agreement, ...more],
      destinations: [
        buildDestination(municipality.url('/gm'), {
          adapter,
          ...(adapter === 'webhook' ? { auth: { type: 'hmac', secretEnv: 'TEST_MUNICIPALITY_HOOK_SECRET' } } : {}),
        }),
      ],
      practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practice.url('/his') }],
    }),
  });
  return {
    municipality,
    practice,
    app,
    async close() {
      await app.close();
      await Promise.all([municipality.stop(), practice.stop()]);
      await cleanupTestEnv(testEnv);
    },
  };
}

describe.each(['fhir-rest', 'webhook', 'isamenleving'] as const)(
  'the loop between practice and municipality closes (%s)',
  (adapter) => {
    let municipality: DeliveryReceiver;
    let practice: DeliveryReceiver;
    let app: TestApp;
    let loop: Loop;

    beforeAll(async () => {
      // The shipped allow-list; public task, so these tests need no consent.
      loop = await startLoop({ ...SHIPPED, legalBasis: 'public-task' }, adapter);
      ({ municipality, practice, app } = loop);
    });

    afterAll(() => loop.close());

    const taskArrived = (feedbackId: string): Promise<Task> =>
      waitFor(`status update ${feedbackId} at the practice`, () => {
        const hit = practice.stored.get(`fb-${feedbackId}`);
        return hit ? resourcesIn(hit).find((r): r is Task => r.resourceType === 'Task') : undefined;
      });

    it('referral → accepted, decision-issued, care-started, closed by the identifier received → Tasks at the practice; out of order is 409', async () => {
      const referral = buildReferralEvent();
      const id = await submit(app, referral);
      expect(await stateOf(app, id, ['delivered', 'dead', 'denied', 'failed'])).toBe('delivered');
      const hit = municipality.deliveries.at(-1)!;
      const identifier = identifierReceived(adapter, hit);
      expect(identifier.value).toBe((referral.referral as { id: string }).id);
      if (adapter === 'fhir-rest') {
        // The referrer type (COD327) is let through by the shipped allow-list, by its extension URL.
        const request = resourcesIn(hit).find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest')!;
        expect(request.extension?.map((e) => e.url)).toEqual([EXTENSION.referrerType]);
        // Parental authority (gezag) too: the municipality must know which parent holds it.
        const guardians = resourcesIn(hit).filter((r): r is RelatedPerson => r.resourceType === 'RelatedPerson');
        expect(guardians.length).toBeGreaterThan(0);
        for (const guardian of guardians) {
          expect(guardian.extension?.map((e) => e.url)).toEqual([EXTENSION.parentalAuthority]);
        }
      }
      // By value for one adapter, by `system|value` (URL-encoded) for the others.
      const key =
        adapter === 'fhir-rest'
          ? encodeURIComponent(identifier.value!)
          : encodeURIComponent(`${identifier.system}|${identifier.value}`);
      const post = (body: unknown) =>
        app.request(`/municipality/v1/referrals/${key}/status`, { json: body, key: 'municipality' });

      // Each day lies between the referral (2026-11-20) and today; the decision's period, a plan, may lie ahead.
      const updates = [
        { status: 'accepted', date: '2026-11-23' },
        {
          status: 'decision-issued',
          decision: {
            number: 'B-2026-0042',
            date: '2026-12-01',
            productCategory: '45',
            period: { start: '2026-12-07', end: '2027-06-07' },
          },
        },
        { status: 'care-started', provider: { agb: '12345678', name: 'Jeugdhulp Betuwe' }, startDate: '2026-12-04' },
        { status: 'closed' },
      ];
      const tasks: Task[] = [];
      for (const body of updates) {
        const res = await post(body);
        expect(res.status).toBe(202);
        tasks.push(await taskArrived(((await res.json()) as StatusView).id));
      }
      expect(tasks.map((t) => [t.businessStatus?.coding?.[0]?.code, t.status])).toEqual([
        ['accepted', 'accepted'],
        ['decision-issued', 'in-progress'],
        ['care-started', 'in-progress'],
        ['closed', 'completed'],
      ]);
      for (const t of tasks) {
        expect(t.focus?.identifier).toEqual(identifier);
      }
      const out = (t: Task, code: string) => t.output?.find((o) => o.type.coding?.[0]?.code === code);
      expect(out(tasks[1]!, 'decision-number')?.valueIdentifier?.value).toBe('B-2026-0042');
      expect(out(tasks[1]!, 'product-category')?.valueCodeableConcept?.coding?.[0]?.code).toBe('45');
      expect(out(tasks[1]!, 'decision-period')?.valuePeriod).toEqual({ start: '2026-12-07', end: '2027-06-07' });
      expect(out(tasks[2]!, 'provider')?.valueReference?.identifier?.value).toBe('12345678');

      const late = await post({ status: 'accepted' });
      expect(late.status).toBe(409);
      const outcome = (await late.json()) as { issue: { details?: { text?: string } }[] };
      expect(outcome.issue[0]?.details?.text).toMatch(/current status is closed/);

      const view = (await (
        await app.request(`/municipality/v1/referrals/${key}/status`, { key: 'municipality' })
      ).json()) as {
        timeline: { referredOn: string; current: string; waitingDays: Record<string, number> };
      };
      expect(view.timeline.referredOn).toBe('2026-11-20');
      expect(view.timeline.current).toBe('closed');
      expect(view.timeline.waitingDays).toEqual({
        referralToAccepted: 3,
        acceptedToDecision: 8,
        decisionToCareStarted: 3,
        referralToDecision: 11,
        referralToCareStarted: 14,
      });
      const practiceView = (await (await app.request(`/his/v1/events/${id}`)).json()) as {
        referralStatus: { steps: { status: string; date: string }[]; waitingDays: Record<string, number> };
      };
      expect(practiceView.referralStatus.steps.map((s) => [s.status, s.date])).toEqual([
        ['accepted', '2026-11-23'],
        ['decision-issued', '2026-12-01'],
        ['care-started', '2026-12-04'],
        ['closed', expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/)],
      ]);
      expect(practiceView.referralStatus.waitingDays.referralToCareStarted).toBe(14);
    });

    it('contacts then trajectory.closed → the receiver holds a finished EpisodeOfCare with its outcome', async () => {
      const contact = buildContactEvent();
      const contactId = await submit(app, contact);
      expect(await stateOf(app, contactId, ['delivered', 'dead', 'denied', 'failed'])).toBe('delivered');
      const trajectory = contact.trajectory as Record<string, unknown>;
      const closure: Record<string, unknown> = {
        ...contact,
        eventId: `${String(contact.eventId)}-closed`,
        eventType: 'trajectory.closed',
        trajectory: { ...trajectory, closedOn: '2026-11-30', outcome: 'closed-without-referral', referrerType: '02' },
      };
      delete closure.contact;
      const closureId = await submit(app, closure);
      expect(await stateOf(app, closureId, ['delivered', 'dead', 'denied', 'failed'])).toBe('delivered');
      const hit = municipality.deliveries.at(-1)!;
      if (adapter === 'isamenleving') {
        expect(hit.path).toBe('/gm/trajectafsluitingen');
        const traject = (hit.body as { traject: { status: string; einddatum: string; uitkomst: { code: string } } })
          .traject;
        expect(traject).toEqual(
          expect.objectContaining({
            status: 'finished',
            einddatum: '2026-11-30',
            uitkomst: expect.objectContaining({ code: 'closed-without-referral' }),
          }),
        );
        return;
      }
      const entry = (hit.body as Bundle).entry!.find((e) => e.resource?.resourceType === 'EpisodeOfCare')!;
      const episode = entry.resource as EpisodeOfCare;
      expect(episode.status).toBe('finished');
      expect(episode.period?.end).toBe('2026-11-30');
      expect(episode.extension?.find((e) => e.url === EXTENSION.trajectoryOutcome)?.valueCoding?.code).toBe(
        'closed-without-referral',
      );
      if (adapter === 'fhir-rest') {
        // A conditional update: a receiver that holds the trajectory from the contacts learns that it finished.
        expect(entry.request?.method).toBe('PUT');
        expect(entry.request?.url).toMatch(/^EpisodeOfCare\?identifier=/);
      }
    });
  },
);

describe('POST /fhir/Task and re-decisions', () => {
  let municipality: DeliveryReceiver;
  let practice: DeliveryReceiver;
  let app: TestApp;
  let loop: Loop;

  beforeAll(async () => {
    // Legal basis consent, as shipped; the other practice has the same agreement.
    loop = await startLoop(SHIPPED, 'fhir-rest', [
      { ...SHIPPED, id: 'other-practice', practice: { agb: OTHER_PRACTICE_AGB } },
    ]);
    ({ municipality, practice, app } = loop);
  });

  afterAll(() => loop.close());

  const consentFor = (referral: Record<string, unknown>) =>
    buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });

  /** A referral with its consent, delivered: its id and the identifier the municipality received. */
  async function deliveredReferral(): Promise<{ id: string; identifier: Identifier }> {
    const referral = buildReferralEvent();
    await submit(app, consentFor(referral));
    const id = await submit(app, referral);
    expect(await stateOf(app, id, ['delivered', 'denied'])).toBe('delivered');
    return { id, identifier: identifierReceived('fhir-rest', municipality.deliveries.at(-1)!) };
  }

  it('delivers a referral denied for a missing consent once the consent arrives, without a re-send; the audit shows both decisions', async () => {
    const referral = buildReferralEvent();
    const id = await submit(app, referral);
    expect(await stateOf(app, id, ['delivered', 'denied', 'failed'])).toBe('denied');
    const [denied] = await app.rt.ctx.db.query<{ state_reason: string }>(
      'SELECT state_reason FROM inbox WHERE id = $1',
      [id],
    );
    expect(denied!.state_reason).toMatch(/consent-missing/);

    await submit(app, consentFor(referral));
    expect(await stateOf(app, id, ['delivered', 'dead'])).toBe('delivered');
    const decisions = await app.rt.ctx.db.query<{ outcome: string; entities: string[] }>(
      `SELECT outcome, entities FROM audit_event WHERE tenant = $1 AND subtype = 'AuthZ-Consent' AND $2 = ANY(entities)
       ORDER BY seq`,
      [PRACTICE_AGB, `inbox/${id}`],
    );
    // Denied at mapping, permitted when decided again, and decided once more right before sending.
    expect(decisions.map((d) => d.outcome)).toEqual(['4', '0', '0']);
    const history = (await (await app.request(`/his/v1/events/${id}`)).json()) as { history: { state: string }[] };
    expect(history.history.map((h) => h.state)).toEqual(['received', 'mapped', 'denied', 'decided', 'delivered']);
  });

  it('lets an operator ask for a new decision of one event; a delivered event is 409', async () => {
    const referral = buildReferralEvent();
    const id = await submit(app, referral);
    expect(await stateOf(app, id, ['denied'])).toBe('denied');
    const again = await app.request(`/admin/v1/events/${id}/redecide`, { key: 'operator', method: 'POST' });
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ id, result: 'deny' });
    // Denied again: still `denied`, and its history says it was decided again, with the reason of now.
    type Timeline = { state: string; stateReason: string; history: { state: string; reason: string | null }[] };
    const timeline = async () => (await (await app.request(`/his/v1/events/${id}`)).json()) as Timeline;
    const deniedAgain = await timeline();
    expect(deniedAgain.state).toBe('denied');
    expect(deniedAgain.history.map((e) => e.state)).toEqual(['received', 'mapped', 'denied', 'denied']);
    expect(deniedAgain.history.at(-1)?.reason).toMatch(/^decided again: consent-missing/);
    expect(deniedAgain.stateReason).toBe(deniedAgain.history.at(-1)?.reason);
    expect((await app.request(`/admin/v1/events/${id}/redecide`, { key: 'practice', method: 'POST' })).status).toBe(
      403,
    );
    // Once the consent arrives the event is decided again by itself; asking again is then a conflict.
    await submit(app, consentFor(referral));
    expect(await stateOf(app, id, ['delivered'])).toBe('delivered');
    expect((await timeline()).history.map((e) => e.state)).toEqual([
      'received',
      'mapped',
      'denied',
      'denied',
      'decided',
      'delivered',
    ]);
    const done = await app.request(`/admin/v1/events/${id}/redecide`, { key: 'operator', method: 'POST' });
    expect(done.status).toBe(409);
  });

  /** The event a stored status update (the Task's id) was recorded on. */
  const recordedOn = async (taskId: string | undefined) =>
    (await app.rt.ctx.db.query<{ inbox_id: string }>('SELECT inbox_id FROM feedback WHERE id = $1', [taskId]))[0]
      ?.inbox_id;

  it('takes a FHIR Task whose focus names the ServiceRequest by identifier, answered 201 with the Task as stored', async () => {
    const { id, identifier } = await deliveredReferral();
    const task = {
      resourceType: 'Task',
      status: 'rejected',
      intent: 'order',
      businessStatus: {
        coding: [{ system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-status', code: 'rejected' }],
      },
      statusReason: {
        coding: [
          { system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-rejection-reason', code: 'other-municipality' },
        ],
      },
      focus: { type: 'ServiceRequest', identifier },
    };
    const res = await app.request('/fhir/Task', { json: task, key: 'municipality' });
    // A FHIR server's answer to a create: 201 with the resource as stored, in FHIR's media type.
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const stored = (await res.json()) as Task;
    expect(stored).toMatchObject({
      resourceType: 'Task',
      status: 'rejected',
      intent: 'order',
      businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'rejected' }] },
      focus: { type: 'ServiceRequest', identifier },
    });
    expect(stored.statusReason?.coding?.[0]?.code).toBe('other-municipality');
    expect(stored.meta?.lastUpdated).toBeDefined();
    expect(res.headers.get('last-modified')).toBe(new Date(stored.meta!.lastUpdated!).toUTCString());
    expect(res.headers.get('etag')).toBeTruthy();
    expect(await recordedOn(stored.id)).toBe(id);
    const arrived = await waitFor('the Task at the practice', () => practice.stored.get(`fb-${stored.id}`));
    const sent = resourcesIn(arrived).find((r): r is Task => r.resourceType === 'Task')!;
    expect(sent.statusReason?.coding?.[0]?.code).toBe('other-municipality');
    // The practice got the Task the municipality was answered with (its id as the practice's server keys it).
    const apart = ['id', 'identifier', 'meta'];
    const rest = (t: Task) => Object.fromEntries(Object.entries(t).filter(([k]) => !apart.includes(k)));
    expect(rest(sent)).toEqual(rest(stored));
    const { id: storedId, identifier: storedIdentifier } = stored;
    const sentIdentifier = sent.identifier;
    expect(sentIdentifier).toEqual(expect.arrayContaining(storedIdentifier ?? []));
    expect(storedIdentifier).toEqual([{ system: 'https://jeugdbrug.nl/fhir/NamingSystem/feedback', value: storedId }]);

    const bad = await app.request('/fhir/Task', {
      json: { ...task, businessStatus: undefined, status: 'draft' },
      key: 'municipality',
    });
    expect(bad.status).toBe(422);
    const outcome = (await bad.json()) as { issue: { expression: string[] }[] };
    // The Task without businessStatus said its status in Task.status: that is the element named (FHIRPath).
    expect(outcome.issue.flatMap((i) => i.expression)).toEqual(['Task.status']);
    const unknown = await app.request('/fhir/Task', {
      json: { ...task, focus: { identifier: { system: identifier.system, value: 'no-such-referral' } } },
      key: 'municipality',
    });
    expect(unknown.status).toBe(404);
    // Another municipality gets the same answer as for an unknown referral: it learns nothing of this one.
    expect((await app.request('/fhir/Task', { json: task, key: 'otherMunicipality' })).status).toBe(404);
  });

  it('takes a Task whose focus is the reference the webhook sent, or the ServiceRequest’s resource-id identifier', async () => {
    const { id } = await deliveredReferral();
    const delivered = municipality.deliveries.at(-1)!;
    const serviceRequest = resourcesIn(delivered).find(
      (r): r is ServiceRequest => r.resourceType === 'ServiceRequest',
    )!;
    const resourceId = serviceRequest.identifier!.find((i) => i.system === RESOURCE_ID_SYSTEM)!;
    const send = (focus: unknown, status: string) =>
      app.request('/fhir/Task', {
        key: 'municipality',
        json: { resourceType: 'Task', status, intent: 'order', focus },
      });
    for (const [focus, status] of [
      [{ identifier: { system: resourceId.system, value: resourceId.value } }, 'received'],
      [{ reference: `https://jeugdbrug.nl/fhir/ServiceRequest/${resourceId.value}` }, 'accepted'],
      [{ reference: `ServiceRequest/${resourceId.value}` }, 'completed'],
    ] as const) {
      const res = await send(focus, status);
      expect([focus, res.status]).toEqual([focus, 201]);
      expect(await recordedOn(((await res.json()) as Task).id)).toBe(id);
    }
    const none = await send({ type: 'ServiceRequest' }, 'accepted');
    expect(none.status).toBe(422);
    expect(JSON.stringify(await none.json())).toContain('Task.focus.identifier');
  });

  it('answers 422 at Task.statusReason for a rejection without a reason it can read, and stores nothing', async () => {
    const { id, identifier } = await deliveredReferral();
    const send = (statusReason: unknown) =>
      app.request('/fhir/Task', {
        key: 'municipality',
        json: { resourceType: 'Task', status: 'rejected', intent: 'order', statusReason, focus: { identifier } },
      });
    for (const statusReason of [
      { coding: [{ system: REFERRAL_REJECTION_REASON_SYSTEM, code: 'bogus' }], text: 'nee' },
      { coding: [{ code: 'bogus' }], text: 'nee' },
      { coding: [{ system: 'http://snomed.info/sct', code: '183932001' }] },
      // A rejection without its coded reason: the practice would learn of it without knowing why.
      { text: 'Past beter bij het wijkteam' },
      undefined,
    ]) {
      const res = await send(statusReason);
      expect(res.status).toBe(422);
      const outcome = (await res.json()) as { issue: { expression: string[] }[] };
      expect(outcome.issue.flatMap((i) => i.expression).join()).toMatch(/^Task\.statusReason/);
    }
    expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [id])).toHaveLength(0);
    // A known code without system is read as a rejection reason, as businessStatus reads its codes.
    const res = await send({ coding: [{ code: 'other-municipality' }] });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Task).statusReason?.coding?.[0]?.code).toBe('other-municipality');
  });

  it('answers 422 at Task.businessStatus for a businessStatus without a known referral-status code', async () => {
    const { id, identifier } = await deliveredReferral();
    const send = (businessStatus: unknown, status = 'accepted') =>
      app.request('/fhir/Task', {
        key: 'municipality',
        json: { resourceType: 'Task', status, intent: 'order', businessStatus, focus: { identifier } },
      });
    for (const businessStatus of [
      { coding: [{ code: 'zzz' }] },
      { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'zzz' }] },
      { coding: [{ system: 'http://hl7.org/fhir/task-status', code: 'accepted' }] },
      { text: 'accepted' },
    ]) {
      const res = await send(businessStatus);
      expect(res.status).toBe(422);
      const outcome = (await res.json()) as { resourceType: string; issue: { expression: string[] }[] };
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue.flatMap((i) => i.expression).join()).toMatch(/^Task\.businessStatus/);
    }
    expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [id])).toHaveLength(0);
    // A code without system is read as a referral-status code; businessStatus says the status, and Task.status must
    // be the one the ConceptMap gives it (a contradicting one is a 422 at Task.status, fhir-task-create.test.ts).
    const res = await send({ coding: [{ code: 'received' }] }, 'received');
    expect(res.status).toBe(201);
    expect(((await res.json()) as Task).businessStatus?.coding?.[0]?.code).toBe('received');
  });

  it('answers 422 at Task.output for a decision dated after today, naming the detail it came from', async () => {
    const { identifier } = await deliveredReferral();
    const output = (code: string, value: Record<string, unknown>) => ({
      type: { coding: [{ system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-allocation', code }] },
      ...value,
    });
    const res = await app.request('/fhir/Task', {
      key: 'municipality',
      json: {
        resourceType: 'Task',
        status: 'in-progress',
        intent: 'order',
        businessStatus: {
          coding: [{ system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-status', code: 'decision-issued' }],
        },
        focus: { type: 'ServiceRequest', identifier },
        output: [
          output('decision-number', { valueIdentifier: { value: 'B-2026-0043' } }),
          output('decision-date', { valueDate: amsterdamDay(new Date(Date.now() + 86_400_000)) }),
          output('product-category', { valueCodeableConcept: { coding: [{ system: JZ020_SYSTEM, code: '45' }] } }),
          output('decision-period', { valuePeriod: { start: '2027-01-01' } }),
        ],
      },
    });
    expect(res.status).toBe(422);
    const outcome = (await res.json()) as { issue: { expression: string[] }[] };
    expect(outcome.issue.flatMap((i) => i.expression)).toEqual(["Task.output.where(type.coding.code='decision-date')"]);
  });

  it('answers a Task sent again under its Idempotency-Key with the first update, another Task under it with 422', async () => {
    const { identifier } = await deliveredReferral();
    const task = (status: string) => ({
      resourceType: 'Task',
      status,
      intent: 'order',
      focus: { type: 'ServiceRequest', identifier },
    });
    const send = (status: string) =>
      app.request('/fhir/Task', {
        json: task(status),
        key: 'municipality',
        headers: { 'Idempotency-Key': 'gm-task-1' },
      });
    const first = await send('received');
    expect(first.status).toBe(201);
    const other = await send('accepted');
    expect(other.status).toBe(422);
    const outcome = (await other.json()) as { issue: { expression: string[] }[] };
    expect(outcome.issue.flatMap((i) => i.expression)).toEqual(['Idempotency-Key']);
    // The repeat creates nothing: 200 with the Task stored the first time, as for a conditional create that matched.
    const again = await send('received');
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(await again.json()).toEqual(await first.json());
  });

  it('answers with an OperationOutcome (information) or no body when Prefer: return= asks for it', async () => {
    const { identifier } = await deliveredReferral();
    const send = (status: string, prefer: string) =>
      app.request('/fhir/Task', {
        key: 'municipality',
        headers: { Prefer: prefer },
        json: { resourceType: 'Task', status, intent: 'order', focus: { identifier } },
      });
    const outcome = await send('received', 'return=OperationOutcome');
    expect(outcome.status).toBe(201);
    expect(outcome.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(outcome.headers.get('preference-applied')).toBe('return=OperationOutcome');
    const body = (await outcome.json()) as { resourceType: string; issue: { severity: string; code: string }[] };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue).toEqual([expect.objectContaining({ severity: 'information', code: 'informational' })]);
    const minimal = await send('accepted', 'return=minimal');
    expect(minimal.status).toBe(201);
    expect(minimal.headers.get('preference-applied')).toBe('return=minimal');
    expect(await minimal.text()).toBe('');
    const [row] = await app.rt.ctx.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM feedback WHERE task->'focus'->'identifier'->>'value' = $1`,
      [identifier.value],
    );
    expect(Number(row?.n)).toBe(2);
  });

  it('answers 409 at Task.focus.identifier when an identifier without system names referrals of two practices', async () => {
    const ours = buildReferralEvent();
    const theirs = buildReferralEvent({
      practice: { agb: OTHER_PRACTICE_AGB, name: 'Praktijk Zuid' },
      referral: { ...(ours.referral as object) },
    });
    await submit(app, consentFor(ours));
    await submit(app, consentFor(theirs), 'otherPractice');
    const ids = [await submit(app, ours), await submit(app, theirs, 'otherPractice')];
    for (const id of ids) {
      expect(await stateOf(app, id, ['delivered', 'denied'])).toBe('delivered');
    }
    const value = (ours.referral as { id: string }).id;
    const task = (identifier: Identifier) => ({
      resourceType: 'Task',
      status: 'accepted',
      intent: 'order',
      focus: { type: 'ServiceRequest', identifier },
    });
    const ambiguous = await app.request('/fhir/Task', { json: task({ value }), key: 'municipality' });
    expect(ambiguous.status).toBe(409);
    const outcome = (await ambiguous.json()) as { issue: { expression: string[]; details: { text: string } }[] };
    expect(outcome.issue[0]?.expression).toEqual(['Task.focus.identifier']);
    expect(outcome.issue[0]?.details.text).toContain(`urn:agb:${OTHER_PRACTICE_AGB}:referral|${value}`);
    expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = ANY($1)', [ids])).toHaveLength(0);

    const named = await app.request('/fhir/Task', {
      json: task({ system: `urn:agb:${OTHER_PRACTICE_AGB}:referral`, value }),
      key: 'municipality',
    });
    expect(named.status).toBe(201);
    expect(await recordedOn(((await named.json()) as Task).id)).toBe(ids[1]);
  });
});
