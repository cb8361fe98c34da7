import { buildRegistry } from '../../src/event/registry';
import { TERMINAL_STATES } from '../../src/event/states';
import {
  buildAgreement,
  buildContactEvent,
  buildMonitoringSection,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cellsOfRow, measureSection } from '../helpers/html-cells';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The figures of the municipality's monitoring page and its CSV, over a report with withheld cells: one practice
 * closed 5 trajectories positively and 2 escalated (2 is withheld, and 5 with it, or 7 − 5 would give the 2 back);
 * the other closed 10 positively, 5 after one contact and 5 after two (a mean of 1.5, shown: no bin of it is withheld).
 */

const YEAR = '?period=2026';
const monitoring = buildMonitoringSection();

/** A trajectory of `contacts` contacts from 1 March 2026, closed on 20 March with `outcome`. */
function closedTrajectory(practice: string, outcome: string, contacts: number): Record<string, unknown>[] {
  const first = buildContactEvent();
  const trajectory = { ...(first.trajectory as object), startDate: '2026-03-01' };
  return Array.from({ length: contacts }, (_, i) => ({
    ...first,
    eventId: `${String(first.eventId)}-${i}`,
    practice: { agb: practice },
    trajectory: i === contacts - 1 ? { ...trajectory, closedOn: '2026-03-20', outcome } : trajectory,
    contact: {
      ...(first.contact as object),
      id: `${String(first.eventId)}-c${i}`,
      start: `2026-03-0${2 + i}T10:00:00+01:00`,
    },
  }));
}

describe("the console's monitoring figures and CSV", () => {
  let app: TestApp;
  let municipality: ConsoleClient;

  /** Sends the events one at a time, in order, each finished before the next (a closure after its contacts). */
  async function send(key: 'practice' | 'otherPractice', events: Record<string, unknown>[]): Promise<void> {
    for (const event of events) {
      const res = await app.request('/his/v1/events', { key, json: event });
      const [receipt] = ((await res.json()) as { receipts: { id: string }[] }).receipts;
      await waitFor('the event mapped', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [
          receipt?.id,
        ]);
        return (TERMINAL_STATES as readonly string[]).includes(row?.state ?? '');
      });
    }
  }

  beforeAll(async () => {
    app = await startTestApp({
      registry: buildRegistry({
        agreements: [
          buildAgreement({ monitoring }),
          buildAgreement({ id: 'test-agreement-other', practice: { agb: OTHER_PRACTICE_AGB }, monitoring }),
        ],
        destinations: [],
      }),
    });
    municipality = await openConsole(app, 'municipality');
    for (const [outcome, n] of [
      ['closed-without-referral', 5],
      ['escalated', 2],
    ] as const) {
      for (let i = 0; i < n; i++) {
        await send('practice', closedTrajectory(PRACTICE_AGB, outcome, 1));
      }
    }
    for (let i = 0; i < 10; i++) {
      await send('otherPractice', closedTrajectory(OTHER_PRACTICE_AGB, 'closed-without-referral', i < 5 ? 1 : 2));
    }
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  const page = async (query: string) => {
    const res = await municipality.get(`/console/municipality${query}`);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('shows withheld cells as withheld, not 0, explained once; a real zero as 0; no median as –', async () => {
    const text = await page(`${YEAR}&practice=${PRACTICE_AGB}`);
    const closed = measureSection(text, 'Afgesloten trajecten');
    expect(cellsOfRow(closed, 'Positief afgesloten zonder verwijzing')).toEqual(['afgeschermd']);
    expect(cellsOfRow(closed, 'Opgeschaald \\(verwezen\\)')).toEqual(['afgeschermd']);
    expect(cellsOfRow(closed, 'Onbekend')).toEqual(['0']);
    expect(closed.match(/data-withheld="true"/g)).toHaveLength(2);
    const saving = measureSection(text, 'Geschatte besparing p × q (EUR)');
    expect(saving.match(/<dd class="score withheld">afgeschermd<\/dd>/g)).toHaveLength(2);
    const waiting = measureSection(text, 'Wachttijd in dagen (mediaan)');
    expect(cellsOfRow(waiting, 'Van verwijzing tot start zorg')).toEqual(['0', '–']);
    expect(text.match(/Afgeschermd: een aantal van 1 tot en met 4/g)).toHaveLength(1);
  });

  it('writes numbers the Dutch way and calls the mean contacts a mean', async () => {
    // The other practice: p = 10 positively closed, q = 9,500, its professional 72,000 a year for 181 of 365.25 days.
    // The first half-year, which has ended: a running year's cost counts only the days so far (and changes daily).
    const text = await page(`?period=2026-H1&practice=${OTHER_PRACTICE_AGB}`);
    expect(measureSection(text, 'Gesprekken per afgesloten traject')).toMatch(
      /<dt>Gemiddeld aantal gesprekken<\/dt>\s*<dd class="score">1,5<\/dd>/,
    );
    expect(measureSection(text, 'Geschatte besparing p × q (EUR)')).toMatch(
      /<dt>Geschatte besparing \(EUR\)<\/dt>\s*<dd class="score">59\.320,33<\/dd>/,
    );
    // And what it is computed from: p × q − C = 10 × 9,500 − 35,679.67 (72,000 × 181 / 365.25).
    expect(measureSection(text, 'Geschatte besparing p × q (EUR)')).toMatch(
      /<dt>q: gemiddelde kosten specialistisch traject \(EUR\)<\/dt>\s*<dd class="score">9\.500,00<\/dd>\s*<dt>Kosten praktijkondersteuner in de periode \(EUR\)<\/dt>\s*<dd class="score">35\.679,67<\/dd>/,
    );
  });

  it.each([
    ['one practice', `${YEAR}&practice=${PRACTICE_AGB}`],
    ['the whole municipality', YEAR],
  ])("downloads the API's CSV of %s: withheld cells, scores and the period in every row", async (_what, query) => {
    const consoleCsv = await municipality.get(`/console/municipality/report.csv${query}`);
    const apiCsv = await app.request(`/municipality/v1/monitoring${query}&_format=csv`, { key: 'municipality' });
    expect(consoleCsv.status).toBe(200);
    const text = await consoleCsv.text();
    expect(text).toBe(await apiCsv.text());
    expect(consoleCsv.headers.get('content-disposition')).toBe(apiCsv.headers.get('content-disposition'));
    expect(consoleCsv.headers.get('content-disposition')).toBe('attachment; filename=monitoring-GM0226-2026.csv');
    expect(text.split('\r\n')[0]).toBe(
      'period_start,period_end,municipality,group,stratifier,code,display,count,withheld,score,score_withheld,unit,status',
    );
    expect(text).toContain(
      '2026-01-01,2026-12-31,GM0226,closed,outcome,escalated,Opgeschaald (verwezen),,true,,false,',
    );
  });
});
