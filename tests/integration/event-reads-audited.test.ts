import fs from 'node:fs';
import path from 'node:path';
import type { Agreement } from '../../src/policy/agreement';
import { buildRegistry } from '../../src/event/registry';
import { BSN_SYSTEM } from '../../src/kernel/fhir/identifiers';
import type { AuditEvent } from '@medplum/fhirtypes';
import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { buildDestination, buildReferralEvent, MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const SHIPPED = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../config/agreements/demo-overbetuwe.json'), 'utf8'),
) as Agreement;

// A referral's status and the municipality's decision, and an event's timeline, are a child's data: every read of
// them is on record in the practice's chain, with the child's BSN, so the child's overview shows who looked.
describe('reads of one event are audited', () => {
  let municipality: DeliveryReceiver;
  let app: TestApp;
  let id: string;
  let bsn: string;
  let referralId: string;
  let deliveryId: string;

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    const testEnv = createTestEnv();
    app = await startTestApp({
      testEnv,
      registry: buildRegistry({
        agreements: [{ ...SHIPPED, legalBasis: 'public-task' }],
        destinations: [buildDestination(municipality.url('/gm'))],
        practices: [],
      }),
    });
    const referral = buildReferralEvent();
    bsn = (referral.child as { bsn: string }).bsn;
    referralId = (referral.referral as { id: string }).id;
    const res = await app.request('/his/v1/events', { json: referral });
    expect(res.status).toBe(202);
    id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered' ? true : undefined;
    });
    const [delivery] = await app.rt.ctx.db.query<{ id: string }>('SELECT id FROM delivery WHERE inbox_id = $1', [id]);
    deliveryId = delivery!.id;
  });

  afterAll(async () => {
    await app.close();
    await municipality.stop();
    await cleanupTestEnv(app.testEnv);
  });

  /** The read AuditEvents of this event that name `principal`, as their chain holds them. */
  const readsBy = async (principal: string) => {
    await app.rt.ctx.audit.flush();
    return app.rt.ctx.db.query<{
      tenant: string;
      outcome: string;
      patient_bsn: string | null;
      agents: string[];
      entities: string[];
    }>(
      `SELECT tenant, outcome, patient_bsn, agents, entities FROM audit_event
       WHERE subtype = 'read' AND entities @> ARRAY[$1] AND agents @> ARRAY[$2]`,
      [`inbox/${id}`, `${PRINCIPAL_SYSTEM}|api-key:${principal}`],
    );
  };

  it.each<[string, KeyName, () => string]>([
    ["the practice's event timeline", 'practice', () => `/his/v1/events/${id}`],
    ['an operator reading the same', 'operator', () => `/his/v1/events/${id}`],
    [
      "the municipality's statuses of the referral",
      'municipality',
      () => `/municipality/v1/referrals/${referralId}/status`,
    ],
  ])('%s', async (_what, key, url) => {
    expect(await readsBy(key)).toEqual([]);
    const res = await app.request(url(), { key });
    expect(res.status).toBe(200);
    const reads = await readsBy(key);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ tenant: PRACTICE_AGB, patient_bsn: bsn });
    expect(reads[0]?.entities).toContain(`${BSN_SYSTEM}|${bsn}`);
  });

  it("names the municipality the referral went to as well, so the municipality's auditors see its reads", async () => {
    const [read] = await readsBy('municipality');
    expect(read?.agents.some((a) => a.endsWith(`|${MUNICIPALITY}`))).toBe(true);
  });

  it("answers another practice 404, as for an unknown id, and records the refused read in the event's chain", async () => {
    const unknown = await app.request('/his/v1/events/00000000-0000-4000-8000-000000000000', { key: 'otherPractice' });
    expect(unknown.status).toBe(404);
    const res = await app.request(`/his/v1/events/${id}`, { key: 'otherPractice' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(await unknown.json());
    const reads = await readsBy('otherpractice');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
  });

  it("answers $explain about another practice's event 404 too, and records that refused read as well", async () => {
    const explain = (eventId: string) =>
      app.request('/policy/v1/$explain', { key: 'otherPractice', method: 'POST', json: { eventId } });
    const unknown = await explain('00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    const before = (await readsBy('otherpractice')).length;
    const res = await explain(id);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(await unknown.json());
    const reads = await readsBy('otherpractice');
    expect(reads).toHaveLength(before + 1);
    expect(reads.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
  });

  /** The refused reads (outcome 4) of this event by `principal`, as their chain holds them. */
  const refusedBy = async (principal: string) => (await readsBy(principal)).filter((r) => r.outcome === '4');

  it.each<[string, (ref: string) => Promise<Response>]>([
    [
      'GET /municipality/v1/referrals/{identifier}/status',
      (ref) =>
        app.request(`/municipality/v1/referrals/${encodeURIComponent(ref)}/status`, { key: 'otherMunicipality' }),
    ],
    [
      'POST /municipality/v1/referrals/{identifier}/status',
      (ref) =>
        app.request(`/municipality/v1/referrals/${encodeURIComponent(ref)}/status`, {
          key: 'otherMunicipality',
          json: { status: 'accepted' },
        }),
    ],
    [
      'POST /fhir/Task',
      (ref) =>
        app.request('/fhir/Task', {
          key: 'otherMunicipality',
          json: { resourceType: 'Task', status: 'accepted', intent: 'order', focus: { identifier: { value: ref } } },
        }),
    ],
  ])(
    "answers another municipality's %s about the referral 404, as for an unknown one, and records the refused read in the event's chain",
    async (_route, send) => {
      const before = await refusedBy('othermunicipality');
      const unknown = await send('no-such-referral');
      expect(unknown.status).toBe(404);
      const res = await send(referralId);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual(await unknown.json());
      const refused = await refusedBy('othermunicipality');
      expect(refused).toHaveLength(before.length + 1);
      for (const r of refused) {
        expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
      }
      // Nothing was stored, and the refusal is not among what the municipality itself may search: the event stays
      // unknown to it.
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [id])).toEqual([]);
      const search = await app.request(`/fhir/AuditEvent?entity=inbox/${id}&_summary=count`, {
        key: 'otherMunicipality',
      });
      expect(search.status).toBe(200);
      expect(((await search.json()) as { total: number }).total).toBe(0);
    },
  );

  // The refusal's row in the event's chain names the asking municipality (its key acts for it), and a municipality's
  // privacy officer sees every row that names it: that row would show it another municipality's child and the other
  // practice's event. The asking side gets a row of its own instead, naming who asked for which identifier, the same
  // for a referral of someone else as for an unknown one; the practice's own auditor sees the child.
  it("shows the asking municipality's auditor who asked for which identifier, never the other child or event", async () => {
    await app.rt.ctx.audit.flush();
    const since = new Date();
    const asks = (ref: string): [string, RequestInit & { json?: unknown }][] => [
      [`/municipality/v1/referrals/${encodeURIComponent(ref)}/status`, {}],
      [`/municipality/v1/referrals/${encodeURIComponent(ref)}/status`, { json: { status: 'accepted' } }],
      [
        '/fhir/Task',
        { json: { resourceType: 'Task', status: 'accepted', intent: 'order', focus: { identifier: { value: ref } } } },
      ],
      [`/fhir/Task?focus:identifier=${encodeURIComponent(ref)}`, {}],
    ];
    const answers: number[] = [];
    for (const ref of [referralId, 'no-such-referral']) {
      for (const [url, init] of asks(ref)) {
        answers.push((await app.request(url, { ...init, key: 'otherMunicipality' })).status);
      }
    }
    expect(answers).toEqual([404, 404, 404, 200, 404, 404, 404, 200]);
    const page = await openConsole(app, 'otherMunicipality');
    expect((await page.get(`/console/municipality/referrals/${referralId}`)).status).toBe(404);
    expect((await page.get('/console/municipality/referrals/no-such-referral')).status).toBe(404);
    await app.rt.ctx.audit.flush();

    type Bundle = { total?: number; entry?: { resource: AuditEvent }[] };
    const search = async (key: KeyName, query: string) => {
      const res = await app.request(`/fhir/AuditEvent?${query}&date=ge${since.toISOString()}&_count=500`, { key });
      expect(res.status).toBe(200);
      return ((await res.json()) as Bundle).entry?.map((e) => e.resource) ?? [];
    };
    // Nothing names the other child or the other practice's event in the asking municipality's view...
    expect(await search('otherMunicipalityAuditor', `patient=${bsn}`)).toEqual([]);
    expect(await search('otherMunicipalityAuditor', `entity=${encodeURIComponent(`inbox/${id}`)}`)).toEqual([]);
    const seen = await search('otherMunicipalityAuditor', `agent=${encodeURIComponent('api-key:othermunicipality')}`);
    for (const e of seen) {
      expect(JSON.stringify(e)).not.toContain(bsn);
      expect(JSON.stringify(e)).not.toContain(id);
      expect(e.entity?.some((x) => x.what?.identifier?.system === BSN_SYSTEM)).toBe(false);
    }
    // ...but each request is there, naming what was asked, alike for the referral of someone else and the unknown one.
    const askedFor = (ref: string) =>
      seen
        .filter((e) =>
          e.entity?.some(
            (x) =>
              x.what?.reference === `referral/${ref}` ||
              (x.query !== undefined && Buffer.from(x.query, 'base64').toString().includes(ref)),
          ),
        )
        .map((e) => `${e.type.code} ${e.subtype?.[0]?.code} ${e.outcome}`)
        .sort();
    expect(askedFor(referralId)).toHaveLength(5);
    expect(askedFor(referralId)).toEqual(askedFor('no-such-referral'));
    // The practice's own privacy officer sees that the other municipality asked about its child.
    const owners = await search('practiceAuditor', `patient=${bsn}&outcome=4`);
    expect(
      owners.filter((e) => e.agent.some((a) => a.who?.identifier?.value === 'api-key:othermunicipality')),
    ).toHaveLength(5);
  });

  it("records an auditor's $explain of the event with the child's BSN, so a search by the child finds it", async () => {
    expect(await readsBy('auditor')).toEqual([]);
    const res = await app.request('/policy/v1/$explain', { key: 'auditor', method: 'POST', json: { eventId: id } });
    expect(res.status).toBe(200);
    const reads = await readsBy('auditor');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0', patient_bsn: bsn });
  });

  it("records a municipality's role-refused read of the event in the event's chain, naming it and the child", async () => {
    const res = await app.request(`/his/v1/events/${id}`, { key: 'municipality' });
    expect(res.status).toBe(403);
    await app.rt.ctx.audit.flush();
    const rows = await app.rt.ctx.db.query<{ tenant: string; type: string; patient_bsn: string | null }>(
      `SELECT tenant, type, patient_bsn FROM audit_event WHERE outcome = '4' AND entities @> ARRAY[$1]
         AND agents @> ARRAY[$2]`,
      [`inbox/${id}`, `${PRINCIPAL_SYSTEM}|api-key:municipality`],
    );
    expect(rows).toEqual([{ tenant: PRACTICE_AGB, type: '110113', patient_bsn: bsn }]);
  });

  it('finds every kind of refusal by the documented search, type=110113&outcome=4', async () => {
    // Each refused by role or by scope; the POST carries its body.
    const refusals: [KeyName, string, unknown?][] = [
      ['otherPractice', `/his/v1/events/${id}`],
      ['otherPractice', '/policy/v1/$explain', { eventId: id }],
      ['otherPractice', `/audit/v1/verify?tenant=${PRACTICE_AGB}`],
      ['otherPractice', `/audit/v1/export?tenant=${PRACTICE_AGB}`],
      ['municipality', '/audit/v1/verify'],
      ['municipality', `/his/v1/events/${id}`],
      ['municipality', '/fhir/Consent'],
      ['otherMunicipality', `/municipality/v1/referrals/${referralId}/status`],
      [
        'otherMunicipality',
        '/fhir/Task',
        { resourceType: 'Task', status: 'accepted', intent: 'order', focus: { identifier: { value: referralId } } },
      ],
      ['otherPractice', `/municipality/v1/referrals/${referralId}/status`, { status: 'accepted' }],
      ['otherPractice', `/admin/v1/events/${id}/redecide`, {}],
    ];
    const [practiceRow] = await app.rt.ctx.db.query<{ id: string }>(
      'SELECT id FROM audit_event WHERE tenant = $1 ORDER BY seq LIMIT 1',
      [PRACTICE_AGB],
    );
    refusals.push(['otherPractice', `/fhir/AuditEvent/${practiceRow!.id}`]);
    await app.rt.ctx.audit.flush();
    const since = new Date();
    for (const [key, url, json] of refusals) {
      const res = await app.request(url, json === undefined ? { key } : { key, method: 'POST', json });
      expect([403, 404]).toContain(res.status);
    }
    await app.rt.ctx.audit.flush();
    const refused = await app.rt.ctx.db.query<{ id: string }>(
      `SELECT id FROM audit_event WHERE recorded >= $1 AND outcome <> '0'`,
      [since],
    );
    // One row each, and a second for a municipality's refusal that names the event or its referral: its own side,
    // in the system chain, without the event or the child (the one in the event's chain its auditor does not see).
    const namingTheEvent = refusals.filter(
      ([key, url]) =>
        key.endsWith('unicipality') && (url.includes(id) || url.includes(referralId) || url === '/fhir/Task'),
    );
    expect(namingTheEvent).toHaveLength(3);
    expect(refused).toHaveLength(refusals.length + namingTheEvent.length);
    const found: string[] = [];
    for (let url = `/fhir/AuditEvent?type=110113&outcome=4&date=ge${since.toISOString()}&_count=500`; url;) {
      const res = await app.request(url.replace(/^https?:\/\/[^/]+/, ''), { key: 'auditor' });
      expect(res.status).toBe(200);
      const bundle = (await res.json()) as {
        entry?: { resource: { id: string } }[];
        link?: { relation: string; url: string }[];
      };
      found.push(...(bundle.entry ?? []).map((e) => e.resource.id));
      url = bundle.link?.find((l) => l.relation === 'next')?.url ?? '';
    }
    expect(found).toEqual(expect.arrayContaining(refused.map((r) => r.id)));
  });

  // The urls and bodies are functions: the ids are known only after beforeAll.
  it.each<[string, KeyName, () => string, (() => unknown)?]>([
    [
      "a practice's GET of the referral's statuses",
      'otherPractice',
      () => `/municipality/v1/referrals/${referralId}/status`,
      undefined,
    ],
    [
      "a practice's POST of a status",
      'otherPractice',
      () => `/municipality/v1/referrals/${referralId}/status`,
      () => ({ status: 'accepted' }),
    ],
    [
      "a practice's POST /fhir/Task",
      'otherPractice',
      () => '/fhir/Task',
      () => ({
        resourceType: 'Task',
        status: 'accepted',
        intent: 'order',
        focus: { identifier: { value: referralId } },
      }),
    ],
    ["a municipality's $explain of the event", 'municipality', () => '/policy/v1/$explain', () => ({ eventId: id })],
    ["a practice's redecide of the event", 'otherPractice', () => `/admin/v1/events/${id}/redecide`, () => ({})],
    [
      "a practice's replay of the event's delivery",
      'otherPractice',
      () => `/admin/v1/dead-letters/${deliveryId}/replay`,
      () => ({}),
    ],
  ])(
    "records %s, refused by role (403), in the event's chain, naming it and the child",
    async (_what, key, url, json) => {
      const body = json?.();
      const principal = `${PRINCIPAL_SYSTEM}|api-key:${key.toLowerCase()}`;
      const refusedRows = () =>
        app.rt.ctx.audit.flush().then(() =>
          app.rt.ctx.db.query<{ tenant: string; type: string; patient_bsn: string | null }>(
            `SELECT tenant, type, patient_bsn FROM audit_event WHERE outcome = '4' AND entities @> ARRAY[$1]
             AND agents @> ARRAY[$2]`,
            [`inbox/${id}`, principal],
          ),
        );
      const before = (await refusedRows()).length;
      const res = await app.request(url(), body === undefined ? { key } : { key, method: 'POST', json: body });
      expect(res.status).toBe(403);
      const rows = await refusedRows();
      expect(rows).toHaveLength(before + 1);
      expect(new Set(rows.map((r) => JSON.stringify(r)))).toEqual(
        new Set([JSON.stringify({ tenant: PRACTICE_AGB, type: '110113', patient_bsn: bsn })]),
      );
    },
  );

  it("answers another practice's console page of the event 404, as for an unknown id, and records the refused read", async () => {
    const other = await openConsole(app, 'otherPractice');
    const unknown = await other.get('/console/practice/events/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    const before = await refusedBy('otherpractice');
    const res = await other.get(`/console/practice/events/${id}`);
    expect(res.status).toBe(404);
    // The same page, but for the id in its own links.
    expect((await res.text()).replaceAll(id, '00000000-0000-4000-8000-000000000000')).toBe(await unknown.text());
    const refused = await refusedBy('otherpractice');
    expect(refused).toHaveLength(before.length + 1);
    for (const r of refused) {
      expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
    }
  });

  it("records a municipality's role-refused console page of the event in the event's chain", async () => {
    const page = await openConsole(app, 'municipality');
    const before = await refusedBy('municipality');
    const res = await page.get(`/console/practice/events/${id}`);
    expect(res.status).toBe(403);
    const refused = await refusedBy('municipality');
    expect(refused).toHaveLength(before.length + 1);
    for (const r of refused) {
      expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
    }
  });

  it("records a practice's role-refused replay of a status update on the referral in the event's chain", async () => {
    const sent = await app.request(`/municipality/v1/referrals/${referralId}/status`, {
      key: 'municipality',
      json: { status: 'received' },
    });
    expect(sent.status).toBe(202);
    const feedbackId = ((await sent.json()) as { id: string }).id;
    const before = await refusedBy('otherpractice');
    const res = await app.request(`/admin/v1/feedback/${feedbackId}/replay`, { key: 'otherPractice', json: {} });
    expect(res.status).toBe(403);
    const refused = await refusedBy('otherpractice');
    expect(refused).toHaveLength(before.length + 1);
    for (const r of refused) {
      expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
    }
  });

  // The console's pages that name an event, a status update or a referral declare it as the API's routes do, so a
  // session of another role is recorded where the API's refusal is: in the event's chain.
  it.each<[string, (ids: { feedbackId: string }) => [string, Record<string, string>?]]>([
    ["a municipality's page of the referral", () => [`/console/municipality/referrals/${referralId}`]],
    [
      "a municipality's status form on the referral",
      () => [`/console/municipality/referrals/${referralId}/status`, { status: 'accepted' }],
    ],
    ["an operator's redecide of the event", () => [`/console/operator/events/${id}/redecide`, {}]],
    [
      "an operator's replay of a status update on the referral",
      ({ feedbackId }) => [`/console/operator/feedback/${feedbackId}/replay`, {}],
    ],
  ])(
    "records a practice's console request for %s, refused by role (403), in the event's chain",
    async (_what, request) => {
      const [feedback] = await app.rt.ctx.db.query<{ id: string }>('SELECT id FROM feedback WHERE inbox_id = $1', [id]);
      expect(feedback).toBeDefined();
      const [path, form] = request({ feedbackId: feedback!.id });
      const page = await openConsole(app, 'otherPractice');
      const before = await refusedBy('otherpractice');
      const res = form === undefined ? await page.get(path) : await page.post(path, form);
      expect(res.status).toBe(403);
      const refused = await refusedBy('otherpractice');
      expect(refused).toHaveLength(before.length + 1);
      for (const r of refused) {
        expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '4', patient_bsn: bsn });
      }
    },
  );

  // The console's view of one event shows what GET /his/v1/events/{id} answers: it is recorded the same way, whatever
  // the event's state (it was recorded only for a denied event, without the child), so a search by the child finds
  // a look in the console as it finds one through the API.
  it.each<[string, KeyName, () => string]>([
    ["a practice's console page of its event", 'practice', () => `/console/practice/events/${id}`],
    ["an operator's console page of the event", 'operator', () => `/console/operator/events?id=${id}`],
  ])('records %s as the API records the same read, once, with the child', async (_what, key, url) => {
    const page = await openConsole(app, key);
    const before = await readsBy(key);
    const res = await page.get(url());
    expect(res.status).toBe(200);
    const reads = await readsBy(key);
    expect(reads).toHaveLength(before.length + 1);
    // Every read of the event by this key, the API's before and the console's now, alike.
    for (const r of reads) {
      expect(r).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0', patient_bsn: bsn });
      expect(r.entities).toEqual(expect.arrayContaining([`${BSN_SYSTEM}|${bsn}`, `inbox/${id}`]));
    }
  });

  // report-xsec 3 and 4: an operator's lists of dead letters, and of status updates and trajectory events that did not
  // reach the practice, and the practice console's event list, are recorded as GET /his/v1/events records its page: a
  // search in the chain of the practice whose rows were listed, naming them.
  describe('lists of events are audited as the API list is', () => {
    let trajectoryId: string;

    beforeAll(async () => {
      const sent = await app.request(`/municipality/v1/referrals/${referralId}/status`, {
        key: 'municipality',
        json: { status: 'accepted' },
      });
      expect(sent.status).toBe(202);
      const trajectory = await app.request('/municipality/v1/trajectories/events', {
        key: 'municipality',
        json: {
          eventId: 'gm-list-1',
          type: 'intake',
          municipality: MUNICIPALITY,
          practice: { agb: PRACTICE_AGB },
          child: { bsn, birthDate: '2013-05-01' },
          trajectory: { id: 'traj-list', startDate: '2026-10-01' },
          date: '2026-10-01',
        },
      });
      expect(trajectory.status).toBeLessThan(300);
      const [t] = await app.rt.ctx.db.query<{ id: string }>(
        "SELECT id FROM trajectory_event WHERE source_event_id = 'gm-list-1'",
      );
      trajectoryId = t!.id;
      // Dead letters, as a receiver refusing them for good would leave them.
      await app.rt.ctx.db.query(`UPDATE delivery SET state = 'dead' WHERE inbox_id = $1`, [id]);
      await app.rt.ctx.db.query(`UPDATE feedback SET state = 'dead' WHERE inbox_id = $1`, [id]);
      await app.rt.ctx.db.query(`UPDATE trajectory_event SET state = 'dead' WHERE id = $1`, [trajectoryId]);
    });

    /** The searches by `principal` of `target` recorded in any chain, with what they name. */
    const listsBy = async (principal: string, target: string) => {
      await app.rt.ctx.audit.flush();
      return app.rt.ctx.db.query<{ tenant: string; outcome: string; entities: string[] }>(
        `SELECT tenant, outcome, entities FROM audit_event
         WHERE subtype = 'search-type' AND entities @> ARRAY[$1] AND agents @> ARRAY[$2] ORDER BY seq`,
        [target, `${PRINCIPAL_SYSTEM}|api-key:${principal}`],
      );
    };

    it.each<[string, KeyName, string, string, () => string, boolean]>([
      ['the dead letters', 'operator', '/admin/v1/dead-letters', 'delivery', () => `inbox/${id}`, false],
      ['the dead status updates', 'operator', '/admin/v1/feedback', 'feedback', () => `inbox/${id}`, false],
      [
        'the dead trajectory events',
        'operator',
        '/admin/v1/trajectory-events',
        'trajectory_event',
        () => `trajectory_event/${trajectoryId}`,
        false,
      ],
      [
        "the operator console's dead letters",
        'operator',
        '/console/operator/dead-letters',
        'delivery',
        () => `inbox/${id}`,
        true,
      ],
      [
        "the operator console's status updates to practices",
        'operator',
        '/console/operator/to-practices',
        'feedback',
        () => `inbox/${id}`,
        true,
      ],
      [
        "the operator console's trajectory events to practices",
        'operator',
        '/console/operator/to-practices',
        'trajectory_event',
        () => `trajectory_event/${trajectoryId}`,
        true,
      ],
      ["the practice console's event list", 'practice', '/console/practice', 'inbox', () => `inbox/${id}`, true],
    ])('records %s in the practice’s chain, naming the rows listed', async (_what, key, url, target, ref, console) => {
      const principal = key.toLowerCase();
      // Signed in first: signing in lands on the role's first page, for a practice its event list.
      const page = console ? await openConsole(app, key) : undefined;
      const before = await listsBy(principal, target);
      const res = page ? await page.get(url) : await app.request(url, { key });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(ref().split('/')[1]!.slice(0, 8));
      const after = await listsBy(principal, target);
      expect(after).toHaveLength(before.length + 1);
      expect(after.at(-1)).toMatchObject({ tenant: PRACTICE_AGB, outcome: '0' });
      expect(after.at(-1)!.entities).toContain(ref());
    });
  });
});
