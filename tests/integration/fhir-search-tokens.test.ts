import type { Bundle, CapabilityStatement, OperationOutcome, ServiceRequest, Task } from '@medplum/fhirtypes';
import { REFERRAL_STATUS_SYSTEM } from '../../src/kernel/fhir/terminology';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// report-xmuni 3, 4, 6 and 7: token searches by system alone, `_elements` keeping what FHIR requires, the Task's
// own identifier searchable as the conditional create matches it, and errors that say what was wrong.
describe('FHIR search as a municipality’s client meets it', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const system = `urn:agb:${PRACTICE_AGB}:referral`;
  const TASK_SYSTEM = 'urn:gm0226:task';
  const values: string[] = [];

  async function delivered(): Promise<string> {
    const referral = buildReferralEvent();
    const res = await app.request('/his/v1/events', { json: referral });
    const eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
      return row?.state === 'delivered' ? true : undefined;
    });
    return (referral.referral as { id: string }).id;
  }

  const createTask = (value: string, own: string) =>
    app.request('/fhir/Task', {
      key: 'municipality',
      json: {
        resourceType: 'Task',
        status: 'accepted',
        intent: 'order',
        identifier: [{ system: TASK_SYSTEM, value: own }],
        businessStatus: { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: 'accepted' }] },
        focus: { identifier: { value } },
      },
      headers: { 'If-None-Exist': `identifier=${TASK_SYSTEM}|${own}` },
    });

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    values.push(await delivered(), await delivered());
    expect((await createTask(values[0]!, 't-100')).status).toBe(201);
    expect((await createTask(values[1]!, 't-200')).status).toBe(201);
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const get = async <T>(path: string, key: KeyName = 'municipality', status = 200): Promise<T> => {
    const res = await app.request(path, { key });
    const body = (await res.json()) as T;
    expect({ status: res.status, body }).toMatchObject({ status });
    return body;
  };
  const problemOf = async (path: string) => {
    const outcome = await get<OperationOutcome>(path, 'municipality', 400);
    return { text: outcome.issue?.[0]?.details?.text ?? '', expression: outcome.issue?.[0]?.expression };
  };

  it('finds every referral of a system by identifier=<system>| (FHIR: any value of the system)', async () => {
    const bundle = await get<Bundle<ServiceRequest>>(
      `/fhir/ServiceRequest?identifier=${encodeURIComponent(system)}%7C`,
    );
    expect(bundle.total).toBe(2);
    expect(bundle.entry?.map((e) => e.resource?.identifier?.[0]?.value).sort()).toEqual([...values].sort());
    expect((await get<Bundle>('/fhir/ServiceRequest?identifier=urn:other%7C')).total).toBe(0);
  });

  it('answers Task focus:identifier=<system>| 400: one referral per search', async () => {
    const problem = await problemOf(`/fhir/Task?focus:identifier=${encodeURIComponent(system)}%7C`);
    expect(problem.expression).toEqual(['focus:identifier']);
    expect(problem.text).toContain("a value is required after '|'");
  });

  it('keeps the elements FHIR requires in an _elements answer', async () => {
    const bundle = await get<Bundle<ServiceRequest>>('/fhir/ServiceRequest?_count=1&_elements=identifier');
    const resource = bundle.entry![0]!.resource as unknown as Record<string, unknown>;
    expect(Object.keys(resource).sort()).toEqual([
      'id',
      'identifier',
      'intent',
      'meta',
      'resourceType',
      'status',
      'subject',
    ]);
    const tasks = await get<Bundle<Task>>(`/fhir/Task?focus:identifier=${values[0]}&_elements=businessStatus`);
    expect(Object.keys(tasks.entry![0]!.resource!).sort()).toEqual(
      ['businessStatus', 'id', 'intent', 'meta', 'resourceType', 'status'].sort(),
    );
  });

  it('finds the Tasks a municipality sent by its own identifier, as If-None-Exist matches them', async () => {
    const one = await get<Bundle<Task>>(`/fhir/Task?identifier=${TASK_SYSTEM}%7Ct-100`);
    expect(one.entry?.map((e) => e.resource?.identifier?.find((i) => i.system === TASK_SYSTEM)?.value)).toEqual([
      't-100',
    ]);
    expect((await get<Bundle>('/fhir/Task?identifier=t-200')).total).toBe(1);
    expect((await get<Bundle>(`/fhir/Task?identifier=${TASK_SYSTEM}%7C`)).total).toBe(2);
    expect((await get<Bundle>(`/fhir/Task?identifier=${TASK_SYSTEM}%7Ct-100`, 'otherMunicipality')).total).toBe(0);
    const statement = await get<CapabilityStatement>('/fhir/metadata', null as never);
    const task = statement.rest![0]!.resource!.find((r) => r.type === 'Task');
    expect(task?.conditionalCreate).toBe(true);
    expect(task?.searchParam?.map((p) => p.name)).toContain('identifier');
  });

  it.each([
    ['/fhir/ServiceRequest?status:not=active', 'status:not', "the modifier ':not' is not supported on status"],
    ['/fhir/ServiceRequest?identifier:missing=false', 'identifier:missing', "the modifier ':missing' is not supported"],
    [
      '/fhir/ServiceRequest?_lastUpdated=ge2026-12-07T05:34:00+01:00',
      '_lastUpdated',
      "(a '+' in a URL must be sent as %2B)",
    ],
  ])('says what is wrong with %s', async (path, parameter, words) => {
    const problem = await problemOf(path);
    expect(problem.expression).toEqual([parameter]);
    expect(problem.text).toContain(words);
  });
});
