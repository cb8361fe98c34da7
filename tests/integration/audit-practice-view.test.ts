import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const principalToken = (key: KeyName) => `https://jeugdbrug.nl/principal|api-key:${key.toLowerCase()}`;

// NEN 7513: every access is logged, and auditors can verify the log whole. The practice under investigation does not
// see which children an auditor or operator looked up in its chain (docs/audit.md, "What a practice sees").
describe("a practice's view of its own audit chain", () => {
  let receiver: TestReceiver;
  let app: TestApp;
  let bsn = '';
  let eventId = '';

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    const referral = buildReferralEvent();
    bsn = (referral.child as { bsn: string }).bsn;
    const res = await app.request('/his/v1/events', { json: referral });
    eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the event to be delivered', async () => {
      const v = (await (await app.request(`/his/v1/events/${eventId}`)).json()) as { state: string };
      return v.state === 'delivered';
    });
    // The investigators look: the auditor by the child's overview and a search, the operator at the event.
    expect((await app.request(`/audit/v1/overview?patient=${bsn}`, { key: 'auditor' })).status).toBe(200);
    expect((await app.request(`/fhir/AuditEvent?patient=${bsn}`, { key: 'auditor' })).status).toBe(200);
    expect((await app.request(`/his/v1/events/${eventId}`, { key: 'operator' })).status).toBe(200);
    await app.rt.ctx.audit.flush();
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const chainRows = (key: KeyName) =>
    app.rt.ctx.db.query<{ id: string }>(`SELECT id FROM audit_event WHERE tenant = $1 AND $2 = ANY(agents)`, [
      PRACTICE_AGB,
      principalToken(key),
    ]);
  const searchAs = async (key: KeyName, query: string): Promise<AuditEvent[]> => {
    const res = await app.request(`/fhir/AuditEvent?${query}&_count=100`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource!) ?? [];
  };
  const byPrincipal = (events: AuditEvent[], key: KeyName) =>
    events.filter((e) => e.agent.some((a) => a.who?.identifier?.value === `api-key:${key.toLowerCase()}`));

  it("records the auditor's and the operator's reads in the practice's chain, where an auditor finds them", async () => {
    expect((await chainRows('auditor')).length).toBeGreaterThanOrEqual(2);
    expect((await chainRows('operator')).length).toBeGreaterThanOrEqual(1);
    const seen = await searchAs('auditor', `patient=${bsn}`);
    expect(byPrincipal(seen, 'auditor').length).toBeGreaterThanOrEqual(1);
    expect(byPrincipal(seen, 'operator').length).toBeGreaterThanOrEqual(1);
  });

  it("shows the practice its own reads and the pipeline's, but none by an auditor or operator", async () => {
    const seen = await searchAs('practice', `patient=${bsn}`);
    expect(seen.length).toBeGreaterThan(0);
    expect(byPrincipal(seen, 'auditor')).toEqual([]);
    expect(byPrincipal(seen, 'operator')).toEqual([]);
    // Not by the principal's id either, nor in the child's overview.
    const token = `agent=${encodeURIComponent('https://jeugdbrug.nl/principal|api-key:auditor')}`;
    expect(await searchAs('practice', token)).toEqual([]);
    const overview = (await (await app.request(`/audit/v1/overview?patient=${bsn}`)).json()) as {
      accesses: { who?: string; agent?: string }[];
    };
    expect(JSON.stringify(overview.accesses)).not.toContain('api-key:auditor');
    expect(JSON.stringify(overview.accesses)).not.toContain('api-key:operator');
  });

  it("answers the practice's read of an auditor's AuditEvent by id as an unknown id", async () => {
    const [row] = await chainRows('auditor');
    expect((await app.request(`/fhir/AuditEvent/${row!.id}`, { key: 'auditor' })).status).toBe(200);
    expect((await app.request(`/fhir/AuditEvent/${row!.id}`, { key: 'practice' })).status).toBe(404);
  });

  it('lets the practice verify its whole chain, but leaves exporting its rows to auditors', async () => {
    const verdict = (await (await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`)).json()) as { ok: boolean };
    expect(verdict.ok).toBe(true);
    const refused = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { issue: { expression?: string[] }[] }).issue[0]!.expression).toEqual(['tenant']);
    expect((await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'auditor' })).status).toBe(200);
  });

  // The overview by POST keeps the child's BSN out of the URL, and so out of proxies' and load balancers' logs.
  it.each([
    ['a form body', { body: 'patient=BSN', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['a JSON body', { json: { 'patient:identifier': 'http://fhir.nl/fhir/NamingSystem/bsn|BSN' } }],
  ])('answers POST /audit/v1/overview with %s as GET answers, and records it as the GET query', async (_how, init) => {
    const withBsn = JSON.parse(JSON.stringify(init).replace('BSN', bsn)) as RequestInit & { json?: unknown };
    const got = await app.request(`/audit/v1/overview?patient=${bsn}`, { key: 'auditor' });
    const posted = await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', ...withBsn });
    expect(posted.status).toBe(200);
    const entries = (r: unknown) => (r as { entries: unknown[] }).entries;
    expect(entries(await posted.json())).toEqual(entries(await got.json()));
    await app.rt.ctx.audit.flush();
    const [last] = await app.rt.ctx.db.query<{ query: string }>(
      `SELECT e->>'query' AS query FROM audit_event, json_array_elements(resource::json->'entity') e
       WHERE $1 = ANY(agents) AND e->>'query' IS NOT NULL ORDER BY recorded DESC, seq DESC LIMIT 1`,
      [principalToken('auditor')],
    );
    expect(Buffer.from(last!.query, 'base64').toString()).toMatch(/^\/audit\/v1\/overview\?patient/);
  });

  it('answers a POST overview without a BSN with 400 naming patient, and one with a query string too', async () => {
    const none = await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', json: {} });
    expect(none.status).toBe(400);
    const both = await app.request(`/audit/v1/overview?patient=${bsn}`, { key: 'auditor', method: 'POST', json: {} });
    expect(both.status).toBe(400);
  });
});
