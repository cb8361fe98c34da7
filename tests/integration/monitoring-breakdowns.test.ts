import type { MeasureReport, MeasureReportGroup } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { TERMINAL_STATES } from '../../src/event/states';
import { assertValidResource } from '../../src/kernel/fhir/validation';
import {
  buildAgreement,
  buildMonitoringSection,
  buildReferralEvent,
  MUNICIPALITY,
  PRACTICE_AGB,
  randomBsn,
} from '../helpers/builders';
import { tryToDeriveWithheldCells } from '../helpers/suppression-check';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * Breakdowns municipalities fund the POH-jeugd on: referrals by JZ020 product category (which kind of youth care),
 * and the trajectories a municipality registers itself by who referred the child (COD327), counted under the same
 * disclosure control as the report's other breakdowns.
 */

const K = 5;
const JZ020 = 'http://istandaarden.nl/ibieb/codelijsten/JZ020';
const COD327 = 'http://istandaarden.nl/ibieb/codelijsten/COD327';

function groupOf(report: MeasureReport, code: string): MeasureReportGroup {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  if (!g) {
    throw new Error(`no group ${code}`);
  }
  return g;
}

/** The strata of one stratifier of a group: each category's count, or 'withheld'. */
function strataOf(report: MeasureReport, group: string, stratifier: string): Record<string, number | 'withheld'> {
  const s = groupOf(report, group).stratifier?.find((x) => x.code?.[0]?.coding?.[0]?.code === stratifier);
  if (!s) {
    throw new Error(`no stratifier ${stratifier} in ${group}`);
  }
  return Object.fromEntries(
    (s.stratum ?? []).map((st) => [st.value?.coding?.[0]?.code ?? '', st.population?.[0]?.count ?? 'withheld']),
  );
}

describe('monitoring breakdowns by product category and by who referred a municipality-registered trajectory', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({
      registry: buildRegistry({
        agreements: [
          buildAgreement({
            professional: { employer: 'social-team', systemOfRecord: 'municipality' },
            toPractice: {
              purpose: 'contact-registration',
              dataClasses: {
                EpisodeOfCare: { fields: ['identifier', 'status', 'type', 'patient', 'period'] },
                ServiceRequest: { fields: ['identifier', 'status', 'intent', 'code', 'subject', 'performerType'] },
              },
            },
            monitoring: buildMonitoringSection({ k: K }),
          }),
        ],
        destinations: [],
      }),
    });
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  /** Sends HIS events as the practice and waits until each has finished the map stage. */
  async function sendFromHis(events: Record<string, unknown>[]): Promise<void> {
    const res = await app.request('/his/v1/events', { key: 'practice', json: events });
    expect(res.status).toBe(202);
    const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    await waitFor('events mapped', async () => {
      const done = await app.rt.ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM inbox WHERE id = ANY($1) AND state = ANY($2)`,
        [ids, [...TERMINAL_STATES]],
      );
      return done[0]?.n === ids.length ? true : undefined;
    });
  }

  const report = async (query: string): Promise<MeasureReport> => {
    const res = await app.request(`/municipality/v1/monitoring?${query}`, { key: 'municipality' });
    expect(res.status).toBe(200);
    return (await res.json()) as MeasureReport;
  };

  it('breaks referrals down by JZ020 product category, small cells withheld, in JSON, CSV and chart', async () => {
    // 2026-Q3: six to ambulant youth care (45), five to youth mental health care (54), two in crisis (46).
    const categories = [...Array<string>(6).fill('45'), ...Array<string>(5).fill('54'), '46', '46'];
    await sendFromHis(
      categories.map((productCategory, i) => {
        const e = buildReferralEvent();
        const on = `2026-08-${String(10 + i).padStart(2, '0')}T10:00:00+02:00`;
        return { ...e, occurredAt: on, referral: { ...(e.referral as object), productCategory, authoredOn: on } };
      }),
    );
    const r = await report('period=2026-Q3');
    expect(() => assertValidResource(r)).not.toThrow();
    expect(groupOf(r, 'referral-target').population?.[0]?.count).toBe(13);
    const strata = strataOf(r, 'referral-target', 'product-category');
    expect(strata).toMatchObject({ '45': 6, '54': 5, '46': 'withheld', '40': 0, '55': 0 });
    // Every JZ020 category is listed, its coding in the JZ020 system with its Dutch name.
    const stratifier = groupOf(r, 'referral-target').stratifier?.find(
      (s) => s.code?.[0]?.coding?.[0]?.code === 'product-category',
    );
    expect(stratifier?.stratum?.map((st) => st.value?.coding?.[0]?.code)).toEqual([
      '40',
      '41',
      '43',
      '44',
      '45',
      '46',
      '50',
      '51',
      '52',
      '54',
      '55',
    ]);
    expect(stratifier?.stratum?.find((st) => st.value?.coding?.[0]?.code === '45')?.value?.coding?.[0]).toEqual({
      system: JZ020,
      code: '45',
      display: 'Jeugdhulp ambulant',
    });
    expect(tryToDeriveWithheldCells(r, K).withheld).toBeGreaterThan(0);

    // The Measure names the stratifier, so the figures cannot drift from what it says they are.
    const measure = await (await app.request('/fhir/Measure/poh-jeugd-monitoring', { key: 'municipality' })).json();
    expect(JSON.stringify(measure)).toContain(JZ020);

    const csv = await (
      await app.request('/municipality/v1/monitoring?period=2026-Q3&_format=csv', { key: 'municipality' })
    ).text();
    expect(csv).toContain('referral-target,product-category,45,Jeugdhulp ambulant,6,false');
    expect(csv).toContain('referral-target,product-category,46,Crisis,,true');

    const chart = await app.request(
      '/municipality/v1/monitoring/chart.svg?period=2026-Q3&group=product-category&lang=en',
      { key: 'municipality' },
    );
    expect(chart.status).toBe(200);
    const svg = await chart.text();
    expect(svg).toContain('data-code="45" data-count="6"');
    expect(svg).toContain('data-code="46" data-withheld="true"');
    expect(svg).toContain('Outpatient youth care');
  });

  /** A trajectory event as the municipality's system sends it. */
  const trajectoryEvent = (n: number, trajectory: Record<string, unknown>): Record<string, unknown> => ({
    eventId: `gm-intake-${Date.now().toString(36)}-${n}`,
    type: 'intake',
    municipality: MUNICIPALITY,
    practice: { agb: PRACTICE_AGB },
    child: { bsn: randomBsn(), birthDate: '2013-05-01' },
    trajectory: { id: `gm-traj-${Date.now().toString(36)}-${n}`, startDate: '2026-05-04', ...trajectory },
    date: '2026-05-04',
    helpQuestion: 'parenting',
  });

  it('counts who referred a trajectory the municipality registered, as its COD327 referrer type', async () => {
    // 2026-Q2: five trajectories the social team took on itself (01 Gemeente), six the parents asked for (06).
    const types = [...Array<string>(5).fill('01'), ...Array<string>(6).fill('06')];
    for (const [n, referrerType] of types.entries()) {
      const res = await app.request('/municipality/v1/trajectories/events', {
        key: 'municipality',
        json: trajectoryEvent(n, { referrerType }),
      });
      expect([n, res.status]).toEqual([n, 202]);
    }
    const r = await report('period=2026-Q2');
    expect(groupOf(r, 'inflow').population?.[0]?.count).toBe(11);
    expect(strataOf(r, 'inflow', 'referrer')).toMatchObject({ municipality: 5, self: 6, unknown: 0 });
    const referrer = groupOf(r, 'inflow').stratifier?.find((s) => s.code?.[0]?.coding?.[0]?.code === 'referrer');
    expect(referrer?.stratum?.find((st) => st.value?.coding?.[0]?.code === 'self')?.value?.coding?.[1]).toMatchObject({
      system: COD327,
      code: '06',
    });
  });

  it('counts the product category of a referral the municipality registered', async () => {
    // 2026-Q1: five referrals to specialised mental health care (52), registered in the municipality's system.
    for (let n = 0; n < 5; n++) {
      const e = trajectoryEvent(100 + n, { startDate: '2026-02-02' });
      const res = await app.request('/municipality/v1/trajectories/events', {
        key: 'municipality',
        json: {
          ...e,
          type: 'referral',
          date: '2026-02-16',
          referral: { id: `gm-ref-${String(e.eventId)}`, target: 'ggz', productCategory: '52' },
        },
      });
      expect([n, res.status]).toEqual([n, 202]);
    }
    const r = await report('period=2026-Q1');
    expect(strataOf(r, 'referral-target', 'product-category')).toMatchObject({ '52': 5, '45': 0 });
    expect(strataOf(r, 'referral-target', 'referral-target')).toMatchObject({ ggz: 5 });
  });

  it('refuses a referrer type outside COD327, naming the field', async () => {
    const res = await app.request('/municipality/v1/trajectories/events', {
      key: 'municipality',
      json: trajectoryEvent(99, { referrerType: '07' }),
    });
    expect(res.status).toBe(422);
    const outcome = (await res.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] };
    expect(outcome.issue[0]?.expression).toEqual(['trajectory.referrerType']);
    expect(outcome.issue[0]?.details?.text).toContain('COD327');
  });
});
