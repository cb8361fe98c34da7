import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AuditEvent, Bundle, OperationOutcome } from '@medplum/fhirtypes';
import {
  IDENTIFIER_SYSTEMS,
  consentDecision,
  disclosure,
  MAX_AUDITED_QUERY_BYTES,
  SYSTEM_WORKER,
} from '../../src/audit/audit-events';
import { runAuditCli } from '../../src/cli/audit-verify';
import { MUNICIPALITY, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { type KeyName, TEST_DATABASE_URL, useTestApp } from '../helpers/test-runtime';

const BSN = '111111110';
const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
const CBS = 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const LIFECYCLE = 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle';
/** The seeded events are all from 2025; this keeps the audit events of the tests' own reads out of the counts. */
const SEEDED = `patient=${BSN}&date=lt2026`;

const at = (day: number, hour: number, minute = 0): string =>
  new Date(Date.UTC(2025, 2, day, hour, minute)).toISOString();

describe('audit search, verification and export over HTTP', () => {
  const app = useTestApp();
  const ids = { practiceDisclosures: [] as string[], decisions: [] as string[], other: [] as string[] };

  beforeAll(async () => {
    const audit = app.rt.ctx.audit;
    // The practice: ten disclosures to GM0226 an hour apart (every third one failed), then three denies a day later.
    for (let i = 0; i < 10; i++) {
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: i % 3 === 2 ? '8' : '0',
        patientBsn: BSN,
        inboxId: `search-${i}`,
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/pa', `ServiceRequest/sr-${i}`],
        consentIds: i < 4 ? ['c-search-1'] : [],
      });
      ids.practiceDisclosures.push(e.id!);
      await audit.append(PRACTICE_AGB, { ...e, recorded: at(1, 8 + i) });
    }
    for (let i = 0; i < 3; i++) {
      const e = consentDecision({
        actor: SYSTEM_WORKER,
        permit: false,
        reasons: 'consent-missing-guardian',
        patientBsn: BSN,
        inboxId: `search-deny-${i}`,
        consentIds: ['c-search-1'],
        municipality: MUNICIPALITY,
        purpose: 'referral',
        stage: 'map',
      });
      ids.decisions.push(e.id!);
      await audit.append(PRACTICE_AGB, { ...e, recorded: at(2, 9 + i) });
    }
    // Another practice: four disclosures of the same child to another municipality.
    for (let i = 0; i < 4; i++) {
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: BSN,
        inboxId: `search-other-${i}`,
        municipality: 'GM0344',
        destination: 'gm0344',
        purpose: 'referral',
        resources: ['Patient/pb'],
      });
      ids.other.push(e.id!);
      await audit.append(OTHER_PRACTICE_AGB, { ...e, recorded: at(1, 8 + i, 30) });
    }
  });

  async function search(query: string, key: KeyName = 'auditor'): Promise<Bundle<AuditEvent>> {
    const res = await app.request(`/fhir/AuditEvent?${query}`, { key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    return (await res.json()) as Bundle<AuditEvent>;
  }

  const idsOf = (b: Bundle<AuditEvent>): string[] => (b.entry ?? []).map((e) => e.resource!.id!);
  const linkOf = (b: Bundle<AuditEvent>, relation: string): string | undefined =>
    b.link?.find((l) => l.relation === relation)?.url;

  /** The page a `next` or `previous` link leads to, as the auditor. */
  async function follow(link: string): Promise<Bundle<AuditEvent>> {
    const res = await app.request(new URL(link).pathname + new URL(link).search, { key: 'auditor' });
    return (await res.json()) as Bundle<AuditEvent>;
  }

  /** Every page of a search, by its `next` links. */
  async function pagesOf(query: string): Promise<Bundle<AuditEvent>[]> {
    const pages = [await search(query)];
    for (let next = linkOf(pages[0]!, 'next'); next; next = linkOf(pages.at(-1)!, 'next')) {
      pages.push(await follow(next));
      expect(pages.length).toBeLessThan(10);
    }
    return pages;
  }

  /** The AuditEvents recorded after `since` in a chain, newest last. */
  async function chainSince(tenant: string, since: number): Promise<{ seq: number; resource: AuditEvent }[]> {
    return app.rt.ctx.db.query(
      'SELECT seq::int AS seq, resource::json AS resource FROM audit_event WHERE tenant = $1 AND seq > $2 ORDER BY seq',
      [tenant, since],
    );
  }
  async function headOf(tenant: string): Promise<number> {
    const [h] = await app.rt.ctx.db.query<{ seq: number }>(
      'SELECT seq::int AS seq FROM audit_chain_head WHERE tenant = $1',
      [tenant],
    );
    return h?.seq ?? 0;
  }

  describe('search parameters', () => {
    it('finds a child’s events by patient identifier token and by plain BSN alike', async () => {
      const byToken = await search(`patient:identifier=${encodeURIComponent(`${BSN_SYSTEM}|${BSN}`)}&date=lt2026`);
      const byBsn = await search(SEEDED);
      expect(byToken.type).toBe('searchset');
      expect(byToken.total).toBe(17);
      expect(idsOf(byBsn)).toEqual(idsOf(byToken));
      expect(new Set(idsOf(byBsn))).toEqual(new Set([...ids.practiceDisclosures, ...ids.decisions, ...ids.other]));
    });

    it('filters on date with prefixes, repeated for a range, days taken in Dutch time', async () => {
      expect(idsOf(await search(`${SEEDED}&date=ge2025-03-02`))).toEqual(ids.decisions);
      expect(idsOf(await search(`patient=${BSN}&date=eq2025-03-02`))).toEqual(ids.decisions);
      const window = await search(
        `patient=${BSN}&date=ge${encodeURIComponent('2025-03-01T11:00:00+01:00')}&date=lt2025-03-01T12:00:00Z`,
      );
      // 10:00Z and 11:00Z at the practice, 10:30Z and 11:30Z at the other one, in order of time.
      expect(idsOf(window)).toEqual([
        ids.practiceDisclosures[2],
        ids.other[2],
        ids.practiceDisclosures[3],
        ids.other[3],
      ]);
      expect(idsOf(await search(`${SEEDED}&date=gt2025-03-02T10:00:00Z`))).toEqual([ids.decisions[2]]);
    });

    it('filters on type and subtype, with or without the code system', async () => {
      expect((await search(`${SEEDED}&type=110113`)).total).toBe(3);
      expect((await search(`${SEEDED}&type=${encodeURIComponent(`${DCM}|110106`)}`)).total).toBe(14);
      expect((await search(`${SEEDED}&type=${encodeURIComponent('urn:other|110106')}`)).total).toBe(0);
      expect((await search(`${SEEDED}&subtype=${encodeURIComponent(`${LIFECYCLE}|disclose`)}`)).total).toBe(14);
      expect(idsOf(await search(`${SEEDED}&subtype=AuthZ-Consent`))).toEqual(ids.decisions);
    });

    it('matches |code only to codings without a system, as FHIR has it', async () => {
      // Every seeded event's type and subtype have a system: `|code` asks for none, so none match.
      expect((await search(`${SEEDED}&type=${encodeURIComponent('|110106')}`)).total).toBe(0);
      expect((await search(`${SEEDED}&subtype=${encodeURIComponent('|disclose')}`)).total).toBe(0);
      // An event whose codings have no system (another child, in a chain of its own) is found by it.
      const child = '123456782';
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: child,
        inboxId: 'search-no-system',
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/pc'],
      });
      await app.rt.ctx.audit.append('09999993', {
        ...e,
        type: { code: '110106' },
        subtype: [{ code: 'disclose' }],
        recorded: at(3, 9),
      });
      const noSystem = `patient=${child}&date=lt2026`;
      expect(idsOf(await search(`${noSystem}&type=${encodeURIComponent('|110106')}`))).toEqual([e.id]);
      expect(idsOf(await search(`${noSystem}&subtype=${encodeURIComponent('|disclose')}`))).toEqual([e.id]);
      expect((await search(`${noSystem}&type=${encodeURIComponent(`${DCM}|110106`)}`)).total).toBe(0);
      expect((await search(`${noSystem}&type=110106`)).total).toBe(1);
    });

    it('filters on outcome, commas meaning either', async () => {
      const failed = await search(`${SEEDED}&outcome=8`);
      expect(idsOf(failed)).toEqual([2, 5, 8].map((i) => ids.practiceDisclosures[i]));
      expect((await search(`${SEEDED}&outcome=0,4`)).total).toBe(14);
    });

    it('filters on agent by identifier token or by value, and on entity by reference', async () => {
      expect(idsOf(await search(`${SEEDED}&agent=${encodeURIComponent(`${CBS}|GM0344`)}`))).toEqual(ids.other);
      expect((await search(`${SEEDED}&agent=GM0226`)).total).toBe(13);
      expect(
        (
          await search(
            `${SEEDED}&agent:identifier=${encodeURIComponent('https://jeugdbrug.nl/principal|system/worker')}`,
          )
        ).total,
      ).toBe(17);
      const consent = await search(`date=lt2026&entity=${encodeURIComponent('Consent/c-search-1')}`);
      expect(idsOf(consent)).toEqual([...ids.practiceDisclosures.slice(0, 4), ...ids.decisions]);
      expect(idsOf(await search(`date=lt2026&entity=ServiceRequest/sr-7`))).toEqual([ids.practiceDisclosures[7]]);
    });

    it('pages through results with next and previous links in a stable order', async () => {
      const pages = await pagesOf(`${SEEDED}&_count=5`);
      expect(linkOf(pages[0]!, 'previous')).toBeUndefined();
      expect(pages.map((p) => p.entry?.length ?? 0)).toEqual([5, 5, 5, 2]);
      expect(pages.every((p) => p.total === 17)).toBe(true);
      const all = pages.flatMap(idsOf);
      expect(all).toEqual(idsOf(await search(`${SEEDED}&_count=50`)));
      const recorded = pages.flatMap((p) => (p.entry ?? []).map((e) => e.resource!.recorded));
      expect([...recorded].sort()).toEqual(recorded);
      // Back from the third page lands on the second, exactly.
      const back = await follow(linkOf(pages[2]!, 'previous')!);
      expect(idsOf(back)).toEqual(idsOf(pages[1]!));
      expect(linkOf(pages[1]!, 'self')).toContain('_page=');
      const newestFirst = await search(`${SEEDED}&_sort=-date&_count=3`);
      expect(idsOf(newestFirst)).toEqual([...ids.decisions].reverse());
    });

    it('serves the same pages whether the matches were counted or not', async () => {
      // Counted (at most 10,000 match), a page is taken from all the matches; uncounted, read in date order until full.
      for (const sort of ['date', '-date']) {
        const counted = await pagesOf(`${SEEDED}&_count=5&_sort=${sort}`);
        const uncounted = await pagesOf(`${SEEDED}&_count=5&_sort=${sort}&_total=none`);
        expect(counted[0]!.total).toBe(17);
        expect(uncounted[0]!.total).toBeUndefined();
        expect(uncounted.map(idsOf)).toEqual(counted.map(idsOf));
        const back = await follow(linkOf(uncounted[2]!, 'previous')!);
        expect(idsOf(back)).toEqual(idsOf(counted[1]!));
      }
    });

    it('answers 400 naming an unknown search parameter', async () => {
      const res = await app.request('/fhir/AuditEvent?patient=111111110&name=Jansen', { key: 'auditor' });
      expect(res.status).toBe(400);
      const outcome = (await res.json()) as OperationOutcome;
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0]?.expression).toEqual(['name']);
      expect(outcome.issue[0]?.details?.text).toContain("'name'");
    });
  });

  describe('scope', () => {
    it('shows a practice only its own chain, and another practice only its own', async () => {
      const own = await search(SEEDED, 'practice');
      expect(new Set(idsOf(own))).toEqual(new Set([...ids.practiceDisclosures, ...ids.decisions]));
      expect(idsOf(await search(SEEDED, 'otherPractice'))).toEqual(ids.other);
    });

    it('shows a municipality only what it received, never decisions or failed attempts', async () => {
      const received = await search(SEEDED, 'municipality');
      expect(idsOf(received)).toEqual([0, 1, 3, 4, 6, 7, 9].map((i) => ids.practiceDisclosures[i]));
      expect(idsOf(await search(SEEDED, 'otherMunicipality'))).toEqual(ids.other);
    });

    it('answers 404 for another practice’s event and records the attempt in that practice’s chain', async () => {
      const before = await headOf(OTHER_PRACTICE_AGB);
      const res = await app.request(`/fhir/AuditEvent/${ids.other[0]}`, { key: 'practice' });
      expect(res.status).toBe(404);
      const [attempt] = await chainSince(OTHER_PRACTICE_AGB, before);
      expect(attempt!.resource).toEqual(
        expect.objectContaining({ outcome: '4', action: 'R', subtype: [expect.objectContaining({ code: 'read' })] }),
      );
      expect(JSON.stringify(attempt!.resource.agent)).toContain('api-key:practice');
    });
  });

  describe('reading the log is audited', () => {
    it('records a search with the principal as agent, the client address as access point, and the child', async () => {
      const before = await headOf(PRACTICE_AGB);
      await search(`patient=${BSN}&type=110113`, 'practice');
      const [read] = await chainSince(PRACTICE_AGB, before);
      const e = read!.resource;
      expect(e.type.code).toBe('rest');
      expect(e.subtype?.[0]?.code).toBe('search-type');
      expect(e.outcome).toBe('0');
      const user = e.agent?.find((a) => a.requestor);
      expect(user?.who?.identifier?.value).toBe('api-key:practice');
      expect(user?.network?.address).toMatch(/127\.0\.0\.1/);
      expect(e.agent?.map((a) => a.who?.identifier?.value)).toContain(PRACTICE_AGB);
      expect(e.entity?.[0]?.what?.identifier).toEqual({ system: BSN_SYSTEM, value: BSN });
      const query = e.entity?.find((x) => x.role?.code === '24')?.query;
      expect(Buffer.from(query!, 'base64').toString()).toBe(`/fhir/AuditEvent?patient=${BSN}&type=110113`);
    });

    // report-xsec 1: the chain keeps a long search's start, its length and its hash, not a copy of the whole.
    it('records a long POST search with its first 2 kB, its length and SHA-256; the child in full', async () => {
      const before = await headOf(PRACTICE_AGB);
      const agents = Array.from({ length: 400 }, (_, i) => `api-key:k${i}-${'z'.repeat(12)}`).join(',');
      const form = `patient=${BSN}&agent=${encodeURIComponent(agents)}`;
      expect(form.length).toBeGreaterThan(MAX_AUDITED_QUERY_BYTES * 4);
      const res = await app.request('/fhir/AuditEvent/_search', {
        key: 'practice',
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
      expect(res.status).toBe(200);
      const [read] = await chainSince(PRACTICE_AGB, before);
      const equivalentGet = `/fhir/AuditEvent?${new URLSearchParams(form).toString()}`;
      const entity = read!.resource.entity?.find((x) => x.role?.code === '24');
      const kept = Buffer.from(entity!.query!, 'base64').toString();
      expect(Buffer.byteLength(kept)).toBe(MAX_AUDITED_QUERY_BYTES);
      expect(equivalentGet.startsWith(kept)).toBe(true);
      expect(entity!.detail).toEqual([
        { type: 'query-length', valueString: String(Buffer.byteLength(equivalentGet)) },
        { type: 'query-sha256', valueString: createHash('sha256').update(equivalentGet).digest('hex') },
      ]);
      expect(read!.resource.entity?.[0]?.what?.identifier).toEqual({ system: BSN_SYSTEM, value: BSN });
      const [size] = await app.rt.ctx.db.query<{ n: number }>(
        'SELECT length(resource::text)::int AS n FROM audit_event WHERE tenant = $1 AND seq = $2',
        [PRACTICE_AGB, read!.seq],
      );
      expect(size!.n).toBeLessThan(8 * 1024);
    });

    it('refuses a POST search body over 16 kB with a 413 naming the limit, and stores no copy of it', async () => {
      const before = await headOf(PRACTICE_AGB);
      const res = await app.request('/fhir/AuditEvent/_search', {
        key: 'practice',
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `agent=${Array.from({ length: 3300 }, (_, i) => `k${i}${'z'.repeat(14)}`).join(',')}`,
      });
      expect(res.status).toBe(413);
      const outcome = (await res.json()) as OperationOutcome;
      expect(outcome.issue[0]?.details?.text).toContain('16kb');
      expect(outcome.issue[0]?.expression).toEqual(['body']);
      const rows = await chainSince(PRACTICE_AGB, before);
      expect(rows.every((r) => JSON.stringify(r.resource).length < 8 * 1024)).toBe(true);
    });

    it('serves one AuditEvent with its place in the chain, and records the read', async () => {
      const before = await headOf(PRACTICE_AGB);
      const res = await app.request(`/fhir/AuditEvent/${ids.decisions[1]}`, { key: 'auditor' });
      expect(res.status).toBe(200);
      const e = (await res.json()) as AuditEvent;
      expect(e.id).toBe(ids.decisions[1]);
      expect(e.extension?.[0]?.extension).toEqual(
        expect.arrayContaining([
          { url: 'tenant', valueString: PRACTICE_AGB },
          { url: 'seq', valueInteger: 12 },
        ]),
      );
      const [read] = await chainSince(PRACTICE_AGB, before);
      expect(read!.resource.entity?.map((x) => x.what?.reference)).toContain(`AuditEvent/${ids.decisions[1]}`);
    });

    it('records a refused verification (403) as a Security Alert with outcome 4 in the chain that was asked for', async () => {
      const before = await headOf(PRACTICE_AGB);
      const res = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'otherPractice' });
      expect(res.status).toBe(403);
      const refused = (await chainSince(PRACTICE_AGB, before)).find((r) => r.resource.outcome === '4');
      // Every refusal is a Security Alert (type=110113&outcome=4 finds them all); the subtype says what was refused.
      expect(refused!.resource).toEqual(
        expect.objectContaining({
          type: expect.objectContaining({ code: '110113' }),
          subtype: [expect.objectContaining({ code: 'read' })],
        }),
      );
      expect(JSON.stringify(refused!.resource.agent)).toContain('api-key:otherpractice');
      expect((await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'municipality' })).status).toBe(403);
    });
  });

  describe('verification and export', () => {
    it('verifies a chain over HTTP and reports its head', async () => {
      const res = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
      expect(res.status).toBe(200);
      const v = (await res.json()) as { ok: boolean; rows: number; headSeq: number; headHash: string };
      expect(v).toEqual(
        expect.objectContaining({ ok: true, tenant: PRACTICE_AGB, headHash: expect.stringMatching(/^[0-9a-f]{64}$/) }),
      );
      expect(v.rows).toBe(v.headSeq);
      expect((await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'practice' })).status).toBe(200);
      const all = (await (await app.request('/audit/v1/verify', { key: 'auditor' })).json()) as {
        ok: boolean;
        chains: { tenant: string }[];
      };
      expect(all.ok).toBe(true);
      expect(all.chains.map((c) => c.tenant)).toEqual(expect.arrayContaining([PRACTICE_AGB, OTHER_PRACTICE_AGB]));
    });

    it('exports a period as NDJSON that the CLI verifies offline, and rejects once a line is edited', async () => {
      const res = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}&from=2025-03-01&to=2025-03-02`, {
        key: 'auditor',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toContain('attachment');
      const text = await res.text();
      const lines = text.trimEnd().split('\n');
      const meta = JSON.parse(lines[0]!) as {
        tenant: string;
        fromSeq: number;
        toSeq: number;
        prevHash: string;
        headHash: string;
      };
      expect(meta).toEqual(
        expect.objectContaining({ tenant: PRACTICE_AGB, fromSeq: 1, toSeq: 10, prevHash: '0'.repeat(64), rows: 10 }),
      );
      expect(lines).toHaveLength(11);

      const file = path.join(app.testEnv.dataDir, 'export.ndjson');
      fs.writeFileSync(file, text);
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
      expect(await runAuditCli(['verify-export', file], io)).toBe(0);
      expect(JSON.parse(out.at(-1)!)).toEqual(expect.objectContaining({ ok: true, rows: 10, headHash: meta.headHash }));
      expect(await runAuditCli(['verify-export', file, '--expect-head', meta.headHash], io)).toBe(0);

      lines[4] = lines[4]!.replace('"purpose-of-use', '"purpose-of-usf').replace('"referral"', '"monitoring"');
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      expect(await runAuditCli(['verify-export', file], io)).toBe(1);
      expect(JSON.parse(out.at(-1)!)).toEqual(expect.objectContaining({ ok: false, brokenAtSeq: 4 }));
    });

    it('exports CSV for spreadsheets that verifies offline too', async () => {
      const res = await app.request(`/audit/v1/export?tenant=${OTHER_PRACTICE_AGB}&format=csv`, { key: 'auditor' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/csv');
      const text = await res.text();
      expect(text.split('\r\n')[0]).toMatch(/^seq,recorded,type,subtype/);
      const file = path.join(app.testEnv.dataDir, 'export.csv');
      fs.writeFileSync(file, text);
      const out: string[] = [];
      expect(
        await runAuditCli(['verify-export', file], { out: (l) => out.push(l), err: (l) => out.push(l), env: {} }),
      ).toBe(0);
    });

    it('refuses an export to a municipality and an unknown parameter', async () => {
      expect((await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'municipality' })).status).toBe(403);
      const bad = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}&since=2025`, { key: 'auditor' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as OperationOutcome).issue[0]?.expression).toEqual(['since']);
    });

    it.each([
      ['a day that is none (Date.parse takes it for 2 March)', 'from=2026-02-30', 'from'],
      ['a dateTime on a day that is none', 'to=2026-02-30T10:00:00Z', 'to'],
      ['to before from', 'from=2026-03-02&to=2026-03-01', 'to'],
      ['to the same instant as from (nothing can lie between)', 'from=2026-03-01&to=2026-03-01T00:00:00%2B01:00', 'to'],
    ])('refuses an export for %s, naming the field, instead of an empty or shifted export', async (_what, q, field) => {
      const res = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}&${q}`, { key: 'auditor' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as OperationOutcome).issue[0]?.expression).toEqual([field]);
    });

    it('verifies the chain from the command line against DATABASE_URL and DATABASE_SCHEMA', () => {
      const root = path.resolve(__dirname, '../..');
      const run = spawnSync(
        path.join(root, 'node_modules/.bin/tsx'),
        // Only the hash chain: without a checkpoint file the tool exits 3 (not checked against a signed checkpoint).
        ['src/cli/audit-verify.ts', 'verify', '--tenant', PRACTICE_AGB, '--hash-chain-only'],
        {
          cwd: root,
          env: { PATH: process.env.PATH, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: app.testEnv.schema },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout.trim())).toEqual(expect.objectContaining({ tenant: PRACTICE_AGB, ok: true }));
    });

    it('answers the child’s overview only for a valid BSN', async () => {
      expect((await app.request('/audit/v1/overview?patient=111111111', { key: 'auditor' })).status).toBe(422);
      expect((await app.request('/audit/v1/overview?bsn=111111110', { key: 'auditor' })).status).toBe(400);
      const res = await app.request(`/audit/v1/overview?patient=${BSN}`, { key: 'municipality' });
      const overview = (await res.json()) as { entries: { kind: string; recipient: { code: string } }[] };
      // The municipality sees what it received, nothing else.
      expect(overview.entries).toHaveLength(7);
      expect(overview.entries.every((e) => e.kind === 'disclosure' && e.recipient.code === MUNICIPALITY)).toBe(true);
    });
  });

  it('finds every agent and entity of the trail by its bare value: their identifier systems are the ones search expands it to', async () => {
    // By now the trail holds the seeded events and the reads of every role above.
    for (const [column, atLeast] of [
      ['agents', 6],
      ['entities', 1],
    ] as const) {
      const tokens = await app.rt.ctx.db.query<{ token: string }>(
        `SELECT DISTINCT t AS token FROM audit_event, unnest(${column}) t ORDER BY 1`,
      );
      // Every agent is an identifier; entities are references (`inbox/…`, no `|`) or identifiers.
      const identifiers = tokens.filter(({ token }) => column === 'agents' || token.includes('|'));
      expect(identifiers.length).toBeGreaterThanOrEqual(atLeast);
      for (const { token } of identifiers) {
        expect(IDENTIFIER_SYSTEMS[column]).toContain(token.slice(0, token.lastIndexOf('|')));
      }
    }
  });
});
