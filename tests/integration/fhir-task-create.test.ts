import type { CapabilityStatement, OperationOutcome, Task } from '@medplum/fhirtypes';
import { REFERRAL_STATUS_SYSTEM, tryGetDisplayIn } from '../../src/kernel/fhir/terminology';
import { ALLOCATION_OUTPUT_SYSTEM } from '../../mappings/practice/to-task';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// POST /fhir/Task as a FHIR client (HAPI, Medplum) meets it: the Task is checked as R4, the day the status took
// effect is read from the Task, the municipality's own identifier is kept (If-None-Exist), and every refusal names
// the Task element by a FHIRPath expression.
describe('POST /fhir/Task as a FHIR create', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
  });

  afterAll(async () => {
    jest.useRealTimers();
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  /** A referral (written 2026-11-20) delivered to the municipality: the value of its identifier and its event. */
  async function deliveredReferral(): Promise<{ value: string; eventId: string }> {
    const referral = buildReferralEvent();
    const res = await app.request('/his/v1/events', { json: referral });
    const eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
      return row?.state === 'delivered' ? true : undefined;
    });
    return { value: (referral.referral as { id: string }).id, eventId };
  }

  const post = (task: Record<string, unknown>, opts: { headers?: Record<string, string>; query?: string } = {}) =>
    app.request(`/fhir/Task${opts.query ?? ''}`, { key: 'municipality', json: task, headers: opts.headers ?? {} });

  const accepted = (value: string, extra: Record<string, unknown> = {}) => ({
    resourceType: 'Task',
    status: 'accepted',
    intent: 'order',
    businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'accepted' }] },
    focus: { identifier: { value } },
    ...extra,
  });

  const timelineOf = async (value: string) =>
    (
      (await (await app.request(`/municipality/v1/referrals/${value}/status`, { key: 'municipality' })).json()) as {
        timeline: { steps: { status: string; date: string }[]; waitingDays: Record<string, number> };
      }
    ).timeline;

  async function issuesOf(res: Response, status = 422): Promise<{ expression: string[]; severity: string }[]> {
    expect(res.status).toBe(status);
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    return (outcome.issue ?? []).map((i) => ({ expression: i.expression ?? [], severity: i.severity }));
  }
  const expressionsOf = async (res: Response, status = 422) =>
    (await issuesOf(res, status)).flatMap((i) => i.expression);

  describe('the day the status took effect', () => {
    it('is Task.executionPeriod.start, which the timeline and its waiting days count from', async () => {
      const { value } = await deliveredReferral();
      const res = await post(accepted(value, { executionPeriod: { start: '2026-11-27' } }));
      expect(res.status).toBe(201);
      const timeline = await timelineOf(value);
      expect(timeline.steps.map((s) => [s.status, s.date])).toEqual([['accepted', '2026-11-27']]);
      expect(timeline.waitingDays.referralToAccepted).toBe(7);
    });

    it('is Task.lastModified (its day in Dutch time) without an executionPeriod, before authoredOn', async () => {
      const { value } = await deliveredReferral();
      const res = await post(
        accepted(value, { lastModified: '2026-11-25T23:30:00Z', authoredOn: '2026-11-21T09:00:00+01:00' }),
      );
      expect(res.status).toBe(201);
      expect((await timelineOf(value)).steps.map((s) => s.date)).toEqual(['2026-11-26']);
    });

    it('is the output status-date before all of them, as jeugdbrug gives it in the Tasks to practices', async () => {
      const { value } = await deliveredReferral();
      const statusDate = {
        type: { coding: [{ system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-allocation', code: 'status-date' }] },
        valueDate: '2026-11-24',
      };
      const res = await post(accepted(value, { output: [statusDate], executionPeriod: { start: '2026-11-27' } }));
      expect(res.status).toBe(201);
      const timeline = await timelineOf(value);
      expect(timeline.steps.map((s) => s.date)).toEqual(['2026-11-24']);
      expect(timeline.waitingDays.referralToAccepted).toBe(4);
    });

    it('is refused at its element when it is no day of the referral (before it was made)', async () => {
      const { value } = await deliveredReferral();
      const res = await post(accepted(value, { authoredOn: '2026-11-01' }));
      expect(await expressionsOf(res)).toEqual(['Task.authoredOn']);
    });

    it('makes the same Task sent again after midnight a repeat, not a new status step', async () => {
      const { value } = await deliveredReferral();
      const task = accepted(value, { executionPeriod: { start: '2026-11-27' } });
      const first = await post(task);
      expect(first.status).toBe(201);
      const firstId = ((await first.json()) as Task).id;
      // Tomorrow (only the clock moves; timers stay real so the database and Redis work as ever).
      jest.useFakeTimers({
        now: Date.now() + 24 * 3600_000,
        advanceTimers: true,
        doNotFake: [
          'hrtime',
          'nextTick',
          'performance',
          'queueMicrotask',
          'requestAnimationFrame',
          'cancelAnimationFrame',
          'requestIdleCallback',
          'cancelIdleCallback',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'setTimeout',
          'clearTimeout',
        ],
      });
      try {
        const again = await post(task);
        expect(again.status).toBe(200);
        expect(((await again.json()) as Task).id).toBe(firstId);
      } finally {
        jest.useRealTimers();
      }
      expect((await timelineOf(value)).steps).toHaveLength(1);
    });
  });

  describe('an R4 Task', () => {
    it('needs status and intent: 422 at Task.status and Task.intent', async () => {
      const { value } = await deliveredReferral();
      const task = accepted(value);
      expect(await expressionsOf(await post({ ...task, status: undefined }))).toEqual(
        expect.arrayContaining(['Task.status']),
      );
      expect(await expressionsOf(await post({ ...task, intent: undefined }))).toEqual(
        expect.arrayContaining(['Task.intent']),
      );
    });

    it('refuses an element R4 does not know, at that element, and stores nothing', async () => {
      const { value, eventId } = await deliveredReferral();
      expect(await expressionsOf(await post(accepted(value, { bogusElement: 'x' })))).toEqual(
        expect.arrayContaining(['Task.bogusElement']),
      );
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [eventId])).toHaveLength(0);
    });

    it('refuses a status that contradicts businessStatus, at Task.status', async () => {
      const { value } = await deliveredReferral();
      const res = await post(
        accepted(value, { businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'received' }] } }),
      );
      expect(await expressionsOf(res)).toEqual(['Task.status']);
    });

    it('refuses a note, which jeugdbrug neither keeps nor sends on, at Task.note', async () => {
      const { value } = await deliveredReferral();
      const res = await post(accepted(value, { note: [{ text: 'gesprek gepland' }] }));
      expect(await expressionsOf(res)).toEqual(['Task.note']);
    });

    it("refuses free text in businessStatus (its text, a display not the code's own), at the element, storing nothing", async () => {
      const { value, eventId } = await deliveredReferral();
      const status = (extra: Record<string, unknown>) => ({
        businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'accepted', ...extra }] },
      });
      expect(
        await expressionsOf(
          await post(accepted(value, { businessStatus: { ...status({}).businessStatus, text: 'moeder belde' } })),
        ),
      ).toEqual(['Task.businessStatus.text']);
      expect(await expressionsOf(await post(accepted(value, status({ display: 'moeder belde' }))))).toEqual([
        'Task.businessStatus.coding[0].display',
      ]);
      expect(
        await expressionsOf(
          await post(
            accepted(value, { statusReason: { coding: [{ code: 'other', display: 'moeder belde' }], text: 'x' } }),
          ),
        ),
      ).toEqual(['Task.statusReason.coding[0].display']);
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [eventId])).toHaveLength(0);
      // The code's own display is no free text: taken.
      const own = await post(
        accepted(value, status({ display: tryGetDisplayIn(REFERRAL_STATUS_SYSTEM, 'accepted', 'nl') })),
      );
      expect(own.status).toBe(201);
    });

    it('takes priority, basedOn, partOf and groupIdentifier, and says in its OperationOutcome it keeps none', async () => {
      const { value } = await deliveredReferral();
      const workflow = {
        priority: 'urgent',
        basedOn: [{ identifier: { value } }],
        partOf: [{ reference: 'https://gemeente.example.nl/fhir/Task/intake-1' }],
        groupIdentifier: { system: 'https://gemeente.example.nl/dossier', value: 'D-1' },
      };
      const res = await post(accepted(value, workflow), { headers: { prefer: 'return=OperationOutcome' } });
      expect(res.status).toBe(201);
      const outcome = (await res.json()) as OperationOutcome;
      const ignored = outcome.issue.filter((i) => i.severity === 'warning');
      expect(ignored.map((i) => i.expression?.[0]).sort()).toEqual([
        'Task.basedOn',
        'Task.groupIdentifier',
        'Task.partOf',
        'Task.priority',
      ]);
      for (const issue of ignored) {
        expect(issue.code).toBe('informational');
        expect(issue.details?.text).toMatch(/not kept/);
      }
      // The status is recorded as without them, and the Task stored (and sent on) carries none of them.
      expect((await timelineOf(value)).steps.map((s) => s.status)).toEqual(['accepted']);
      const location = res.headers.get('location') ?? '';
      const stored = (await (await app.request(new URL(location).pathname, { key: 'municipality' })).json()) as Task;
      expect(stored.status).toBe('accepted');
      for (const element of Object.keys(workflow)) {
        expect([element, element in stored]).toEqual([element, false]);
      }
      // The same Task as representation (the default) is answered as any repeat.
      const again = await post(accepted(value, workflow));
      expect(again.status).toBe(200);
      expect(((await again.json()) as Task).id).toBe(stored.id);
    });

    it('still checks those elements as R4: a priority R4 does not know is 422 at Task.priority', async () => {
      const { value } = await deliveredReferral();
      const res = await post(accepted(value, { priority: 'soon' }));
      expect(await expressionsOf(res)).toEqual(expect.arrayContaining(['Task.priority']));
    });

    it.each([
      ['modifierExtension', [{ url: 'https://gemeente.example.nl/ext/voorlopig', valueBoolean: true }], /meaning/],
      ['implicitRules', 'https://gemeente.example.nl/rules', /meaning/],
      ['restriction', { period: { end: '2026-12-31' } }, /limits/],
      ['input', [{ type: { text: 'x' }, valueString: 'y' }], /output/],
      ['description', 'besproken met moeder', /statusReason\.text/],
    ])('still refuses Task.%s, saying why at that element', async (element, given, why) => {
      const { value, eventId } = await deliveredReferral();
      const res = await post(accepted(value, { [element]: given }));
      expect(res.status).toBe(422);
      const issue = ((await res.json()) as OperationOutcome).issue.find((i) =>
        i.expression?.includes(`Task.${element}`),
      );
      expect(issue?.severity).toBe('error');
      expect(issue?.details?.text).toMatch(why);
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [eventId])).toHaveLength(0);
    });

    it('keeps the municipality’s own identifier: served back, and If-None-Exist on it finds the Task', async () => {
      const { value } = await deliveredReferral();
      const own = { system: 'https://gemeente.example.nl/task', value: `T-${value}` };
      const first = await post(accepted(value, { identifier: [own] }));
      expect(first.status).toBe(201);
      const stored = (await first.json()) as Task;
      expect(stored.identifier).toEqual(expect.arrayContaining([own]));
      // A conditional create that matches answers 200 with the Task, and stores nothing: not even another status.
      const again = await post(
        { ...accepted(value, { identifier: [own] }), status: 'rejected', businessStatus: undefined },
        { headers: { 'If-None-Exist': `identifier=${encodeURIComponent(`${own.system}|${own.value}`)}` } },
      );
      expect(again.status).toBe(200);
      expect(((await again.json()) as Task).id).toBe(stored.id);
      expect((await timelineOf(value)).steps.map((s) => s.status)).toEqual(['accepted']);
      // jeugdbrug's own identifier system is its own: a Task may not claim it.
      const claimed = await post(
        accepted(value, { identifier: [{ system: 'https://jeugdbrug.nl/fhir/NamingSystem/feedback', value: 'x' }] }),
      );
      expect(await expressionsOf(claimed)).toEqual(['Task.identifier']);
      const unsupported = await post(accepted(value), { headers: { 'If-None-Exist': 'status=accepted' } });
      expect(await expressionsOf(unsupported, 400)).toEqual(['If-None-Exist']);
    });
  });

  describe('issue.expression is FHIRPath naming what the client sent', () => {
    it('names the output a care-started status lacks', async () => {
      const { value } = await deliveredReferral();
      const res = await post({
        resourceType: 'Task',
        status: 'in-progress',
        intent: 'order',
        businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'care-started' }] },
        focus: { identifier: { value } },
      });
      expect((await expressionsOf(res)).sort()).toEqual([
        "Task.output.where(type.coding.code='provider')",
        "Task.output.where(type.coding.code='start-date')",
      ]);
    });

    it('says where the provider goes when it was sent as valueIdentifier: valueReference.identifier', async () => {
      const { value } = await deliveredReferral();
      const res = await post({
        resourceType: 'Task',
        status: 'in-progress',
        intent: 'order',
        businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'care-started' }] },
        focus: { identifier: { value } },
        output: [
          {
            type: { coding: [{ system: ALLOCATION_OUTPUT_SYSTEM, code: 'provider' }] },
            valueIdentifier: { value: '12345678' },
          },
          { type: { coding: [{ system: ALLOCATION_OUTPUT_SYSTEM, code: 'start-date' }] }, valueDate: '2026-11-25' },
        ],
      });
      expect(res.status).toBe(422);
      const [issue, ...others] = ((await res.json()) as OperationOutcome).issue ?? [];
      expect(others).toEqual([]);
      expect(issue?.expression).toEqual(["Task.output.where(type.coding.code='provider')"]);
      expect(issue?.details?.text).toMatch(/valueReference\.identifier\.value/);
      expect(issue?.details?.text).toMatch(/not valueIdentifier/);
    });

    it('takes without businessStatus only the R4 task-status codes that say a status, and names them at Task.status', async () => {
      const { value, eventId } = await deliveredReferral();
      // A referral-status code is no R4 task-status code: it goes in businessStatus, which the 422 points at.
      for (const status of ['decision-issued', 'in-progress']) {
        const res = await post({ resourceType: 'Task', status, intent: 'order', focus: { identifier: { value } } });
        expect(res.status).toBe(422);
        const [issue, ...others] = ((await res.json()) as OperationOutcome).issue ?? [];
        expect(others).toEqual([]);
        expect(issue?.expression).toEqual(['Task.status']);
        expect(issue?.details?.text).toMatch(/received, accepted, rejected or completed/);
        expect(issue?.details?.text).toMatch(/Task\.businessStatus/);
        expect(issue?.details?.text).not.toMatch(/one of received, accepted, rejected, decision-issued/);
      }
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [eventId])).toHaveLength(0);
      // The four that map still do.
      const res = await post({
        resourceType: 'Task',
        status: 'received',
        intent: 'order',
        focus: { identifier: { value } },
      });
      expect(res.status).toBe(201);
    });

    it('names Task.status when the client sent only Task.status', async () => {
      const { value } = await deliveredReferral();
      const res = await post({
        resourceType: 'Task',
        status: 'draft',
        intent: 'order',
        focus: { identifier: { value } },
      });
      expect(await expressionsOf(res)).toEqual(['Task.status']);
    });
  });

  it('says that an empty body is empty and must be a Task, not "not undefined"', async () => {
    const res = await app.request('/fhir/Task', {
      key: 'municipality',
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(res.status).toBe(400);
    const text = JSON.stringify(await res.json());
    expect(text).not.toContain('undefined');
    expect(text).toMatch(/body is empty/);
    expect(text).toMatch(/a Task/);
  });

  it('says in the CapabilityStatement that the create is conditional and where the day goes', async () => {
    const statement = (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;
    const task = statement.rest?.[0]?.resource?.find((r) => r.type === 'Task');
    expect(task?.conditionalCreate).toBe(true);
    expect(task?.interaction?.find((i) => i.code === 'create')?.documentation).toMatch(
      /output status-date, else executionPeriod\.start, else lastModified, else authoredOn/,
    );
  });

  it('answers an unknown query parameter with 400 naming it, as the reads do', async () => {
    const { value } = await deliveredReferral();
    const res = await post(accepted(value), { query: '?foo=1' });
    expect(await expressionsOf(res, 400)).toEqual(['foo']);
  });
});
