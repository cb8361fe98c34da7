import type { AuditEvent, Bundle, MeasureReport } from '@medplum/fhirtypes';
import { createApiKeyEntry, readApiKeyFile, writeApiKeyFile } from '../../src/access/api-keys';
import { buildRegistry } from '../../src/event/registry';
import { TERMINAL_STATES } from '../../src/event/states';
import {
  buildAgreement,
  buildMonitoringSection,
  buildReferralEvent,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { openConsole } from '../helpers/console-client';

/**
 * Who may read the monitoring figures, and who sees that someone tried: a practice's own auditor reads its
 * practice's figures (suppressed as any practice's report), and a municipality's auditor sees another municipality's
 * refused attempt at its figures.
 */

const OTHER_MUNICIPALITY = 'GM0344';
const MUNICIPALITY_TOKEN = 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode';

describe('access to the monitoring figures', () => {
  let app: TestApp;
  /**
   * Keys made for this file (the practice's privacy officer is the test runtime's `practiceAuditor`, the other
   * municipality's auditor its `otherMunicipalityAuditor`).
   */
  const keys = { practiceAuditor: '', practiceOperator: '', municipalityAuditor: '', otherMunicipalityAuditor: '' };

  beforeAll(async () => {
    const testEnv = createTestEnv();
    let entries = readApiKeyFile(testEnv.apiKeysFile);
    keys.practiceAuditor = testEnv.keys.practiceAuditor;
    keys.otherMunicipalityAuditor = testEnv.keys.otherMunicipalityAuditor;
    for (const [name, grant] of [
      ['practiceOperator', { role: 'operator' as const, practices: [PRACTICE_AGB] }],
      ['municipalityAuditor', { role: 'auditor' as const, municipalities: [MUNICIPALITY] }],
    ] as const) {
      const created = createApiKeyEntry({ ...grant, id: name.toLowerCase() }, entries);
      entries = created.entries;
      keys[name] = created.key;
    }
    writeApiKeyFile(testEnv.apiKeysFile, entries);
    const monitoring = buildMonitoringSection();
    app = await startTestApp({
      testEnv,
      registry: buildRegistry({
        agreements: [
          buildAgreement({ monitoring }),
          buildAgreement({ id: 'test-agreement-other', practice: { agb: OTHER_PRACTICE_AGB }, monitoring }),
          buildAgreement({
            id: 'other-municipality',
            practice: { agb: '05555555' },
            municipality: { code: OTHER_MUNICIPALITY, name: 'Lingewaard' },
            monitoring,
          }),
        ],
        destinations: [],
      }),
    });
    // 2026-Q3: six referrals of the practice, seven of the other practice.
    for (const [key, agb, n] of [
      ['practice', PRACTICE_AGB, 6],
      ['otherPractice', OTHER_PRACTICE_AGB, 7],
    ] as const) {
      const events = Array.from({ length: n }, (_, i) => {
        const e = buildReferralEvent({ practice: { agb } });
        const on = `2026-08-${String(10 + i).padStart(2, '0')}T10:00:00+02:00`;
        return { ...e, occurredAt: on, referral: { ...(e.referral as object), authoredOn: on } };
      });
      const res = await app.request('/his/v1/events', { key, json: events });
      expect(res.status).toBe(202);
    }
    await waitFor('events mapped', async () => {
      const done = await app.rt.ctx.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM inbox WHERE state = ANY($1)',
        [[...TERMINAL_STATES]],
      );
      return done[0]?.n === 13 ? true : undefined;
    });
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  const as = (key: string) => ({ key: null, headers: { authorization: `Bearer ${key}` } }) as const;

  it("lets a practice's own auditor read its practice's figures, and no other practice's", async () => {
    for (const query of [
      'period=2026-Q3',
      `period=2026-Q3&practice=${PRACTICE_AGB}`,
      `period=2026-Q3&practice=${PRACTICE_AGB}&municipality=${MUNICIPALITY}`,
    ]) {
      const res = await app.request(`/municipality/v1/monitoring?${query}`, as(keys.practiceAuditor));
      expect([query, res.status]).toEqual([query, 200]);
      const report = (await res.json()) as MeasureReport;
      expect(report.reporter?.identifier?.value).toBe(MUNICIPALITY);
      // The practice's report, never the municipality's: 6 referrals, not 13.
      expect(report.extension).toContainEqual({
        url: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-practice',
        valueString: PRACTICE_AGB,
      });
      const referrals = report.group?.find((g) => g.code?.coding?.[0]?.code === 'referral-target');
      expect(referrals?.population?.[0]?.count).toBe(6);
    }
    const csv = await app.request('/municipality/v1/monitoring?period=2026-Q3&_format=csv', as(keys.practiceAuditor));
    expect(csv.status).toBe(200);
    const chart = await app.request(
      '/municipality/v1/monitoring/chart.svg?period=2026-Q3&group=referral-target',
      as(keys.practiceAuditor),
    );
    expect(chart.status).toBe(200);

    // Another practice of the municipality, or a municipality its practice has no agreement with: 403 naming it.
    for (const [query, field] of [
      [`period=2026-Q3&practice=${OTHER_PRACTICE_AGB}`, 'practice'],
      [`period=2026-Q3&municipality=${OTHER_MUNICIPALITY}`, 'municipality'],
    ] as const) {
      const res = await app.request(`/municipality/v1/monitoring?${query}`, as(keys.practiceAuditor));
      expect([query, res.status]).toEqual([query, 403]);
      const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
      expect(outcome.issue[0]?.expression).toEqual([field]);
    }
    // The attempt at the other practice's figures is in that practice's chain, where its auditors look.
    const [refused] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event
        WHERE tenant = $1 AND outcome = '4' AND $2 = ANY(agents) AND $3 = ANY(agents)`,
      [
        OTHER_PRACTICE_AGB,
        'https://jeugdbrug.nl/principal|api-key:practiceauditor',
        `${MUNICIPALITY_TOKEN}|${MUNICIPALITY}`,
      ],
    );
    expect(refused?.n).toBe(1);
    // The read is in the practice's chain, with the municipality as an agent.
    const [audited] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event
        WHERE tenant = $1 AND outcome = '0' AND resource LIKE '%MeasureReport/%' AND $2 = ANY(agents)`,
      [PRACTICE_AGB, `${MUNICIPALITY_TOKEN}|${MUNICIPALITY}`],
    );
    expect(audited?.n).toBeGreaterThanOrEqual(5);
  });

  /**
   * The refused reads of monitoring figures by `requester` (a key id) an auditor's search finds: the test runtime's
   * auditor (every scope) or one of this file's keys.
   */
  async function refusalsSeenBy(
    key: { readonly named: KeyName } | string,
    requester: string,
    asked = '/municipality/v1/monitoring',
  ): Promise<AuditEvent[]> {
    const res = await app.request(
      '/fhir/AuditEvent?outcome=4&_count=100',
      typeof key === 'string' ? as(key) : { key: key.named },
    );
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as Bundle<AuditEvent>;
    return (bundle.entry ?? [])
      .map((e) => e.resource as AuditEvent)
      .filter((e) => e.agent?.some((a) => a.requestor && a.who?.identifier?.value === `api-key:${requester}`))
      .filter((e) =>
        (e.entity ?? []).some((x) =>
          Buffer.from(x.query ?? '', 'base64')
            .toString('utf8')
            .startsWith(asked),
        ),
      );
  }

  // An auditor of the municipality alone is its own privacy officer: with two ranges a day apart it could single out
  // the one child referred on that day, as the municipality could, so it asks for standard periods as the municipality.
  it("gives an auditor of a municipality alone the municipality's standard periods, a practice's auditor ranges", async () => {
    const range = `from=2026-07-01&to=2026-09-29&municipality=${MUNICIPALITY}`;
    const refused = await app.request(`/municipality/v1/monitoring?${range}`, as(keys.municipalityAuditor));
    expect(refused.status).toBe(422);
    const outcome = (await refused.json()) as { issue: { expression?: string[] }[] };
    expect(outcome.issue[0]?.expression).toEqual(['from']);
    const quarter = `from=2026-07-01&to=2026-09-30&municipality=${MUNICIPALITY}`;
    expect((await app.request(`/municipality/v1/monitoring?${quarter}`, as(keys.municipalityAuditor))).status).toBe(
      200,
    );
    expect((await app.request(`/municipality/v1/monitoring?${range}`, as(keys.practiceAuditor))).status).toBe(200);
  });

  it("shows a municipality's auditor that another municipality tried to read its figures", async () => {
    const res = await app.request(`/municipality/v1/monitoring?period=2026-Q3&municipality=${MUNICIPALITY}`, {
      key: 'otherMunicipality',
    });
    expect(res.status).toBe(403);
    const seen = await refusalsSeenBy(keys.municipalityAuditor, 'othermunicipality');
    expect(seen).toHaveLength(1);
    const [refusal] = seen;
    // Who tried: the key, and the municipality it acts for; and whose figures it asked for.
    const agents = JSON.stringify(refusal?.agent);
    expect(agents).toContain('api-key:othermunicipality');
    expect(agents).toContain(OTHER_MUNICIPALITY);
    expect(agents).toContain(MUNICIPALITY);
    // The requesting municipality's own auditor sees it too, and no one else's refusal is in either search.
    expect(await refusalsSeenBy(keys.otherMunicipalityAuditor, 'othermunicipality')).toHaveLength(1);
    // Nothing of the requester's figures: no report, no practice of it.
    expect(JSON.stringify(refusal)).not.toMatch(/05555555|MeasureReport\/monitoring-GM0344/);
    // Recorded once, not a second time by the generic refusal.
    expect(await refusalsSeenBy({ named: 'auditor' }, 'othermunicipality')).toHaveLength(1);
    // So is the practice auditor's attempt at a municipality its practice has no agreement with (the test above).
    expect(await refusalsSeenBy(keys.otherMunicipalityAuditor, 'practiceauditor')).toHaveLength(1);
    // And its attempt at the other practice's figures is seen by that municipality's auditor, once.
    expect(await refusalsSeenBy(keys.municipalityAuditor, 'practiceauditor')).toHaveLength(1);
  });

  /** The count of the group `referral-target` (the referrals) in a monitoring CSV. */
  const referralsIn = (csv: string) =>
    csv
      .split('\r\n')
      .map((line) => line.split(','))
      .find((f) => f[3] === 'referral-target' && f[4] === '')?.[7];

  // The API gave a practice's privacy officer its practice's figures, but the console had no page for them: its
  // report page was the municipality's alone (/console/auditor/report was a 404).
  it("gives a practice's own auditor and operator the console's report of their practice, and nothing else", async () => {
    const municipalityCsv = await (
      await app.request('/municipality/v1/monitoring?period=2026-Q3&_format=csv', { key: 'municipality' })
    ).text();
    expect(referralsIn(municipalityCsv)).toBe('13');
    for (const [key, base] of [
      [keys.practiceAuditor, '/console/auditor/report'],
      [keys.practiceOperator, '/console/operator/report'],
    ] as const) {
      const console = await openConsole(app, { credential: key });
      const res = await console.get(`${base}?period=2026-Q3`);
      expect([base, res.status]).toEqual([base, 200]);
      const text = await res.text();
      // Its practice's report, named as such; no choice of the whole municipality nor of another practice.
      expect(text).toContain(`Praktijk: ${PRACTICE_AGB}`);
      expect(text).toContain('Gemeente: Overbetuwe (GM0226)');
      expect(text).not.toContain('Alle praktijken');
      expect(text).not.toContain(OTHER_PRACTICE_AGB);
      expect(text).toContain(`${base}/report.csv?period=2026-Q3`);
      // Its CSV is the API's for the same key: 6 referrals, not the municipality's 13.
      const csv = await console.get(`${base}/report.csv?period=2026-Q3`);
      expect(csv.status).toBe(200);
      const csvText = await csv.text();
      expect(referralsIn(csvText)).toBe('6');
      const api = await app.request('/municipality/v1/monitoring?period=2026-Q3&_format=csv', as(key));
      expect(csvText).toBe(await api.text());

      // Another practice, a municipality its practice has no agreement with: refused, in its page and its CSV.
      for (const query of [`practice=${OTHER_PRACTICE_AGB}`, `municipality=${OTHER_MUNICIPALITY}`]) {
        for (const path of [base, `${base}/report.csv`]) {
          const refused = await console.get(`${path}?period=2026-Q3&${query}`);
          expect([path, query, refused.status]).toEqual([path, query, 403]);
          const body = await refused.text();
          expect(body).not.toContain('section class="measure');
          expect(body).not.toMatch(/^period_start/);
        }
      }
    }
  });

  it("records the console's refused reads as the API's: in the other practice's chain and the municipality's", async () => {
    /** Refused reads in `tenant`'s chain by all of `agents`, made from a console page. */
    const count = async (tenant: string, agents: string[]) =>
      (
        await app.rt.ctx.db.query<{ resource: string }>(
          `SELECT resource FROM audit_event WHERE tenant = $1 AND outcome = '4' AND agents @> $2::text[]`,
          [tenant, agents],
        )
      ).filter(({ resource }) =>
        ((JSON.parse(resource) as AuditEvent).entity ?? []).some((x) =>
          Buffer.from(x.query ?? '', 'base64')
            .toString('utf8')
            .startsWith('/console/'),
        ),
      ).length;
    const principal = (id: string) => `https://jeugdbrug.nl/principal|api-key:${id}`;
    // Page and CSV, for each of the two keys: four attempts at the other practice's figures, once each.
    for (const id of ['practiceauditor', 'practiceoperator']) {
      expect(await count(OTHER_PRACTICE_AGB, [principal(id), `${MUNICIPALITY_TOKEN}|${MUNICIPALITY}`])).toBe(2);
    }
    // The attempts at another municipality's figures are seen by that municipality's auditor.
    const seen = await refusalsSeenBy(keys.otherMunicipalityAuditor, 'practiceoperator', '/console/operator/report');
    expect(seen).toHaveLength(2);
  });
});
