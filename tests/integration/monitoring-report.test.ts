import type { Measure, MeasureReport, MeasureReportGroup } from '@medplum/fhirtypes';
import pg from 'pg';
import { buildRegistry } from '../../src/event/registry';
import { isValidBsn } from '../../src/kernel/fhir/identifiers';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import { assertValidResource } from '../../src/kernel/fhir/validation';
import { TERMINAL_STATES } from '../../src/event/states';
import { buildAgreement, MUNICIPALITY, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { tryToDeriveWithheldCells } from '../helpers/suppression-check';
import { syntheticPractice, type SyntheticTrajectory } from '../helpers/synthetic-practice';
import { createApiKeyEntry, readApiKeyFile, writeApiKeyFile } from '../../src/access/api-keys';
import { cleanupTestEnv, createTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The monitoring report end to end: a seeded synthetic practice (two practices, a few hundred trajectories) goes in
 * through the real HIS API in all three dialects; every figure of the MeasureReport is checked against counts this
 * test makes itself from the same seed, and the CSV and the chart against the MeasureReport.
 */

const K = 5;
/** A practice whose agreement with the municipality ended in 2025. */
const ENDED_PRACTICE_AGB = '05555555';
const Q = 9500;
const COST_PER_YEAR = 72_000;
const CHILD_NAMES = { given: 'Zwanetta', family: 'Oudewater-Kleinsma' };
const REASON_TEXT = 'Zorgen over slapen en boosheid thuis';
const ICPC = 'P22';

const TRAJECTORIES = syntheticPractice({
  seed: 15,
  count: 300,
  practices: [PRACTICE_AGB, OTHER_PRACTICE_AGB],
  from: '2025-12-01',
  to: '2026-09-25',
  until: '2026-11-30',
});

const monitoring = {
  aggregateWithoutConsent: true,
  q: Q,
  professionalCost: { amount: COST_PER_YEAR, per: 'year' as const },
  k: K,
};

// ---------------------------------------------------------------------------------------------------------------
// Events of each dialect

const DIALECTS = ['generic-json', 'fhir-bundle', 'csv'] as const;
type Dialect = (typeof DIALECTS)[number];
const dialectOf = (t: SyntheticTrajectory): Dialect => DIALECTS[t.n % 3] ?? 'generic-json';
const at = (date: string) => `${date}T10:00:00+01:00`;

function jsonContact(t: SyntheticTrajectory, i: number): Record<string, unknown> {
  const c = t.contacts[i];
  const closes = t.closure && i === t.contacts.length - 1;
  const referrer =
    t.referrer &&
    ('subtype' in t.referrer ? { referrerSubtype: t.referrer.subtype } : { referrerType: t.referrer.cod327 });
  return {
    eventId: `evt-${t.n}-${i}`,
    eventType: 'contact.recorded',
    occurredAt: at(c?.date ?? t.startDate),
    practice: { agb: t.practice },
    professional: { agb: '01999999', role: 'poh-jeugd', name: 'M. Bakker' },
    child: {
      id: t.childId,
      bsn: t.bsn,
      birthDate: t.birthDate,
      municipality: MUNICIPALITY,
      name: { given: [CHILD_NAMES.given], family: CHILD_NAMES.family },
    },
    guardians: [{ id: 'g1', relationship: 'mother', hasAuthority: true }],
    trajectory: {
      id: t.id,
      startDate: t.startDate,
      icpc: ICPC,
      helpQuestion: t.helpQuestions[0],
      ...(t.helpQuestions.length > 1 ? { moreHelpQuestions: t.helpQuestions.slice(1) } : {}),
      ...referrer,
      ...(closes && t.closure ? { closedOn: t.closure.on, outcome: t.closure.outcome } : {}),
    },
    contact: { id: c?.id, start: at(c?.date ?? ''), durationMinutes: 30, mode: '1', interventions: c?.interventions },
  };
}

function bundleContact(t: SyntheticTrajectory, i: number): Record<string, unknown> {
  const c = t.contacts[i];
  const closes = t.closure && i === t.contacts.length - 1;
  const coding = (system: string, code: string) => ({ coding: [{ system, code }] });
  const ext: Record<string, unknown>[] = [];
  if (t.referrer && 'subtype' in t.referrer) {
    ext.push({
      url: 'https://jeugdbrug.nl/fhir/StructureDefinition/referrer-subtype',
      valueCoding: { system: 'https://jeugdbrug.nl/fhir/CodeSystem/referrer-subtype', code: t.referrer.subtype },
    });
  } else if (t.referrer) {
    ext.push({
      url: 'https://jeugdbrug.nl/fhir/StructureDefinition/referrer-type',
      valueCoding: { system: 'http://istandaarden.nl/ibieb/codelijsten/COD327', code: t.referrer.cod327 },
    });
  }
  if (closes && t.closure) {
    ext.push({
      url: 'https://jeugdbrug.nl/fhir/StructureDefinition/trajectory-outcome',
      valueCoding: { system: 'https://jeugdbrug.nl/fhir/CodeSystem/trajectory-outcome', code: t.closure.outcome },
    });
  }
  const entry = (resource: Record<string, unknown>) => ({
    fullUrl: `https://his.example.nl/fhir/${String(resource.resourceType)}/${String(resource.id)}`,
    resource,
  });
  return {
    resourceType: 'Bundle',
    type: 'collection',
    identifier: { system: 'urn:oid:2.16.840.1.113883.2.4.3.11.999.1', value: `evt-${t.n}-${i}` },
    timestamp: at(c?.date ?? t.startDate),
    entry: [
      entry({
        resourceType: 'Organization',
        id: 'org-1',
        identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/agb-z', value: t.practice }],
      }),
      entry({
        resourceType: 'Patient',
        id: t.childId,
        identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: t.bsn }],
        name: [{ given: [CHILD_NAMES.given], family: CHILD_NAMES.family }],
        birthDate: t.birthDate,
        address: [
          {
            extension: [
              {
                url: 'https://jeugdbrug.nl/fhir/StructureDefinition/municipality',
                valueIdentifier: {
                  system: 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode',
                  value: MUNICIPALITY,
                },
              },
            ],
          },
        ],
      }),
      entry({
        resourceType: 'EpisodeOfCare',
        id: t.id,
        ...(ext.length ? { extension: ext } : {}),
        status: closes ? 'finished' : 'active',
        type: t.helpQuestions.map((h) => coding('https://jeugdbrug.nl/fhir/CodeSystem/help-question-category', h)),
        patient: { reference: `Patient/${t.childId}` },
        period: { start: t.startDate, ...(closes && t.closure ? { end: t.closure.on } : {}) },
      }),
      entry({
        resourceType: 'Encounter',
        id: c?.id,
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        type: [
          coding('https://referentiemodel.nhg.org/tabellen/nhg-tabel-14-contactwijze', '1'),
          ...(c?.interventions ?? []).map((x) => coding('https://jeugdbrug.nl/fhir/CodeSystem/intervention', x)),
        ],
        subject: { reference: `Patient/${t.childId}` },
        episodeOfCare: [{ reference: `EpisodeOfCare/${t.id}` }],
        period: { start: at(c?.date ?? '') },
        length: { value: 30, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
        reasonCode: [coding('http://hl7.org/fhir/sid/icpc-1-nl', ICPC)],
      }),
    ],
  };
}

const CSV_HEADER =
  'practice_agb,professional_role,child_id,bsn,birth_date,municipality,child_given_name,child_family_name,' +
  'trajectory_id,trajectory_start,icpc,help_question,referrer_type,referrer_subtype,contact_id,contact_start,' +
  'contact_mode,duration_min,interventions,outcome,closed_on';

function csvRow(t: SyntheticTrajectory, i: number): string {
  const c = t.contacts[i];
  const closes = t.closure && i === t.contacts.length - 1;
  return [
    t.practice,
    'poh-jeugd',
    t.childId,
    t.bsn,
    t.birthDate,
    MUNICIPALITY,
    CHILD_NAMES.given,
    CHILD_NAMES.family,
    t.id,
    t.startDate,
    ICPC,
    t.helpQuestions.join('|'),
    t.referrer && 'cod327' in t.referrer ? t.referrer.cod327 : '',
    t.referrer && 'subtype' in t.referrer ? t.referrer.subtype : '',
    c?.id,
    at(c?.date ?? ''),
    '1',
    '30',
    (c?.interventions ?? []).join('|'),
    closes && t.closure ? t.closure.outcome : '',
    closes && t.closure ? t.closure.on : '',
  ].join(',');
}

/** The JZ020 product category of a trajectory's referral: youth mental health care (54) to ggz, else ambulant (45). */
const productCategoryOf = (t: SyntheticTrajectory): string => (t.referral?.target === 'ggz' ? '54' : '45');

function referralEvent(t: SyntheticTrajectory): Record<string, unknown> {
  const base = jsonContact(t, 0);
  const r = t.referral;
  return {
    ...base,
    eventId: `evt-ref-${t.n}`,
    eventType: 'referral.created',
    occurredAt: at(r?.on ?? ''),
    trajectory: undefined,
    contact: undefined,
    referral: {
      id: r?.id,
      target: r?.target,
      productCategory: productCategoryOf(t),
      referrerType: '02',
      authoredOn: at(r?.on ?? ''),
      reasonText: REASON_TEXT,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Counting on our own, from the same synthetic practice

interface Period {
  readonly start: string;
  readonly end: string;
}
const within = (d: string | undefined, p: Period) => d !== undefined && d >= p.start && d <= p.end;

function ageOn(birthDate: string, day: string): number {
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number, number];
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}
function band(age: number): string {
  return age <= 3 ? '0-3' : age <= 11 ? '4-11' : age <= 15 ? '12-15' : age <= 17 ? '16-17' : '18+';
}
const GENERIC_SUBTYPE: Record<string, string> = { '02': 'gp', '03': 'youth-doctor', '06': 'self' };

/** The usual median of sorted numbers: the middle one, or the mean of the two middle ones. */
function median(sorted: readonly number[]): number | undefined {
  const n = sorted.length;
  if (n === 0) {
    return undefined;
  }
  const [a, b] = [sorted[Math.ceil(n / 2) - 1] ?? 0, sorted[Math.floor(n / 2)] ?? 0];
  return (a + b) / 2;
}

/** The report's bin of a number of contacts (1-3, 4-5, 6-8, 9-10, 11+). */
function binOf(n: number): string {
  return n <= 3 ? '1-3' : n <= 5 ? '4-5' : n <= 8 ? '6-8' : n <= 10 ? '9-10' : '11+';
}

function tally(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  items.forEach((i) => m.set(i, (m.get(i) ?? 0) + 1));
  return m;
}

interface Expected {
  readonly totals: Record<string, number>;
  readonly strata: Record<string, Map<string, number>>;
  readonly contactsMean: number | undefined;
  readonly contactsMedian: number | undefined;
  readonly contactHours: number;
  readonly firstContactMedian: number | undefined;
  readonly firstContactN: number;
  readonly p: number;
  readonly cost: number;
}

function expectedOf(p: Period, practice?: string): Expected {
  const ts = TRAJECTORIES.filter((t) => !practice || t.practice === practice);
  const started = ts.filter((t) => within(t.startDate, p));
  const closed = ts.filter((t) => within(t.closure?.on, p));
  const withContacts = closed.filter((t) => t.contacts.length > 0);
  const active = ts.filter((t) => t.startDate <= p.end && (!t.closure || t.closure.on >= p.start));
  const referrals = ts.filter((t) => within(t.referral?.on, p));
  const waits = started
    .filter((t) => t.contacts.length > 0)
    .map((t) => (Date.parse(t.contacts[0]?.date ?? '') - Date.parse(t.startDate)) / 86_400_000)
    .sort((a, b) => a - b);
  // A period that has not ended costs the days up to today (Amsterdam calendar), today included.
  const contactsHeld = ts.flatMap((t) => t.contacts).filter((c) => within(c.date, p));
  const counts = withContacts.map((t) => t.contacts.length).sort((a, b) => a - b);
  const today = amsterdamDay(new Date());
  const days = (Date.parse(p.end < today ? p.end : today) - Date.parse(p.start)) / 86_400_000 + 1;
  const agreements = practice ? 1 : 2;
  return {
    totals: {
      inflow: started.length,
      closed: closed.length,
      // Every trajectory of the seed has a consent that covers monitoring (aggregateWithoutConsent, too).
      'not-counted': 0,
      'contacts-per-trajectory': withContacts.length,
      'contact-time': contactsHeld.length,
      'help-question': active.length,
      intervention: active.length,
      children: new Set(active.map((t) => `${t.practice}/${t.childId}`)).size,
      'referral-target': referrals.length,
    },
    strata: {
      'age-band': tally(started.map((t) => band(ageOn(t.birthDate, t.startDate)))),
      referrer: tally(
        started.map((t) =>
          !t.referrer
            ? 'unknown'
            : 'subtype' in t.referrer
              ? t.referrer.subtype
              : (GENERIC_SUBTYPE[t.referrer.cod327] ?? ''),
        ),
      ),
      outcome: tally(closed.map((t) => t.closure?.outcome ?? '')),
      contacts: tally(withContacts.map((t) => binOf(t.contacts.length))),
      // Every contact of the seed is sent with 30 minutes.
      duration: tally(contactsHeld.map(() => 'with-duration')),
      'help-question': tally(active.flatMap((t) => t.helpQuestions)),
      intervention: tally(active.flatMap((t) => [...new Set(t.contacts.flatMap((c) => c.interventions))])),
      'referral-target': tally(referrals.map((t) => t.referral?.target ?? '')),
      'product-category': tally(referrals.map(productCategoryOf)),
    },
    contactsMean: withContacts.length
      ? Math.round((withContacts.reduce((a, t) => a + t.contacts.length, 0) / withContacts.length) * 100) / 100
      : undefined,
    contactsMedian: median(counts),
    contactHours: Math.round((contactsHeld.length * 30) / 60),
    firstContactMedian: median(waits),
    firstContactN: waits.length,
    p: closed.filter((t) => t.closure?.outcome === 'closed-without-referral').length,
    cost: Math.round(((agreements * COST_PER_YEAR * days) / 365.25) * 100) / 100,
  };
}

// ---------------------------------------------------------------------------------------------------------------

function groupOf(report: MeasureReport, code: string): MeasureReportGroup {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  if (!g) {
    throw new Error(`no group ${code}`);
  }
  return g;
}

/**
 * Each shown count equals ours; each withheld one is non-zero (small, or withheld to protect a small one), except
 * beside a withheld total, where every stratum is withheld.
 */
function expectCountsMatch(report: MeasureReport, expected: Expected): { shown: number; withheld: number } {
  let shown = 0;
  let withheld = 0;
  for (const [code, total] of Object.entries(expected.totals)) {
    const g = groupOf(report, code);
    const count = g.population?.[0]?.count;
    if (count === undefined) {
      expect(total).toBeGreaterThan(0);
      withheld++;
    } else {
      expect([code, count]).toEqual([code, total]);
      shown++;
    }
    for (const s of g.stratifier ?? []) {
      const stratifier = s.code?.[0]?.coding?.[0]?.code ?? '';
      const ours = expected.strata[stratifier] ?? new Map<string, number>();
      for (const st of s.stratum ?? []) {
        const cat = st.value?.coding?.[0]?.code ?? '';
        const n = st.population?.[0]?.count;
        if (count === undefined) {
          // Beside a withheld total every stratum is withheld, zeros too (a zero would say what all have in common).
          expect([stratifier, cat, n]).toEqual([stratifier, cat, undefined]);
          withheld++;
        } else if (n === undefined) {
          expect([stratifier, cat, (ours.get(cat) ?? 0) > 0]).toEqual([stratifier, cat, true]);
          withheld++;
        } else {
          expect([stratifier, cat, n]).toEqual([stratifier, cat, ours.get(cat) ?? 0]);
          shown++;
        }
      }
      // Every category we counted is one the report lists.
      for (const cat of ours.keys()) {
        expect((s.stratum ?? []).map((st) => st.value?.coding?.[0]?.code)).toContain(cat);
      }
    }
  }
  return { shown, withheld };
}

function csvCells(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += ch ?? '';
    }
  }
  out.push(cur);
  return out;
}

describe('the municipality monitoring report', () => {
  let app: TestApp;
  let client: pg.Client;
  let practiceAuditorKey = '';

  beforeAll(async () => {
    const registry = buildRegistry({
      agreements: [
        buildAgreement({ monitoring }),
        buildAgreement({ id: 'test-agreement-other', practice: { agb: OTHER_PRACTICE_AGB }, monitoring }),
        // A practice whose agreement ended before the seeded trajectories: nothing of 2026 is its, nor costs.
        buildAgreement({
          id: 'test-agreement-ended',
          practice: { agb: ENDED_PRACTICE_AGB },
          validTo: '2025-06-30',
          monitoring,
        }),
      ],
      destinations: [],
    });
    // An auditor for one practice (its privacy officer): no municipality in scope.
    const testEnv = createTestEnv();
    const created = createApiKeyEntry(
      { role: 'auditor', practices: [PRACTICE_AGB], id: 'practice-auditor' },
      readApiKeyFile(testEnv.apiKeysFile),
    );
    writeApiKeyFile(testEnv.apiKeysFile, created.entries);
    practiceAuditorKey = created.key;
    app = await startTestApp({ registry, testEnv });
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`SET search_path TO ${app.testEnv.schema}`);

    for (const practice of [PRACTICE_AGB, OTHER_PRACTICE_AGB]) {
      const key = practice === PRACTICE_AGB ? 'practice' : 'otherPractice';
      const ts = TRAJECTORIES.filter((t) => t.practice === practice);
      const json = ts
        .filter((t) => dialectOf(t) === 'generic-json')
        .flatMap((t) => t.contacts.map((_, i) => jsonContact(t, i)));
      const bundles = ts
        .filter((t) => dialectOf(t) === 'fhir-bundle')
        .flatMap((t) => t.contacts.map((_, i) => bundleContact(t, i)));
      const rows = ts.filter((t) => dialectOf(t) === 'csv').flatMap((t) => t.contacts.map((_, i) => csvRow(t, i)));
      const referrals = ts.filter((t) => t.referral).map(referralEvent);
      const posts: { body: string; type: string }[] = [];
      for (let i = 0; i < json.length; i += 150) {
        posts.push({ body: JSON.stringify(json.slice(i, i + 150)), type: 'application/json' });
      }
      for (let i = 0; i < bundles.length; i += 100) {
        posts.push({ body: JSON.stringify(bundles.slice(i, i + 100)), type: 'application/fhir+json' });
      }
      for (let i = 0; i < rows.length; i += 200) {
        posts.push({ body: [CSV_HEADER, ...rows.slice(i, i + 200)].join('\n'), type: 'text/csv' });
      }
      posts.push({ body: JSON.stringify(referrals), type: 'application/json' });
      for (const post of posts) {
        const res = await app.request('/his/v1/events', {
          key,
          method: 'POST',
          body: post.body,
          headers: { 'content-type': post.type },
        });
        const body = (await res.json()) as { receipts?: { status: string; outcome?: unknown }[] };
        expect([res.status, body.receipts?.filter((r) => r.status !== 'accepted')]).toEqual([202, []]);
      }
    }
    const total = TRAJECTORIES.reduce((a, t) => a + t.contacts.length + (t.referral ? 1 : 0), 0);
    await waitFor(
      'every event mapped',
      async () => {
        const rows = await client.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE state = ANY($1)`, [
          [...TERMINAL_STATES],
        ]);
        return Number(rows.rows[0]?.n) === total ? true : undefined;
      },
      240_000,
    );
  }, 300_000);

  afterAll(async () => {
    await client?.end();
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  const report = async (query: string, key: 'municipality' | 'auditor' | 'operator' = 'municipality') => {
    const res = await app.request(`/municipality/v1/monitoring?${query}`, { key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    return (await res.json()) as MeasureReport;
  };

  it.each([
    ['period=2026-Q3', { start: '2026-07-01', end: '2026-09-30' }, undefined],
    ['period=2026-Q1', { start: '2026-01-01', end: '2026-03-31' }, undefined],
    ['period=2026-H1', { start: '2026-01-01', end: '2026-06-30' }, undefined],
    ['period=2026', { start: '2026-01-01', end: '2026-12-31' }, undefined],
    // A range that is no standard period: an operator's (a municipality key asks for standard ones).
    [
      `from=2026-02-10&to=2026-05-20&municipality=${MUNICIPALITY}`,
      { start: '2026-02-10', end: '2026-05-20' },
      undefined,
    ],
    [`period=2026-Q2&practice=${OTHER_PRACTICE_AGB}`, { start: '2026-04-01', end: '2026-06-30' }, OTHER_PRACTICE_AGB],
  ])('%s: every figure as counted from the seed, valid FHIR, nothing derivable', async (query, period, practice) => {
    const r = await report(query, query.startsWith('from=') ? 'operator' : 'municipality');
    expect(() => assertValidResource(r)).not.toThrow();
    expect(r).toMatchObject({
      // A period that has not ended (2026, while it runs) is pending: its figures still grow.
      status: period.end < amsterdamDay(new Date()) ? 'complete' : 'pending',
      type: 'summary',
      period,
      measure: 'https://jeugdbrug.nl/fhir/Measure/poh-jeugd-monitoring',
    });
    expect(r.reporter?.identifier?.value).toBe(MUNICIPALITY);
    const expected = expectedOf(period, practice);
    const { shown } = expectCountsMatch(r, expected);
    expect(shown).toBeGreaterThan(20);
    tryToDeriveWithheldCells(r, K);

    const contacts = groupOf(r, 'contacts-per-trajectory');
    // The mean is shown only with its total and every bin: with a bin withheld it could tell the withheld apart.
    const binWithheld = (contacts.stratifier?.[0]?.stratum ?? []).some((st) => st.population?.[0]?.count === undefined);
    if (contacts.population?.[0]?.count !== undefined && !binWithheld) {
      expect(contacts.measureScore?.value).toBe(expected.contactsMean);
    } else {
      expect(contacts.measureScore).toBeUndefined();
    }
    // The median is shown beside withheld bins too, where it narrows none of them to one value.
    const median = groupOf(r, 'contacts-median');
    if (median.measureScore) {
      expect(contacts.population?.[0]?.count).toBeDefined();
      expect(median.measureScore.value).toBe(expected.contactsMedian);
    }
    const time = groupOf(r, 'contact-time');
    if (time.population?.[0]?.count !== undefined && time.population[0].count > 0) {
      expect(time.measureScore).toMatchObject({ value: expected.contactHours, code: 'h' });
    } else {
      expect(time.measureScore).toBeUndefined();
    }
    const waiting = groupOf(r, 'waiting-days');
    const firstWait = waiting.stratifier?.[0]?.stratum?.[0];
    if (firstWait?.population?.[0]?.count !== undefined) {
      expect(firstWait.population[0].count).toBe(expected.firstContactN);
      expect(waiting.measureScore?.value).toBe(expected.firstContactMedian);
    }
    const saving = groupOf(r, 'estimated-saving');
    expect(saving.extension?.find((e) => e.url.endsWith('monitoring-professional-cost'))?.valueMoney?.value).toBe(
      expected.cost,
    );
    if (saving.population?.[0]?.count !== undefined) {
      expect(saving.population[0].count).toBe(expected.p);
      expect(saving.measureScore?.value).toBe(Math.round((expected.p * Q - expected.cost) * 100) / 100);
    }
  });

  it('withholds some cells in a quarter and shows the rest (the test data has small cells to protect)', async () => {
    const r = await report('period=2026-Q3');
    expect(tryToDeriveWithheldCells(r, K).withheld).toBeGreaterThan(0);
  });

  it('gives the same numbers as CSV (Accept or _format) and as an SVG chart per group', async () => {
    const r = await report('period=2026');
    const byAccept = await app.request('/municipality/v1/monitoring?period=2026', {
      key: 'municipality',
      headers: { accept: 'text/csv' },
    });
    const byFormat = await app.request('/municipality/v1/monitoring?period=2026&_format=csv', { key: 'municipality' });
    expect(byAccept.headers.get('content-type')).toContain('text/csv');
    const csv = await byAccept.text();
    expect(await byFormat.text()).toBe(csv);
    const lines = csv.trim().split('\r\n').map(csvCells);
    const header = lines[0] ?? [];
    const col = (name: string) => header.indexOf(name);
    let strata = 0;
    for (const g of r.group ?? []) {
      const group = g.code?.coding?.[0]?.code ?? '';
      for (const s of g.stratifier ?? []) {
        const stratifier = s.code?.[0]?.coding?.[0]?.code ?? '';
        for (const st of s.stratum ?? []) {
          const code = st.value?.coding?.[0]?.code ?? '';
          const line = lines.find(
            (l) => l[col('group')] === group && l[col('stratifier')] === stratifier && l[col('code')] === code,
          );
          const count = st.population?.[0]?.count;
          expect([group, code, line?.[col('count')], line?.[col('withheld')]]).toEqual([
            group,
            code,
            count === undefined ? '' : String(count),
            count === undefined ? 'true' : 'false',
          ]);
          strata++;
        }
        const chart = await app.request(
          `/municipality/v1/monitoring/chart.svg?period=2026&group=${encodeURIComponent(stratifier)}`,
          { key: 'municipality' },
        );
        expect(chart.headers.get('content-type')).toContain('image/svg+xml');
        const svg = await chart.text();
        for (const st of s.stratum ?? []) {
          const code = st.value?.coding?.[0]?.code ?? '';
          const count = st.population?.[0]?.count;
          expect(svg).toContain(
            count === undefined
              ? `data-code="${code}" data-withheld="true"`
              : `data-code="${code}" data-count="${count}"`,
          );
        }
      }
    }
    expect(strata).toBeGreaterThan(40);
    const outcome = await app.request('/municipality/v1/monitoring/chart.svg?period=2026&group=outcome', {
      key: 'municipality',
    });
    expect(outcome.status).toBe(200);
    expect(await outcome.text()).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  it('writes CSV for a Dutch spreadsheet on request (delimiter=semicolon, bom=true), the default unchanged', async () => {
    const url = '/municipality/v1/monitoring?period=2026&_format=csv';
    const plain = await (await app.request(url, { key: 'municipality' })).text();
    const dutch = await app.request(`${url}&delimiter=semicolon&bom=true`, { key: 'municipality' });
    expect(dutch.status).toBe(200);
    expect(dutch.headers.get('content-type')).toContain('text/csv');
    const bytes = Buffer.from(await dutch.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text.split('\r\n')[0]).toBe(plain.split('\r\n')[0]?.replaceAll(',', ';'));
    expect(text.split('\r\n')).toHaveLength(plain.split('\r\n').length);
    expect(plain.charCodeAt(0)).not.toBe(0xfeff);
    const bad = await app.request(`${url}&delimiter=tab`, { key: 'municipality' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('delimiter');
  });

  it('writes the CSV display column in English with lang=en, as the chart (report-xpolicy L3)', async () => {
    const url = '/municipality/v1/monitoring?period=2026-Q3&_format=csv';
    const nl = await (await app.request(url, { key: 'municipality' })).text();
    const res = await app.request(`${url}&lang=en`, { key: 'municipality' });
    expect(res.status).toBe(200);
    const en = await res.text();
    const column = (csv: string, i: number) =>
      csv
        .trim()
        .split('\r\n')
        .map((l) => l.split(',')[i]);
    expect(column(en, 5)).toEqual(column(nl, 5));
    expect(en).toContain(',age-band,4-11,4-11 years,');
    expect(en).not.toMatch(/jaar|Instroom/);
    expect(nl).toContain(',age-band,4-11,4-11 jaar,');
  });

  it('draws the chart in one language, Dutch unless lang=en', async () => {
    const chart = async (query: string) =>
      (
        await app.request(`/municipality/v1/monitoring/chart.svg?period=2026-Q3&${query}`, { key: 'municipality' })
      ).text();
    const nl = await chart('group=age-band');
    expect(await chart('group=age-band&lang=nl')).toBe(nl);
    expect(nl).toContain('Instroom nieuwe trajecten: Leeftijdsgroep');
    expect(nl).toContain('afgeschermd');
    expect(nl).not.toMatch(/withheld<|\(age-band\)/);
    const en = await chart('group=age-band&lang=en');
    expect(en).toContain('New trajectories: Age band');
    expect(en).toContain('withheld');
    expect(en).not.toMatch(/Instroom|Leeftijdsgroep|afgeschermd|jaar/);
    const bad = await app.request('/municipality/v1/monitoring/chart.svg?period=2026-Q3&lang=de', {
      key: 'municipality',
    });
    expect(bad.status).toBe(400);
  });

  it('keeps BSNs, names, free text, ICPC codes and source ids out of the reporting tables and every report', async () => {
    const tables = await client.query(
      `SELECT json_agg(t) AS rows FROM (SELECT * FROM report_trajectory) t
       UNION ALL SELECT json_agg(c) FROM (SELECT * FROM report_contact) c
       UNION ALL SELECT json_agg(r) FROM (SELECT * FROM report_referral) r`,
    );
    const stored = JSON.stringify(tables.rows);
    expect(stored).toContain('closed-without-referral');
    const csv = await (
      await app.request('/municipality/v1/monitoring?period=2026&_format=csv', { key: 'municipality' })
    ).text();
    const svg = await (
      await app.request('/municipality/v1/monitoring/chart.svg?period=2026&group=referrer', { key: 'municipality' })
    ).text();
    const json = JSON.stringify(await report('period=2026'));
    for (const [what, text] of [
      ['reporting tables', stored],
      ['MeasureReport', json],
      ['CSV', csv],
      ['SVG', svg],
    ] as const) {
      const bsnLike = [...text.matchAll(/(?<![\d.])\d{9}(?![\d.])/g)].map((m) => m[0]).filter(isValidBsn);
      expect([what, bsnLike]).toEqual([what, []]);
      expect([what, TRAJECTORIES.filter((t) => text.includes(t.bsn)).length]).toEqual([what, 0]);
      for (const word of [
        CHILD_NAMES.given,
        CHILD_NAMES.family,
        'Bakker',
        REASON_TEXT,
        ICPC,
        'traj-',
        'con-',
        'pat-',
        'ref-',
        'evt-',
      ]) {
        expect([what, word, text.includes(word)]).toEqual([what, word, false]);
      }
    }
    // Every child appears once per municipality, under a pseudonym no BSN of ours hashes to without the key.
    const children = await client.query<{ n: string }>(
      'SELECT count(DISTINCT child_pseudonym) AS n FROM report_trajectory',
    );
    expect(Number(children.rows[0]?.n)).toBe(new Set(TRAJECTORIES.map((t) => t.bsn)).size);
  });

  it('audits every report request: who, which municipality, which period and practice', async () => {
    const res = await app.request(
      `/municipality/v1/monitoring?period=2026-Q2&practice=${PRACTICE_AGB}&municipality=${MUNICIPALITY}`,
      {
        key: 'auditor',
      },
    );
    expect(res.status).toBe(200);
    const rows = await client.query<{
      tenant: string;
      agents: string[];
      resource: { entity: { query?: string; what?: { reference?: string } }[] };
    }>(
      `SELECT tenant, agents, resource::json AS resource FROM audit_event WHERE resource LIKE '%MeasureReport/%' ORDER BY recorded`,
    );
    const queries = rows.rows.map((r) => ({
      tenant: r.tenant,
      agents: r.agents,
      query: Buffer.from(r.resource.entity.find((e) => e.query)?.query ?? '', 'base64').toString('utf8'),
    }));
    const auditorRead = queries.find(
      (q) => q.query.includes('municipality=GM0226') && q.agents.some((a) => a.includes('auditor')),
    );
    expect(auditorRead).toMatchObject({ tenant: PRACTICE_AGB });
    expect(auditorRead?.query).toContain('period=2026-Q2');
    expect(auditorRead?.agents).toContain(`https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`);
    // One AuditEvent per report served, CSV and charts included.
    expect(queries.filter((q) => q.query.includes('/monitoring')).length).toBeGreaterThan(10);
  });

  it('serves the Measure, valid FHIR, with one group per figure', async () => {
    const res = await app.request('/fhir/Measure/poh-jeugd-monitoring', { key: 'municipality' });
    const measure = (await res.json()) as Measure;
    expect(() => assertValidResource(measure)).not.toThrow();
    expect(measure.group?.map((g) => g.code?.coding?.[0]?.code)).toEqual([
      'inflow',
      'not-counted',
      'closed',
      'contacts-per-trajectory',
      'contacts-median',
      'contact-time',
      'help-question',
      'intervention',
      'children',
      'referral-target',
      'waiting-days',
      'estimated-saving',
    ]);
    // Version 2: the contacts bins follow the reports' norms, and the figures above are new.
    expect(measure.version).toBe('2');
  });

  // A query in the wrong form is malformed (400); well-formed values that break a rule together are 422.
  it.each([
    ['no period', '', 400, ['period'], 'give period'],
    ['a bad period', 'period=2026-Q5', 400, ['period'], '2026-Q3'],
    ['a reversed range', 'from=2026-05-01&to=2026-04-01', 422, ['to'], 'before from'],
    ['a bad practice', 'period=2026&practice=12', 400, ['practice'], 'AGB'],
    ['a from that is no date', 'from=2026-02-30&to=2026-03-31', 400, ['from'], 'not a date'],
    ['a to that is no date', 'from=2026-02-01&to=2026-13-01', 400, ['to'], 'not a date'],
    ['a from without a to', 'from=2026-02-01', 400, ['to'], 'both from and to'],
    ['a period and dates', 'period=2026-Q1&from=2026-01-01&to=2026-03-31', 400, ['period', 'from', 'to'], 'not both'],
    ['a period and one date', 'period=2026-Q1&to=2026-03-31', 400, ['period', 'to'], 'not both'],
    ['a parameter given twice', 'period=2026-Q1&period=2026-Q2', 400, ['period'], 'period may be given once'],
    ['a format it cannot produce', 'period=2026&_format=xml', 406, ['_format'], 'application/fhir+json'],
    ['a parameter it does not know', 'period=2026&foo=1', 400, ['foo'], 'unknown'],
    // report-xpolicy L3: taken and ignored before; the MeasureReport's displays are the code tables' own.
    ['lang with the MeasureReport', 'period=2026&lang=en', 400, ['lang'], 'the chart and the CSV only'],
  ])('refuses %s naming the field', async (_name, query, status, fields, text) => {
    const res = await app.request(`/municipality/v1/monitoring?${query}`, { key: 'municipality' });
    expect(res.status).toBe(status);
    const outcome = (await res.json()) as {
      resourceType: string;
      issue: { expression?: string[]; details?: { text?: string } }[];
    };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue).toHaveLength(1);
    expect(outcome.issue[0]?.expression).toEqual(fields);
    expect(outcome.issue[0]?.details?.text).toContain(text);
  });

  it('names what was not found and what decided a refusal', async () => {
    const issueOf = async (res: Response) =>
      ((await res.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] }).issue[0];
    const chart = await app.request('/municipality/v1/monitoring/chart.svg?period=2026&group=shoe-size', {
      key: 'municipality',
    });
    expect(chart.status).toBe(404);
    expect(await issueOf(chart)).toMatchObject({
      expression: ['group'],
      details: { text: expect.stringContaining('shoe-size') },
    });
    const foreign = await app.request(`/municipality/v1/monitoring?period=2026&municipality=${MUNICIPALITY}`, {
      key: 'otherMunicipality',
    });
    expect(foreign.status).toBe(403);
    expect(await issueOf(foreign)).toMatchObject({
      expression: ['municipality'],
      details: { text: expect.stringContaining(MUNICIPALITY) },
    });
    // A key of the wrong role: the key (its role) decided, on the monitoring routes as on the municipality router's.
    for (const [method, path] of [
      ['GET', '/municipality/v1/monitoring?period=2026'],
      ['POST', '/municipality/v1/monitoring/$push?period=2026-Q3'],
      ['POST', '/municipality/v1/referrals/ref-1/status'],
      ['POST', '/municipality/v1/trajectories/events'],
    ] as const) {
      const res = await app.request(path, { method, key: 'practice', ...(method === 'POST' ? { json: {} } : {}) });
      expect([path, res.status]).toEqual([path, 403]);
      expect(await issueOf(res)).toMatchObject({
        expression: ['Authorization'],
        details: { text: expect.stringContaining('role practice') },
      });
    }
  });

  it('refuses a practice without an agreement with the municipality (422), and opens no audit chain for it', async () => {
    const asked = [
      ['municipality', 'period=2026-Q3&practice=99999999'],
      ['municipality', 'period=2026-Q3&practice=99999999&_format=csv'],
      ['operator', `period=2026-Q3&practice=99999999&municipality=${MUNICIPALITY}`],
      // A practice with an agreement, but with another municipality.
      ['otherMunicipality', `period=2026-Q3&practice=${PRACTICE_AGB}`],
    ] as const;
    for (const [key, query] of asked) {
      const res = await app.request(`/municipality/v1/monitoring?${query}`, { key });
      expect([query, res.status]).toEqual([query, 422]);
      const outcome = (await res.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] };
      expect(outcome.issue[0]?.expression).toEqual(['practice']);
      expect(outcome.issue[0]?.details?.text).toContain('has no agreement with municipality');
    }
    const chart = await app.request('/municipality/v1/monitoring/chart.svg?period=2026-Q3&practice=99999999', {
      key: 'municipality',
    });
    expect(chart.status).toBe(422);
    const chains = await client.query(
      `SELECT tenant FROM audit_chain_head WHERE tenant = '99999999'
       UNION ALL SELECT tenant FROM audit_event WHERE tenant = '99999999'`,
    );
    expect(chains.rows).toEqual([]);
    // An agreement that has ended still has its history: the report of a year it was in force is served.
    const ended = await app.request(`/municipality/v1/monitoring?period=2025&practice=${ENDED_PRACTICE_AGB}`, {
      key: 'municipality',
    });
    expect(ended.status).toBe(200);
  });

  it('refuses a period in which no agreement with purpose monitoring was in force on any day (409)', async () => {
    // Both agreements took effect on 2020-01-01; the ended practice's ran until 2025-06-30.
    for (const path of [
      'monitoring?period=2019',
      'monitoring?from=2019-01-01&to=2019-12-31',
      'monitoring/chart.svg?period=2019&group=outcome',
      `monitoring?period=2026&practice=${ENDED_PRACTICE_AGB}`,
    ]) {
      const res = await app.request(`/municipality/v1/${path}`, { key: 'municipality' });
      expect([path, res.status]).toEqual([path, 409]);
      expect(JSON.stringify(await res.json())).toContain('No agreement with purpose monitoring');
    }
    // One day in force is enough: the period is reported, and it says when there was nothing (a range: an auditor's).
    const lastDay = await report(`from=2019-12-01&to=2020-01-01&municipality=${MUNICIPALITY}`, 'auditor');
    expect(lastDay.period).toEqual({ start: '2019-12-01', end: '2020-01-01' });
  });

  it('answers only for the municipality in scope', async () => {
    expect((await app.request('/municipality/v1/monitoring?period=2026', { key: 'practice' })).status).toBe(403);
    expect(
      (
        await app.request(`/municipality/v1/monitoring?period=2026&municipality=${MUNICIPALITY}`, {
          key: 'otherMunicipality',
        })
      ).status,
    ).toBe(403);
    // An operator's scope holds every municipality: it must name one.
    const operator = await app.request('/municipality/v1/monitoring?period=2026', { key: 'operator' });
    expect(operator.status).toBe(400);
    expect(JSON.stringify(await operator.json())).toContain('more than one');
    // A practice's own auditor (no municipality in scope) reads its practice's report, and no other practice's.
    for (const query of ['period=2026', `period=2026&municipality=${MUNICIPALITY}`]) {
      const practiceAuditor = await app.request(`/municipality/v1/monitoring?${query}`, {
        key: null,
        headers: { authorization: `Bearer ${practiceAuditorKey}` },
      });
      expect([query, practiceAuditor.status]).toEqual([query, 200]);
      const own = (await practiceAuditor.json()) as MeasureReport;
      expect(own.reporter?.identifier?.value).toBe(MUNICIPALITY);
      expect(own.extension).toContainEqual({
        url: 'https://jeugdbrug.nl/fhir/StructureDefinition/monitoring-practice',
        valueString: PRACTICE_AGB,
      });
    }
    const otherPractice = await app.request(`/municipality/v1/monitoring?period=2026&practice=${OTHER_PRACTICE_AGB}`, {
      key: null,
      headers: { authorization: `Bearer ${practiceAuditorKey}` },
    });
    expect(otherPractice.status).toBe(403);
    const outcome = (await otherPractice.json()) as { issue: { expression?: string[] }[] };
    expect(outcome.issue[0]?.expression).toEqual(['practice']);
    expect((await report(`period=2026&municipality=${MUNICIPALITY}`, 'operator')).reporter?.identifier?.value).toBe(
      MUNICIPALITY,
    );
  });
});
