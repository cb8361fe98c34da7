import type { Bundle, CapabilityStatement, ServiceRequest } from '@medplum/fhirtypes';
import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { listReceivedReferrals } from '../../src/reports/referral-timeline/received-referrals';
import { buildReferralEvent, MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { fhirClient } from '../helpers/fhir-client';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A municipality's system lists and pages the referrals it received as a FHIR client does (report-xmuni 2):
// `GET /fhir/ServiceRequest`, the same referrals its console's received-referrals list shows, each once with the
// status the product gives it (active, revoked when rejected or cancelled by the practice, completed when closed).
describe('GET /fhir/ServiceRequest: the referrals a municipality received', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const system = `urn:agb:${PRACTICE_AGB}:referral`;
  /** By name: the referral's id at the practice, its event id and jeugdbrug's ServiceRequest id. */
  const referrals: Record<'open' | 'rejected' | 'cancelled' | 'closed', { value: string; event: string; id: string }> =
    {} as never;

  const stateOf = async (id: string) =>
    (await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]))[0]?.state;

  async function submit(event: Record<string, unknown>): Promise<string> {
    const res = await app.request('/his/v1/events', { json: event });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the event delivered', async () => ((await stateOf(id)) === 'delivered' ? true : undefined));
    return id;
  }

  const postStatus = async (value: string, body: unknown) => {
    const res = await app.request(`/municipality/v1/referrals/${encodeURIComponent(value)}/status`, {
      key: 'municipality',
      json: body,
    });
    expect(res.status).toBe(202);
  };

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    for (const name of ['open', 'rejected', 'cancelled', 'closed'] as const) {
      const event = buildReferralEvent();
      const value = (event.referral as { id: string }).id;
      const id = await submit(event);
      const [row] = await app.rt.ctx.db.query<{ service_request_id: string }>(
        'SELECT service_request_id::text FROM referral_identifier WHERE inbox_id = $1',
        [id],
      );
      referrals[name] = { value, event: id, id: row!.service_request_id };
      if (name === 'cancelled') {
        await submit({
          ...buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: value } }),
          child: event.child,
          guardians: event.guardians,
        });
      }
    }
    await postStatus(referrals.rejected.value, { status: 'rejected', reasonCode: 'other-municipality' });
    await postStatus(referrals.closed.value, { status: 'closed' });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const search = (query: string, key: KeyName = 'municipality') =>
    app.request(`/fhir/ServiceRequest?${query}`, { key });
  const bundleOf = async (res: Response) => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    return (await res.json()) as Bundle<ServiceRequest>;
  };
  const valuesOf = (b: Bundle<ServiceRequest>) => b.entry?.map((e) => e.resource?.identifier?.[0]?.value) ?? [];
  const follow = (url: string, key: KeyName = 'municipality') => {
    const u = new URL(url);
    return app.request(u.pathname + u.search, { key });
  };

  it('lists every referral it received once, oldest change first, with the identifier it received and its status', async () => {
    const bundle = await bundleOf(await search(''));
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 4 });
    const byValue = new Map(bundle.entry!.map((e) => [e.resource!.identifier![0]!.value, e]));
    expect(byValue.size).toBe(4);
    const expected = { open: 'active', rejected: 'revoked', cancelled: 'revoked', closed: 'completed' } as const;
    for (const [name, status] of Object.entries(expected) as [keyof typeof expected, string][]) {
      const entry = byValue.get(referrals[name].value)!;
      expect(entry.fullUrl).toBe(`${app.url}/fhir/ServiceRequest/${referrals[name].id}`);
      expect(entry.resource).toMatchObject({
        resourceType: 'ServiceRequest',
        id: referrals[name].id,
        status,
        intent: 'order',
        identifier: expect.arrayContaining([{ system, value: referrals[name].value }]),
        subject: { reference: expect.stringMatching(/^Patient\/[0-9a-f-]{36}$/) },
      });
      expect(entry.resource!.meta?.lastUpdated).toEqual(expect.any(String));
    }
    const updated = bundle.entry!.map((e) => e.resource!.meta!.lastUpdated!);
    expect([...updated].sort()).toEqual(updated);
    // No BSN, name or clinical text in what a list serves: the identifiers and the status only.
    expect(JSON.stringify(bundle)).not.toMatch(/Jansen|Zorgen|bsn/i);
  });

  it('is searched by a FHIR client written by others', async () => {
    const bundle = (await fhirClient(app, 'municipality').search({
      resourceType: 'ServiceRequest',
      searchParams: { status: 'revoked' },
    })) as Bundle<ServiceRequest>;
    expect(valuesOf(bundle).sort()).toEqual([referrals.rejected.value, referrals.cancelled.value].sort());
  });

  it.each([
    ['active', ['open']],
    ['completed', ['closed']],
    ['active,completed', ['open', 'closed']],
  ] as const)('finds by status=%s', async (status, names) => {
    const bundle = await bundleOf(await search(`status=${status}`));
    expect(valuesOf(bundle).sort()).toEqual(names.map((n) => referrals[n].value).sort());
  });

  it('finds by identifier, as system|value or the value alone', async () => {
    const { value } = referrals.open;
    for (const q of [`${system}|${value}`, value]) {
      const bundle = await bundleOf(await search(`identifier=${encodeURIComponent(q)}`));
      expect(valuesOf(bundle)).toEqual([value]);
    }
    expect((await bundleOf(await search('identifier=no-such-referral'))).total).toBe(0);
  });

  it('finds what changed since a moment: a status sent later moves the referral after it (_lastUpdated)', async () => {
    const all = await bundleOf(await search(''));
    const newest = all.entry!.at(-1)!.resource!.meta!.lastUpdated!;
    expect((await bundleOf(await search(`_lastUpdated=gt${encodeURIComponent(newest)}`))).total).toBe(0);
    expect((await bundleOf(await search(`_lastUpdated=le${encodeURIComponent(newest)}`))).total).toBe(4);
    await postStatus(referrals.open.value, { status: 'accepted' });
    const since = await bundleOf(await search(`_lastUpdated=gt${encodeURIComponent(newest)}`));
    expect(valuesOf(since)).toEqual([referrals.open.value]);
    expect(since.entry![0]!.resource!.status).toBe('active');
    expect((await bundleOf(await search('_lastUpdated=ge2000-01-01&_lastUpdated=lt2000-01-02'))).total).toBe(0);
  });

  it('pages with _count through next and previous links, newest first with _sort=-_lastUpdated', async () => {
    const all = valuesOf(await bundleOf(await search('')));
    const first = await bundleOf(await search('_count=3'));
    expect(valuesOf(first)).toEqual(all.slice(0, 3));
    const next = first.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toMatch(/_page=/);
    const second = await bundleOf(await follow(next!));
    expect(valuesOf(second)).toEqual(all.slice(3));
    expect(second.link?.find((l) => l.relation === 'next')).toBeUndefined();
    const previous = second.link?.find((l) => l.relation === 'previous')?.url;
    expect(valuesOf(await bundleOf(await follow(previous!)))).toEqual(all.slice(0, 3));
    const newestFirst: (string | undefined)[] = [];
    let url = `${app.url}/fhir/ServiceRequest?_sort=-_lastUpdated&_count=1`;
    while (url) {
      const page = await bundleOf(await follow(url));
      newestFirst.push(...valuesOf(page));
      url = page.link?.find((l) => l.relation === 'next')?.url ?? '';
    }
    expect(newestFirst).toEqual([...all].reverse());
  });

  it('reads one by id, and answers another municipality 404 as for an unknown id', async () => {
    const res = await app.request(`/fhir/ServiceRequest/${referrals.closed.id}`, { key: 'municipality' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: referrals.closed.id, status: 'completed' });
    expect(
      (await app.request(`/fhir/ServiceRequest/${referrals.closed.id}`, { key: 'otherMunicipality' })).status,
    ).toBe(404);
  });

  it.each<[KeyName, number]>([
    ['otherMunicipality', 200],
    ['practice', 403],
    ['auditor', 403],
  ])('gives %s only its own received referrals (%d)', async (key, status) => {
    const res = await search('', key);
    expect(res.status).toBe(status);
    if (status === 200) {
      expect((await bundleOf(res)).total).toBe(0);
    }
  });

  it.each([
    ['_include=ServiceRequest:subject', '_include'],
    ['status=draft', 'status'],
    ['_lastUpdated=tomorrow', '_lastUpdated'],
    ['_sort=authored', '_sort'],
    ['_page=forged', '_page'],
    ['subject=Patient/1', 'subject'],
  ])('answers %s 400 naming the parameter', async (query, parameter) => {
    const res = await search(query);
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.expression).toEqual([parameter]);
  });

  it("records the search in each practice's chain with the referrals' events", async () => {
    await app.rt.ctx.audit.flush();
    const reads = () =>
      app.rt.ctx.db.query<{ tenant: string; outcome: string; entities: string[] }>(
        `SELECT tenant, outcome, entities FROM audit_event WHERE agents @> ARRAY[$1] AND entities @> ARRAY[$2]
         ORDER BY seq`,
        [`${PRINCIPAL_SYSTEM}|api-key:municipality`, `inbox/${referrals.closed.event}`],
      );
    const before = (await reads()).length;
    expect((await search(`identifier=${referrals.closed.value}`)).status).toBe(200);
    await app.rt.ctx.audit.flush();
    const after = await reads();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0' });
  });

  it('declares read and search of ServiceRequest with its parameters in the CapabilityStatement and OpenAPI', async () => {
    const statement = (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;
    const [resource] = statement.rest![0]!.resource!.filter((r) => r.type === 'ServiceRequest');
    expect(resource?.interaction?.map((i) => i.code).sort()).toEqual(['read', 'search-type']);
    expect(resource?.searchParam?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['_lastUpdated', 'status', 'identifier', '_tag', '_count', '_sort']),
    );
    expect(resource?.searchParam?.find((p) => p.name === '_tag')).toMatchObject({
      definition: 'http://hl7.org/fhir/SearchParameter/Resource-tag',
      type: 'token',
      documentation: expect.stringContaining(':not'),
    });
    const openapi = (await (await app.request('/openapi.json', { key: null })).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string }[] } }>;
    };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/fhir/ServiceRequest']));
    for (const type of ['ServiceRequest', 'Task']) {
      expect(openapi.paths[`/fhir/${type}`]?.get?.parameters?.map((p) => p.name)).toEqual(
        expect.arrayContaining(['_tag', '_tag:not']),
      );
    }
  });

  it("lists the same referrals as the municipality's console list of received referrals", async () => {
    const ctx = app.rt.ctx;
    const destinations = ctx.registry.destinations.filter((d) => d.municipality === MUNICIPALITY).map((d) => d.id);
    const listed = await listReceivedReferrals(ctx, destinations, { limit: 100 });
    // The console lists each event delivered (the cancellation beside the referral it cancels); the search each
    // referral once.
    const inConsole = new Set(listed.referrals.map((r) => r.identifier?.value));
    const served = valuesOf(await bundleOf(await search('_count=100')));
    expect(served).toHaveLength(new Set(served).size);
    expect([...served].sort()).toEqual([...inConsole].sort());
  });
});
