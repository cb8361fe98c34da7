import type { Bundle, CapabilityStatement, Task } from '@medplum/fhirtypes';
import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { BSN_SYSTEM } from '../../src/kernel/fhir/identifiers';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { fhirClient } from '../helpers/fhir-client';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A municipality that posts a status as a Task (POST /fhir/Task) reads it back as a FHIR client does: by id, and by
// a search for the Tasks of the referral (focus). Every read is audited as the referral's status reads are.
describe('GET /fhir/Task/{id} and GET /fhir/Task?focus=', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let eventId = '';
  let referralValue = '';
  let referralSystem = '';
  let serviceRequestId = '';
  let bsn = '';
  const created: Task[] = [];
  let location = '';

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    const referral = buildReferralEvent();
    referralValue = (referral.referral as { id: string }).id;
    referralSystem = `urn:agb:${PRACTICE_AGB}:referral`;
    bsn = (referral.child as { bsn: string }).bsn;
    const res = await app.request('/his/v1/events', { json: referral });
    eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
      return row?.state === 'delivered' ? true : undefined;
    });
    const [identity] = await app.rt.ctx.db.query<{ service_request_id: string }>(
      'SELECT service_request_id::text FROM referral_identifier WHERE inbox_id = $1',
      [eventId],
    );
    serviceRequestId = identity!.service_request_id;
    for (const status of ['received', 'accepted']) {
      const posted = await app.request('/fhir/Task', {
        key: 'municipality',
        json: { resourceType: 'Task', status, intent: 'order', focus: { identifier: { value: referralValue } } },
      });
      expect(posted.status).toBe(201);
      location = posted.headers.get('location') ?? '';
      created.push((await posted.json()) as Task);
    }
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const read = (id: string, key: KeyName) => app.request(`/fhir/Task/${id}`, { key });
  const search = (query: string, key: KeyName) => app.request(`/fhir/Task?${query}`, { key });
  const focusIdentifier = () => `focus:identifier=${encodeURIComponent(`${referralSystem}|${referralValue}`)}`;

  /** The AuditEvents of reads by `principal` naming the referral's event, as the practice's chain holds them. */
  const readsBy = async (principal: string) => {
    await app.rt.ctx.audit.flush();
    return app.rt.ctx.db.query<{ tenant: string; outcome: string; patient_bsn: string | null; entities: string[] }>(
      `SELECT tenant, outcome, patient_bsn, entities FROM audit_event
       WHERE entities @> ARRAY[$1] AND agents @> ARRAY[$2] ORDER BY seq`,
      [`inbox/${eventId}`, `${PRINCIPAL_SYSTEM}|api-key:${principal.toLowerCase()}`],
    );
  };

  it("answers the create with the Location of the Task's read, which serves the Task as the create answered it", async () => {
    const last = created.at(-1)!;
    expect(location).toBe(`${app.url}/fhir/Task/${last.id}`);
    const res = await app.request(new URL(location).pathname, { key: 'municipality' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(await res.json()).toEqual(last);
    // A stored Task is never changed: no versions (as AuditEvent), Last-Modified its meta.lastUpdated, an ETag.
    expect(res.headers.get('last-modified')).toBe(new Date(last.meta!.lastUpdated!).toUTCString());
    expect(res.headers.get('etag')).toBeTruthy();
  });

  it('is read by a FHIR client written by others, and searched by the referral it is on', async () => {
    const client = fhirClient(app, 'municipality');
    const task = (await client.read({ resourceType: 'Task', id: created[0]!.id! })) as Task;
    expect(task).toEqual(created[0]);
    const bundle = (await client.search({
      resourceType: 'Task',
      searchParams: { 'focus:identifier': `${referralSystem}|${referralValue}` },
    })) as Bundle<Task>;
    expect(bundle.entry?.map((e) => e.resource?.id)).toEqual(created.map((t) => t.id));
  });

  it.each<[string, () => string]>([
    ['focus:identifier=system|value', focusIdentifier],
    ['focus:identifier=value', () => `focus:identifier=${encodeURIComponent(referralValue)}`],
    ['focus=ServiceRequest/<id>', () => `focus=ServiceRequest/${serviceRequestId}`],
    ['focus=<the webhook’s focus>', () => `focus=https://jeugdbrug.nl/fhir/ServiceRequest/${serviceRequestId}`],
  ])("finds the referral's Tasks, oldest first, by %s", async (_what, query) => {
    const res = await search(query(), 'municipality');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const bundle = (await res.json()) as Bundle<Task>;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
    expect(bundle.entry?.map((e) => e.resource)).toEqual(created);
    expect(bundle.entry?.map((e) => e.fullUrl)).toEqual(created.map((t) => `${app.url}/fhir/Task/${t.id}`));
  });

  it('takes _tag and _tag:not as FHIR has them, by the tags the Tasks carry: none', async () => {
    const tag = encodeURIComponent('https://jeugdbrug.nl/fhir/CodeSystem/referral-tag|consent-withdrawn');
    const idsOf = async (query: string, key: KeyName) => {
      const res = await search(query, key);
      expect(res.status).toBe(200);
      return ((await res.json()) as Bundle<Task>).entry?.map((e) => e.resource?.id) ?? [];
    };
    const all = created.map((t) => t.id);
    expect(await idsOf(`${focusIdentifier()}&_tag=${tag}`, 'municipality')).toEqual([]);
    expect(await idsOf(`${focusIdentifier()}&_tag:not=${tag}`, 'municipality')).toEqual(all);
    expect(await idsOf(`_lastUpdated=ge2000-01-01&_tag=${tag}`, 'practice')).toEqual([]);
    expect(await idsOf(`_lastUpdated=ge2000-01-01&_tag:not=${tag},other`, 'practice')).toEqual(all);
    const other = await search(`${focusIdentifier()}&_tag:text=x`, 'municipality');
    expect(other.status).toBe(400);
    expect(((await other.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression).toEqual([
      '_tag:text',
    ]);
  });

  it('finds the same with the parameters in a form body (POST /fhir/Task/_search)', async () => {
    const res = await app.request('/fhir/Task/_search', {
      key: 'municipality',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ 'focus:identifier': `${referralSystem}|${referralValue}` }).toString(),
    });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as Bundle<Task>;
    expect(bundle.entry?.map((e) => e.resource)).toEqual(created);
  });

  it('pages with _count through next links, newest first with _sort=-_lastUpdated', async () => {
    const first = (await (await search(`${focusIdentifier()}&_count=1`, 'municipality')).json()) as Bundle<Task>;
    expect(first.entry?.map((e) => e.resource?.id)).toEqual([created[0]!.id]);
    const next = first.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toBeDefined();
    const second = (await (
      await app.request(new URL(next!).pathname + new URL(next!).search, {
        key: 'municipality',
      })
    ).json()) as Bundle<Task>;
    expect(second.entry?.map((e) => e.resource?.id)).toEqual([created[1]!.id]);
    expect(second.link?.find((l) => l.relation === 'next')).toBeUndefined();
    const newest = (await (
      await search(`${focusIdentifier()}&_sort=-_lastUpdated`, 'municipality')
    ).json()) as Bundle<Task>;
    expect(newest.entry?.map((e) => e.resource?.id)).toEqual(created.map((t) => t.id).reverse());
  });

  it.each<[KeyName, number]>([
    ['municipality', 2],
    ['practice', 2],
    ['auditor', 2],
    ['operator', 2],
    ['otherMunicipality', 0],
    ['otherPractice', 0],
    ['otherOperator', 0],
  ])("lets %s read and find the referral's Tasks as far as its scope reaches (%d)", async (key, count) => {
    const found = (await (await search(focusIdentifier(), key)).json()) as Bundle<Task>;
    expect(found.total).toBe(count);
    expect((await read(created[0]!.id!, key)).status).toBe(count > 0 ? 200 : 404);
  });

  it("answers another party's Task 404, as an unknown id, and records the refused read in the practice's chain", async () => {
    const unknown = await read('00000000-0000-4000-8000-000000000000', 'otherMunicipality');
    expect(unknown.status).toBe(404);
    expect((await read('not-a-task-id', 'otherMunicipality')).status).toBe(404);
    const before = (await readsBy('otherMunicipality')).length;
    const res = await read(created[0]!.id!, 'otherMunicipality');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(await unknown.json());
    const reads = await readsBy('otherMunicipality');
    expect(reads).toHaveLength(before + 1);
    expect(reads.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
    expect(reads.at(-1)?.entities).toContain(`Task/${created[0]!.id}`);
  });

  it("answers a search naming another party's referral with an empty searchset, the refusal on record with the child", async () => {
    const none = (await (await search('focus:identifier=no-such-referral', 'otherMunicipality')).json()) as Bundle;
    expect(none).toMatchObject({ type: 'searchset', total: 0 });
    const before = (await readsBy('otherMunicipality')).length;
    const res = await search(focusIdentifier(), 'otherMunicipality');
    expect(res.status).toBe(200);
    expect((await res.json()) as Bundle).toMatchObject({ type: 'searchset', total: 0 });
    const reads = await readsBy('otherMunicipality');
    expect(reads).toHaveLength(before + 1);
    expect(reads.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
  });

  it.each<[string, () => Promise<Response>]>([
    ['a read', () => read(created[0]!.id!, 'municipality')],
    ['a search', () => search(focusIdentifier(), 'municipality')],
  ])("records %s in the practice's chain with the child and the referral's event", async (_what, send) => {
    const before = (await readsBy('municipality')).length;
    expect((await send()).status).toBe(200);
    const reads = await readsBy('municipality');
    expect(reads).toHaveLength(before + 1);
    expect(reads.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0', patient_bsn: bsn });
    expect(reads.at(-1)?.entities).toContain(`${BSN_SYSTEM}|${bsn}`);
  });

  it.each([
    ['without focus', '', 'focus'],
    ['with two referrals', `${'focus:identifier=a,b'}`, 'focus:identifier'],
    ['with a parameter Task search does not serve', 'status=accepted', 'status'],
  ])('answers a search %s 400 naming the parameter', async (_what, query, parameter) => {
    const res = await search(query, 'municipality');
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.expression).toEqual([parameter]);
  });

  it("lets a practice catch up on its referrals' statuses since a moment (_lastUpdated), paged and audited", async () => {
    const first = new Date(created[0]!.meta!.lastUpdated!).getTime();
    const since = encodeURIComponent(new Date(first - 1000).toISOString());
    const res = await search(`_lastUpdated=ge${since}&_count=1`, 'practice');
    expect(res.status).toBe(200);
    const page = (await res.json()) as Bundle<Task>;
    expect(page).toMatchObject({ type: 'searchset', total: 2 });
    expect(page.entry?.map((e) => e.resource?.id)).toEqual([created[0]!.id]);
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toBeDefined();
    const second = (await (
      await app.request(new URL(next!).pathname + new URL(next!).search, { key: 'practice' })
    ).json()) as Bundle<Task>;
    expect(second.entry?.map((e) => e.resource?.id)).toEqual([created[1]!.id]);
    // Nothing after the newest; nothing of the practice's referrals for another practice.
    const after = encodeURIComponent(created[1]!.meta!.lastUpdated!);
    expect((await (await search(`_lastUpdated=gt${after}`, 'practice')).json()) as Bundle).toMatchObject({ total: 0 });
    expect((await (await search(`_lastUpdated=ge${since}`, 'otherPractice')).json()) as Bundle).toMatchObject({
      total: 0,
    });
    // With focus it narrows the referral's history.
    const narrowed = (await (
      await search(
        `${focusIdentifier()}&_lastUpdated=ge${encodeURIComponent(created[1]!.meta!.lastUpdated!)}`,
        'practice',
      )
    ).json()) as Bundle<Task>;
    expect(narrowed.entry?.map((e) => e.resource?.id)).toEqual([created[1]!.id]);
    // Each read is on record in the practice's chain, with the referral's event.
    const before = (await readsBy('practice')).length;
    expect((await search(`_lastUpdated=ge${since}&_lastUpdated=lt2100-01-01`, 'practice')).status).toBe(200);
    const reads = await readsBy('practice');
    expect(reads).toHaveLength(before + 1);
    expect(reads.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0', patient_bsn: bsn });
  });

  it('answers a municipality _lastUpdated without focus 400 naming focus: its feed is the ServiceRequest search', async () => {
    const res = await search('_lastUpdated=ge2020-01-01', 'municipality');
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(outcome.issue[0]?.expression).toEqual(['focus']);
  });

  it('finds nothing for a referral still on its way to the caller, and records no refusal: it is its own', async () => {
    const before = (await readsBy('municipality')).length;
    // On its way for the first time: a referral delivered before and now sent again (a redelivery) is the
    // municipality's already, and is found.
    const [delivered] = await app.rt.ctx.db.query<{ delivered_at: Date }>(
      `UPDATE delivery d SET state = 'pending', delivered_at = NULL FROM delivery o
       WHERE d.inbox_id = $1 AND o.id = d.id RETURNING o.delivered_at`,
      [eventId],
    );
    try {
      const res = await search(focusIdentifier(), 'municipality');
      expect((await res.json()) as Bundle).toMatchObject({ type: 'searchset', total: 0 });
    } finally {
      await app.rt.ctx.db.query(`UPDATE delivery SET state = 'delivered', delivered_at = $2 WHERE inbox_id = $1`, [
        eventId,
        delivered!.delivered_at,
      ]);
    }
    const reads = await readsBy('municipality');
    expect(reads.slice(before).filter((r) => r.outcome !== '0')).toEqual([]);
  });

  it('declares read, search (focus) and create of Task in the CapabilityStatement, once', async () => {
    const statement = (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;
    const tasks = statement.rest![0]!.resource!.filter((r) => r.type === 'Task');
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!.interaction?.map((i) => i.code).sort()).toEqual(['create', 'read', 'search-type']);
    expect(tasks[0]!.searchParam?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['focus', '_lastUpdated', '_tag']),
    );
    expect(tasks[0]!.versioning).toBe('no-version');
  });
});
