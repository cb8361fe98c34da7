import http from 'node:http';
import type { AuditEvent, Bundle, CapabilityStatement, Consent, OperationOutcome } from '@medplum/fhirtypes';
import type Client from 'fhir-kit-client';
import { disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { upsertConsents } from '../../src/event/event-store';
import { MUNICIPALITY, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { createApp } from '../../src/http/app';
import { expressRoutes } from '../helpers/express-routes';
import { asSearchset, fhirClient, type SearchBundle } from '../helpers/fhir-client';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';

const BSN = '123456782';
const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';

function consent(i: number, tenant = PRACTICE_AGB): Consent {
  return {
    resourceType: 'Consent',
    id: `fhirapi-consent-${tenant}-${i}`,
    status: i === 3 ? 'inactive' : 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/fhirapi-child-${tenant}` },
    performer: [{ reference: `Patient/fhirapi-child-${tenant}` }, { reference: 'RelatedPerson/fhirapi-guardian' }],
    dateTime: new Date(Date.UTC(2025, 4, 1 + i, 10)).toISOString(),
  };
}

/** A GET with any headers, Host included (fetch does not let a caller choose Host). */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('the FHIR API as standard clients use it', () => {
  let app: TestApp;
  const auditIds: string[] = [];
  const consentIds: string[] = [];

  beforeAll(async () => {
    app = await startTestApp({});
    for (let i = 0; i < 7; i++) {
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: BSN,
        inboxId: `fhirapi-${i}`,
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/p'],
        consentIds: ['fhirapi-consent'],
      });
      auditIds.push(e.id!);
      await app.rt.ctx.audit.append(PRACTICE_AGB, {
        ...e,
        recorded: new Date(Date.UTC(2025, 4, 1, 9, i)).toISOString(),
      });
    }
    const consents = [0, 1, 2, 3, 4].map((i) => consent(i));
    await upsertConsents(app.rt.ctx.db, PRACTICE_AGB, BSN, consents);
    await upsertConsents(app.rt.ctx.db, OTHER_PRACTICE_AGB, BSN, [consent(0, OTHER_PRACTICE_AGB)]);
    // Newest first is the registry's default order.
    consentIds.push(...consents.map((c) => c.id!).reverse());
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  function client(key: KeyName): Client {
    return fhirClient(app, key);
  }

  /** Every page of a search, by the client's own nextPage (which follows the absolute `next` links). */
  async function allPages(fhir: Client, first: unknown): Promise<SearchBundle[]> {
    const pages = [asSearchset(first)];
    for (;;) {
      const next: unknown = await fhir.nextPage({ bundle: pages.at(-1)! });
      if (!next) {
        return pages;
      }
      pages.push(asSearchset(next));
      expect(pages.length).toBeLessThan(10);
    }
  }

  it('reads a CapabilityStatement that lists what the routes serve', async () => {
    const cs = (await client('auditor').capabilityStatement()) as CapabilityStatement;
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.format).toContain('application/fhir+json');
    const rest = cs.rest?.[0];
    expect(rest?.security?.service?.[0]?.coding?.[0]?.code).toBe('OAuth');
    // The searchable types first (Task's create in its own entry: fhir-task-read.test), then the single reads.
    expect(rest?.resource?.map((r) => r.type)).toEqual(['AuditEvent', 'Consent', 'Task', 'ServiceRequest', 'Measure']);
    // A Consent keeps its versions (migration 087): vread and history besides read and search.
    const interactions = {
      AuditEvent: ['read', 'search-type'],
      Consent: ['read', 'vread', 'history-instance', 'search-type'],
    };
    for (const r of rest?.resource?.slice(0, 2) ?? []) {
      expect(r.interaction?.map((i) => i.code)).toEqual(interactions[r.type as keyof typeof interactions]);
      const params = r.searchParam?.map((p) => p.name) ?? [];
      expect(params).toEqual(expect.arrayContaining(['_id', 'patient', 'date', '_count', '_summary', '_elements']));
    }
    const patient = rest?.resource?.[1]?.searchParam?.find((p) => p.name === 'patient');
    expect(patient).toEqual(
      expect.objectContaining({
        type: 'reference',
        definition: 'http://hl7.org/fhir/SearchParameter/clinical-patient',
      }),
    );
    // Readable without credentials, as FHIR clients expect before they authenticate.
    expect((await app.request('/fhir/metadata', { key: null })).status).toBe(200);
    expect((await app.request('/fhir/metadata?_format=json', { key: null })).status).toBe(200);
    // JSON is all it serves: asked for XML, it says so (406, as HAPI), as the searches do, instead of answering JSON.
    const xml = await app.request('/fhir/metadata?_format=xml', { key: null });
    expect(xml.status).toBe(406);
    expect(((await xml.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression).toEqual(['_format']);
    // Only the full statement is served: asked for the terminology capabilities, it says so.
    expect((await app.request('/fhir/metadata?mode=full', { key: null })).status).toBe(200);
    const terminology = await app.request('/fhir/metadata?mode=terminology', { key: null });
    expect(terminology.status).toBe(400);
    expect(((await terminology.json()) as OperationOutcome).issue[0]?.expression).toEqual(['mode']);
  });

  it('declares every interaction the /fhir routes answer, and nothing they do not', async () => {
    const express = createApp(app.rt.ctx, {
      authenticate: (_req, _res, next) => next(),
      rateLimit: (_req, _res, next) => next(),
      publicBaseUrl: () => app.url,
    });
    /** The FHIR interaction a route is, by FHIR's RESTful URL patterns. */
    const interactionOf = (route: string): string => {
      const [method, path = ''] = route.split(' ');
      const [type, rest, history] = path.replace(/^\/fhir\//, '').split('/');
      if (method === 'GET' && history === '_history') {
        return path.split('/').length === 5 ? `${type} history-instance` : `${type} vread`;
      }
      if (method === 'GET' && rest === undefined) {
        return `${type} search-type`;
      }
      if (method === 'POST' && rest === '_search') {
        return `${type} search-type`;
      }
      if (method === 'GET' && rest !== undefined && !rest.startsWith('_') && !rest.startsWith('$')) {
        return `${type} read`;
      }
      if (method === 'POST' && rest === undefined) {
        return `${type} create`;
      }
      return `unknown: ${route}`;
    };
    const routes = expressRoutes(express).filter((r) => r.split(' ')[1]?.startsWith('/fhir/'));
    const served = new Set(routes.filter((r) => r !== 'GET /fhir/metadata').map(interactionOf));
    expect([...served]).toEqual(expect.arrayContaining(['Measure read', 'Task create', 'Consent search-type']));
    const cs = (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;
    const resources = cs.rest?.[0]?.resource ?? [];
    const declared = resources.flatMap((r) => (r.interaction ?? []).map((i) => `${r.type} ${i.code}`));
    expect([...declared].sort()).toEqual([...served].sort());
    // Each search parameter declared is one the search understands: none is refused as unknown.
    for (const r of resources) {
      for (const p of r.searchParam ?? []) {
        const value = p.type === 'number' ? '1' : p.type === 'date' ? '2025' : 'x';
        const res = await app.request(`/fhir/${r.type}?${p.name}=${value}`, { key: 'operator' });
        const outcome = res.status === 200 ? undefined : ((await res.json()) as OperationOutcome);
        const text = outcome?.issue[0]?.details?.text ?? '';
        expect([r.type, p.name, text]).toEqual([r.type, p.name, expect.not.stringMatching(/^Unknown/)]);
      }
    }
  });

  it('searches AuditEvent page by page through next links, and reads one by id', async () => {
    const fhir = client('auditor');
    const pages = await allPages(
      fhir,
      await fhir.search({ resourceType: 'AuditEvent', searchParams: { entity: 'Consent/fhirapi-consent', _count: 3 } }),
    );
    expect(pages.map((p) => p.entry?.length ?? 0)).toEqual([3, 3, 1]);
    expect(pages.flatMap((p) => (p.entry ?? []).map((e) => e.resource.id))).toEqual(auditIds);
    const entry = pages[0]!.entry![0]!;
    expect(entry.fullUrl).toBe(`${app.url}/fhir/AuditEvent/${auditIds[0]}`);
    const read: unknown = await fhir.read({ resourceType: 'AuditEvent', id: auditIds[2]! });
    expect(read).toEqual(expect.objectContaining({ resourceType: 'AuditEvent', id: auditIds[2] }));
  });

  it('searches Consent by plain patient and by patient:identifier, paging like AuditEvent', async () => {
    const fhir = client('practice');
    const byToken = await allPages(
      fhir,
      await fhir.search({
        resourceType: 'Consent',
        searchParams: { 'patient:identifier': `${BSN_SYSTEM}|${BSN}`, _count: 2 },
      }),
    );
    expect(byToken.map((p) => p.entry?.length ?? 0)).toEqual([2, 2, 1]);
    expect(byToken[0]!.total).toBe(5);
    expect(byToken.flatMap((p) => (p.entry ?? []).map((e) => e.resource.id))).toEqual(consentIds);
    expect(byToken[0]!.entry![0]!.fullUrl).toBe(`${app.url}/fhir/Consent/${consentIds[0]}`);
    const previous = asSearchset(await fhir.prevPage({ bundle: byToken[2]! }));
    expect(previous.entry?.map((e) => e.resource.id)).toEqual(consentIds.slice(2, 4));

    const byBsn = asSearchset(await fhir.search({ resourceType: 'Consent', searchParams: { patient: BSN } }));
    expect(byBsn.entry?.map((e) => e.resource.id)).toEqual(consentIds);
    const byReference = asSearchset(
      await fhir.search({
        resourceType: 'Consent',
        searchParams: { patient: `Patient/fhirapi-child-${PRACTICE_AGB}` },
      }),
    );
    expect(byReference.total).toBe(5);
    const oldestFirst = asSearchset(
      await fhir.search({ resourceType: 'Consent', searchParams: { patient: BSN, _sort: 'date', status: 'active' } }),
    );
    expect(oldestFirst.entry?.map((e) => e.resource.id)).toEqual(
      [...consentIds].reverse().filter((id) => !id.endsWith('-3')),
    );
    const read: unknown = await fhir.read({ resourceType: 'Consent', id: consentIds[1]! });
    expect(read).toEqual(expect.objectContaining({ resourceType: 'Consent', id: consentIds[1] }));
  });

  it('keeps each practice to its own consents, and municipalities out', async () => {
    const other = asSearchset(
      await client('otherPractice').search({ resourceType: 'Consent', searchParams: { patient: BSN } }),
    );
    expect(other.entry?.map((e) => e.resource.id)).toEqual([`fhirapi-consent-${OTHER_PRACTICE_AGB}-0`]);
    expect((await app.request(`/fhir/Consent/${consentIds[0]}`, { key: 'otherPractice' })).status).toBe(404);
    expect((await app.request(`/fhir/Consent?patient=${BSN}`, { key: 'municipality' })).status).toBe(403);
    expect((await app.request(`/fhir/Consent/${consentIds[0]}`, { key: 'municipality' })).status).toBe(403);
  });

  it('answers _summary=count with the total and no entries', async () => {
    const fhir = client('auditor');
    const audit = asSearchset(
      await fhir.search({
        resourceType: 'AuditEvent',
        searchParams: { entity: 'Consent/fhirapi-consent', _summary: 'count' },
      }),
    );
    expect(audit.total).toBe(7);
    expect(audit.entry ?? []).toEqual([]);
    // No empty array either: FHIR JSON forbids one, and strict parsers (HAPI) refuse the Bundle.
    expect('entry' in audit).toBe(false);
    const consents = asSearchset(
      await fhir.search({ resourceType: 'Consent', searchParams: { patient: BSN, _summary: 'count' } }),
    );
    expect(consents.total).toBe(6);
    expect(consents.entry ?? []).toEqual([]);
    expect('entry' in consents).toBe(false);
  });

  it('returns only the _elements asked for, tagged SUBSETTED', async () => {
    const b = asSearchset(
      await client('auditor').search({
        resourceType: 'AuditEvent',
        searchParams: { entity: 'Consent/fhirapi-consent', _elements: 'type,recorded', _count: 1 },
      }),
    );
    const resource = b.entry![0]!.resource as unknown as Record<string, unknown>;
    // With the elements FHIR requires of an AuditEvent (agent, source), which `_elements` always keeps.
    expect(Object.keys(resource).sort()).toEqual(['agent', 'id', 'meta', 'recorded', 'resourceType', 'source', 'type']);
    expect(b.entry![0]!.resource.meta?.tag?.map((t) => t.code)).toContain('SUBSETTED');
  });

  it('searches by POST _search with a form body, as by GET', async () => {
    const fhir = client('auditor');
    const posted = asSearchset(
      await fhir.search({
        resourceType: 'AuditEvent',
        searchParams: { entity: 'Consent/fhirapi-consent', _count: 4 },
        // The client reads postSearch at run time; its type declarations leave it out.
        options: { postSearch: true } as RequestInit,
      }),
    );
    expect(posted.entry?.map((e) => e.resource.id)).toEqual(auditIds.slice(0, 4));
    // Its links are GET links whose parameters are sealed into `_page`: what came in the body stays out of URLs.
    for (const link of posted.link ?? []) {
      expect(link.url).not.toContain('entity');
      expect(link.url).not.toContain('fhirapi-consent');
    }
    const next = asSearchset(await fhir.nextPage({ bundle: posted }));
    expect(next.entry?.map((e) => e.resource.id)).toEqual(auditIds.slice(4));
    const consents = await app.request('/fhir/Consent/_search', {
      key: 'practice',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `patient=${BSN}&_count=1`,
    });
    expect(consents.status).toBe(200);
    const consentPage = (await consents.json()) as Bundle;
    expect(consentPage.entry?.map((e) => e.resource?.id)).toEqual([consentIds[0]]);
    const nextUrl = consentPage.link?.find((l) => l.relation === 'next')?.url ?? '';
    expect(nextUrl).toMatch(/\?_page=s\./);
    expect(nextUrl).not.toContain(BSN);
    const followed = await app.request(new URL(nextUrl).pathname + new URL(nextUrl).search, { key: 'practice' });
    expect(followed.status).toBe(200);
    const followedPage = (await followed.json()) as Bundle;
    expect(followedPage.entry?.map((e) => e.resource?.id)).toEqual([consentIds[1]]);
    // The page after it keeps the parameters sealed too.
    for (const link of followedPage.link ?? []) {
      expect(link.url).not.toContain(BSN);
    }
    // A sealed link cannot be altered, nor widened with parameters beside it.
    const sealed = new URL(nextUrl).searchParams.get('_page') ?? '';
    const altered = `${sealed.slice(0, -3)}${sealed.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    const tampered = await app.request(`/fhir/Consent?_page=${altered}`, { key: 'practice' });
    expect(tampered.status).toBe(400);
    expect(((await tampered.json()) as OperationOutcome).issue[0]?.expression).toEqual(['_page']);
    const widened = await app.request(`/fhir/Consent?_page=${sealed}&status=active`, { key: 'practice' });
    expect(widened.status).toBe(400);
    expect(((await widened.json()) as OperationOutcome).issue[0]?.expression).toEqual(['status']);
    const wrongType = await app.request('/fhir/Consent/_search', { key: 'practice', json: { patient: BSN } });
    expect(wrongType.status).toBe(415);
  });

  // report-xpen 3: a GET page token is base64url JSON, and its moments were checked only as strings: one that was not
  // a moment PostgreSQL takes reached the query and answered 500, with an error in the log for anyone with a key.
  it.each([
    ['AuditEvent', '', { a: '2026-12-06T20:17:15.883Z', d: 'n', r: 'x; select 1', t: 'x', s: 1 }],
    ['AuditEvent', '', { a: '2026-12-06T20:17:15.883Z', d: 'n', r: '2026-02-30T10:00:00.000000Z', t: 'x', s: 1 }],
    ['AuditEvent', '', { a: '0000-01-01T00:00:00Z', d: 'n', r: '2026-12-06T20:17:15.883123Z', t: 'x', s: 1 }],
    ['Consent', `patient=${BSN}&`, { d: 'n', t: 'not a time', i: 'fhirapi-consent' }],
    ['Consent', `patient=${BSN}&`, { d: 'n', t: '2026-13-01T00:00:00.000000Z', i: 'fhirapi-consent' }],
  ])('answers a %s page token with a sort key that is no moment with 400 naming _page', async (type, query, key) => {
    const token = Buffer.from(JSON.stringify(key)).toString('base64url');
    const res = await app.request(`/fhir/${type}?${query}_page=${token}`, { key: 'auditor' });
    const outcome = (await res.json()) as OperationOutcome;
    expect([res.status, outcome.issue[0]?.expression]).toEqual([400, ['_page']]);
  });

  it('refuses an unknown parameter by default (handling=strict) and ignores it with handling=lenient', async () => {
    for (const path of [`/fhir/Consent?patient=${BSN}&name=Jansen`, `/fhir/AuditEvent?patient=${BSN}&name=Jansen`]) {
      const strict = await app.request(path, { key: 'auditor', headers: { prefer: 'handling=strict' } });
      expect(strict.status).toBe(400);
      const outcome = (await strict.json()) as OperationOutcome;
      expect(outcome.issue[0]?.expression).toEqual(['name']);
      expect((await app.request(path, { key: 'auditor' })).status).toBe(400);
      const lenient = await app.request(path, { key: 'auditor', headers: { prefer: 'handling=lenient' } });
      expect(lenient.status).toBe(200);
      expect(lenient.headers.get('preference-applied')).toBe('handling=lenient');
      const bundle = (await lenient.json()) as Bundle;
      const self = bundle.link?.find((l) => l.relation === 'self')?.url;
      // The self link says what was applied: the child, not the ignored name.
      expect(self).toContain(`patient=${BSN}`);
      expect(self).not.toContain('name=');
      // And an outcome entry says what was not.
      const ignored = bundle.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome;
      expect(ignored.issue.map((i) => [i.severity, i.expression])).toEqual([['warning', ['name']]]);
    }
    const bad = await app.request(`/fhir/Consent?patient=${BSN}`, {
      key: 'auditor',
      headers: { prefer: 'handling=maybe' },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OperationOutcome).issue[0]?.expression).toEqual(['Prefer']);
  });

  it('answers 400 naming a malformed result parameter or patient', async () => {
    for (const [query, name] of [
      ['_count=ten', '_count'],
      ['_summary=true', '_summary'],
      ['_sort=status', '_sort'],
      ['_elements=a.b', '_elements'],
      ['patient=111111111', 'patient'],
      ['patient:identifier=nonsense', 'patient:identifier'],
      ['date=today', 'date'],
    ]) {
      const res = await app.request(`/fhir/Consent?${query}`, { key: 'auditor' });
      expect([query, res.status]).toEqual([query, 400]);
      expect(((await res.json()) as OperationOutcome).issue[0]?.expression).toEqual([name]);
    }
  });

  describe('versions on reads, as FHIR clients use them', () => {
    /** A conditional GET by plain HTTP: fetch adds `Cache-Control: no-cache` to those, which asks for no 304. */
    const conditionalGet = (path: string, key: KeyName, headers: Record<string, string>) =>
      rawGet(`${app.url}${path}`, { authorization: `Bearer ${app.testEnv.keys[key]}`, ...headers });

    it('reads a Consent with meta.versionId and lastUpdated, ETag W/"<versionId>" and Last-Modified; 304 if unchanged', async () => {
      const id = consentIds[1]!;
      const [row] = await app.rt.ctx.db.query<{ version: string; updated_at: Date }>(
        'SELECT version_id::text AS version, updated_at FROM consent WHERE id = $1',
        [id],
      );
      const res = await app.request(`/fhir/Consent/${id}`, { key: 'practice' });
      expect(res.status).toBe(200);
      const consent = (await res.json()) as Consent;
      expect(consent.meta?.versionId).toBe(row!.version);
      expect(consent.meta?.lastUpdated).toBe(row!.updated_at.toISOString());
      expect(res.headers.get('etag')).toBe(`W/"${row!.version}"`);
      expect(res.headers.get('last-modified')).toBe(row!.updated_at.toUTCString());
      const same = await conditionalGet(`/fhir/Consent/${id}`, 'practice', { 'if-none-match': `W/"${row!.version}"` });
      expect(same.status).toBe(304);
      expect(same.body).toBe('');
      // Search entries carry the same meta.
      const page = (await (await app.request(`/fhir/Consent?_id=${id}`, { key: 'practice' })).json()) as Bundle;
      expect(page.entry?.[0]?.resource?.meta?.versionId).toBe(row!.version);
      // Stored again as it is (an HIS re-sending it), it is the same version: the ETag still matches.
      const [stored] = await app.rt.ctx.db.query<{ resource: Consent }>('SELECT resource FROM consent WHERE id = $1', [
        id,
      ]);
      await upsertConsents(app.rt.ctx.db, PRACTICE_AGB, BSN, [stored!.resource]);
      const resent = await conditionalGet(`/fhir/Consent/${id}`, 'practice', {
        'if-none-match': `W/"${row!.version}"`,
      });
      expect(resent.status).toBe(304);
      // Changed (here by a writer of its own, as an older build beside this one), it is a new version: the old ETag
      // no longer matches.
      await app.rt.ctx.db.query(`UPDATE consent SET resource = resource || '{"language": "nl"}' WHERE id = $1`, [id]);
      const changed = await conditionalGet(`/fhir/Consent/${id}`, 'practice', {
        'if-none-match': `W/"${row!.version}"`,
      });
      expect(changed.status).toBe(200);
      const newer = JSON.parse(changed.body) as Consent;
      expect(Number(newer.meta?.versionId)).toBeGreaterThan(Number(row!.version));
      expect(changed.headers.etag).toBe(`W/"${newer.meta?.versionId}"`);
    });

    it('names the child in a Consent by its BSN too, a logical reference that resolves without a Patient here', async () => {
      const bsn = { system: BSN_SYSTEM, value: BSN };
      const res = await app.request(`/fhir/Consent/${consentIds[0]}`, { key: 'practice' });
      const consent = (await res.json()) as Consent;
      expect(consent.patient).toEqual({ reference: `Patient/fhirapi-child-${PRACTICE_AGB}`, identifier: bsn });
      // The child as performer too; a guardian keeps the reference alone (no BSN of theirs is kept with a consent).
      expect(consent.performer).toEqual([
        { reference: `Patient/fhirapi-child-${PRACTICE_AGB}`, identifier: bsn },
        { reference: 'RelatedPerson/fhirapi-guardian' },
      ]);
      const page = (await (await app.request(`/fhir/Consent?patient=${BSN}`, { key: 'practice' })).json()) as Bundle;
      expect(page.entry?.every((e) => (e.resource as Consent).patient?.identifier?.value === BSN)).toBe(true);
    });

    it('reads an AuditEvent, which has no versions, with lastUpdated and Last-Modified, and answers 304', async () => {
      const res = await app.request(`/fhir/AuditEvent/${auditIds[3]}`, { key: 'auditor' });
      const event = (await res.json()) as AuditEvent;
      expect(event.meta?.versionId).toBeUndefined();
      expect(event.meta?.lastUpdated).toBe(event.recorded);
      expect(res.headers.get('last-modified')).toBe(new Date(event.recorded).toUTCString());
      const etag = res.headers.get('etag') ?? '';
      expect(etag).toMatch(/^W\/"/);
      const path = `/fhir/AuditEvent/${auditIds[3]}`;
      expect((await conditionalGet(path, 'auditor', { 'if-none-match': etag })).status).toBe(304);
      const lastModified = new Date(event.recorded).toUTCString();
      expect((await conditionalGet(path, 'auditor', { 'if-modified-since': lastModified })).status).toBe(304);
      const earlier = new Date(Date.parse(event.recorded) - 60_000).toUTCString();
      expect((await conditionalGet(path, 'auditor', { 'if-modified-since': earlier })).status).toBe(200);
    });

    it('says which types keep versions in the CapabilityStatement', async () => {
      const cs = (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;
      const versioning = Object.fromEntries((cs.rest?.[0]?.resource ?? []).map((r) => [r.type, r.versioning]));
      expect(versioning).toEqual({
        AuditEvent: 'no-version',
        Consent: 'versioned',
        Measure: 'no-version',
        ServiceRequest: 'no-version',
        Task: 'no-version',
      });
      const consent = cs.rest?.[0]?.resource?.find((r) => r.type === 'Consent');
      expect(consent?.conditionalRead).toBe('full-support');
    });
  });

  describe('read, search and metadata take the same formats and parameters', () => {
    const read = (): string => `/fhir/AuditEvent/${auditIds[0]}`;
    const paths = (): string[] => [
      read(),
      `/fhir/Consent/${consentIds[0]}`,
      '/fhir/AuditEvent?entity=Consent/fhirapi-consent&_count=1',
      '/fhir/metadata',
      '/fhir/Measure/poh-jeugd-monitoring',
    ];
    const withParam = (path: string, param: string): string => `${path}${path.includes('?') ? '&' : '?'}${param}`;
    const expressionOf = async (res: Response): Promise<string[] | undefined> =>
      ((await res.json()) as OperationOutcome).issue[0]?.expression;

    it('answers 406 naming _format for XML, as JSON is all they serve', async () => {
      for (const path of paths()) {
        const res = await app.request(withParam(path, '_format=xml'), { key: 'auditor' });
        expect([path, res.status]).toEqual([path, 406]);
        expect(await expressionOf(res)).toEqual(['_format']);
        const json = await app.request(withParam(path, '_format=application/fhir%2Bjson'), { key: 'auditor' });
        expect([path, json.status]).toEqual([path, 200]);
      }
    });

    it('answers 406 naming Accept when the client takes no JSON; _format=json overrides Accept', async () => {
      for (const path of paths()) {
        const xml = await app.request(path, { key: 'auditor', headers: { accept: 'application/fhir+xml' } });
        expect([path, xml.status]).toEqual([path, 406]);
        expect(xml.headers.get('content-type')).toContain('application/fhir+json');
        expect(await expressionOf(xml)).toEqual(['Accept']);
        for (const accept of ['application/fhir+xml, application/fhir+json;q=0.5', 'application/json', '*/*']) {
          const res = await app.request(path, { key: 'auditor', headers: { accept } });
          expect([path, accept, res.status]).toEqual([path, accept, 200]);
        }
        const format = await app.request(withParam(path, '_format=json'), {
          key: 'auditor',
          headers: { accept: 'application/fhir+xml' },
        });
        expect([path, format.status]).toEqual([path, 200]);
      }
    });

    it('takes FHIR JSON by every name and with fhirVersion=4.0 or a charset, in Accept and _format alike', async () => {
      const monitoring = `/municipality/v1/monitoring?period=2026-Q3&municipality=${MUNICIPALITY}`;
      for (const path of [...paths(), monitoring]) {
        for (const accept of [
          'application/fhir+json; fhirVersion=4.0',
          'application/fhir+json;fhirVersion=4.0;charset=UTF-8',
          'application/fhir+json; charset=utf-8',
          'application/json+fhir',
          'application/json; charset=utf-8',
        ]) {
          const res = await app.request(path, { key: 'auditor', headers: { accept } });
          expect([path, accept, res.status]).toEqual([path, accept, 200]);
          expect(res.headers.get('content-type')).toContain('application/fhir+json');
        }
        for (const format of [
          'json',
          'fhir%2Bjson',
          'application/json',
          'application/fhir%2Bjson',
          'application/json%2Bfhir',
          'application/fhir%2Bjson;fhirVersion=4.0',
          'application/fhir%2Bjson;%20fhirVersion=4.0;%20charset=utf-8',
        ]) {
          const res = await app.request(withParam(path, `_format=${format}`), {
            key: 'auditor',
            headers: { accept: 'application/fhir+xml' },
          });
          expect([path, format, res.status]).toEqual([path, format, 200]);
        }
      }
      // The Task create is behind the same check: a client sending fhirVersion gets to the Task's own validation.
      const task = await app.request('/fhir/Task', {
        key: 'municipality',
        method: 'POST',
        headers: { accept: 'application/fhir+json; fhirVersion=4.0', 'content-type': 'application/fhir+json' },
        body: '{}',
      });
      expect(task.status).not.toBe(406);
      expect(task.status).toBeLessThan(500);
    });

    it('answers 406 for another fhirVersion in Accept, and in _format 406 naming _format', async () => {
      for (const path of paths()) {
        const res = await app.request(path, {
          key: 'auditor',
          headers: { accept: 'application/fhir+json; fhirVersion=3.0' },
        });
        expect([path, res.status]).toEqual([path, 406]);
        expect(await expressionOf(res)).toEqual(['Accept']);
        const format = await app.request(withParam(path, '_format=application/fhir%2Bjson;fhirVersion=3.0'), {
          key: 'auditor',
        });
        expect([path, format.status]).toEqual([path, 406]);
        expect(await expressionOf(format)).toEqual(['_format']);
      }
    });

    it('pretty-prints with _pretty=true, compact otherwise; another value is 400 naming _pretty', async () => {
      for (const path of paths()) {
        const pretty = await app.request(withParam(path, '_pretty=true'), { key: 'auditor' });
        expect([path, pretty.status]).toEqual([path, 200]);
        expect(await pretty.text()).toMatch(/^\{\n {2}"\w+": /);
        const compact = await app.request(withParam(path, '_pretty=false'), { key: 'auditor' });
        expect(await compact.text()).toMatch(/^\{"\w+":[^\n]*$/);
        const bad = await app.request(withParam(path, '_pretty=yes'), { key: 'auditor' });
        expect([path, bad.status]).toEqual([path, 400]);
        expect(await expressionOf(bad)).toEqual(['_pretty']);
      }
    });

    it('refuses an unknown parameter on a read as a search does, unless Prefer: handling=lenient', async () => {
      for (const path of [read(), `/fhir/Consent/${consentIds[0]}`, '/fhir/Measure/poh-jeugd-monitoring']) {
        const strict = await app.request(`${path}?foo=bar`, { key: 'auditor' });
        expect([path, strict.status]).toEqual([path, 400]);
        expect(await expressionOf(strict)).toEqual(['foo']);
        const lenient = await app.request(`${path}?foo=bar`, {
          key: 'auditor',
          headers: { prefer: 'handling=lenient' },
        });
        expect([path, lenient.status]).toEqual([path, 200]);
        expect(lenient.headers.get('preference-applied')).toBe('handling=lenient');
      }
    });

    it('returns only the _elements asked for on a read, tagged SUBSETTED; _summary other than false is 400', async () => {
      const res = await app.request(`${read()}?_elements=type,recorded`, { key: 'auditor' });
      expect(res.status).toBe(200);
      const resource = (await res.json()) as Record<string, unknown> & { meta?: { tag?: { code?: string }[] } };
      // With the elements FHIR requires of an AuditEvent (agent, source), which `_elements` always keeps.
      expect(Object.keys(resource).sort()).toEqual([
        'agent',
        'id',
        'meta',
        'recorded',
        'resourceType',
        'source',
        'type',
      ]);
      expect(resource.meta?.tag?.map((t) => t.code)).toContain('SUBSETTED');
      for (const [query, name] of [
        ['_elements=a.b', '_elements'],
        ['_summary=true', '_summary'],
        ['_summary=count', '_summary'],
        ['_elements=type&_elements=recorded', '_elements'],
      ]) {
        const bad = await app.request(`${read()}?${query}`, { key: 'auditor' });
        expect([query, bad.status]).toEqual([query, 400]);
        expect(await expressionOf(bad)).toEqual([name]);
      }
      expect((await app.request(`${read()}?_summary=false`, { key: 'auditor' })).status).toBe(200);
    });
  });

  it('answers an unknown type or interaction under /fhir as FHIR servers do, with an OperationOutcome saying which', async () => {
    const outcomeOf = async (res: Response) => (await res.json()) as OperationOutcome;
    for (const [method, path, type] of [
      ['GET', '/fhir/Patient', 'Patient'],
      ['GET', '/fhir/MeasureReport?measure=poh-jeugd-monitoring', 'MeasureReport'],
      ['PUT', '/fhir/Patient/p-1', 'Patient'],
    ]) {
      const res = await app.request(path!, { key: 'municipality', method });
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.headers.get('content-type')).toContain('application/fhir+json');
      expect((await outcomeOf(res)).issue[0]?.details?.text).toContain(`Unknown resource type '${type}'`);
    }
    const batch = await app.request('/fhir', { key: 'municipality', method: 'POST', json: { resourceType: 'Bundle' } });
    expect(batch.status).toBe(404);
    expect((await outcomeOf(batch)).issue[0]?.details?.text).toMatch(/batch/);
    // A served type with an interaction it does not serve: 405 with Allow when another method serves the path.
    // (Task has read, search and create since this was written: its update is the interaction not served.)
    const update = await app.request('/fhir/Task/some-task', {
      key: 'municipality',
      method: 'PUT',
      json: { resourceType: 'Task' },
    });
    expect(update.status).toBe(405);
    expect(update.headers.get('allow')).toContain('GET');
    expect((await outcomeOf(update)).resourceType).toBe('OperationOutcome');
    const operation = await app.request('/fhir/Measure/poh-jeugd-monitoring/$evaluate-measure', {
      key: 'municipality',
    });
    expect(operation.status).toBe(404);
    const operationText = (await outcomeOf(operation)).issue[0]?.details?.text;
    expect(operationText).toContain('not an interaction of Measure');
    expect(operationText).toContain('/fhir/metadata');
  });

  it('builds links on the configured base, never on Host or X-Forwarded-* headers', async () => {
    const res = await rawGet(`${app.url}/fhir/AuditEvent?entity=Consent/fhirapi-consent&_count=2`, {
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      authorization: `Bearer ${app.testEnv.keys.auditor}`,
    });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('evil.example');
    const bundle = JSON.parse(res.body) as Bundle;
    expect(bundle.link?.map((l) => l.url.startsWith(`${app.url}/fhir/AuditEvent?`))).toEqual([true, true]);
    expect(bundle.entry?.every((e) => e.fullUrl?.startsWith(`${app.url}/fhir/AuditEvent/`))).toBe(true);
    const metadata = await rawGet(`${app.url}/fhir/metadata`, { host: 'evil.example' });
    expect(metadata.body).not.toContain('evil.example');
  });
});

describe('PUBLIC_BASE_URL', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { PUBLIC_BASE_URL: 'https://jeugdbrug.example.nl/' } });
    await upsertConsents(app.rt.ctx.db, PRACTICE_AGB, BSN, [consent(0), consent(1)]);
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  it('is the base of every fullUrl and link, whatever Host the request came with', async () => {
    const res = await rawGet(`${app.url}/fhir/Consent?patient=${BSN}&_count=1`, {
      host: 'evil.example',
      authorization: `Bearer ${app.testEnv.keys.practice}`,
    });
    const bundle = JSON.parse(res.body) as Bundle;
    expect(bundle.link?.map((l) => l.relation)).toEqual(['self', 'next']);
    for (const l of bundle.link ?? []) {
      expect(l.url).toMatch(/^https:\/\/jeugdbrug\.example\.nl\/fhir\/Consent\?patient=123456782&_count=1/);
    }
    expect(bundle.entry?.[0]?.fullUrl).toBe('https://jeugdbrug.example.nl/fhir/Consent/fhirapi-consent-01234567-1');
    const cs = (await (await app.request('/fhir/metadata')).json()) as CapabilityStatement;
    expect(cs.implementation?.url).toBe('https://jeugdbrug.example.nl/fhir');
  });
});
