import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

// The municipality's monitoring page names the period it shows, and a period it cannot show is a message, not
// another period: the page once fell back to the current year, unsaid, for dates the wrong way round.
describe("the console's monitoring report: the period shown is the period asked for", () => {
  let app: TestApp;
  let municipality: ConsoleClient;

  beforeAll(async () => {
    app = await startTestApp({});
    municipality = await openConsole(app, 'municipality');
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const page = async (query: string) => {
    const res = await municipality.get(`/console/municipality${query}`);
    return { status: res.status, text: await res.text() };
  };

  it('shows the dates asked for, in the form, in words and in the CSV link', async () => {
    const { status, text } = await page('?from=2026-01-01&to=2026-03-31');
    expect(status).toBe(200);
    expect(text).toContain('Periode: 2026-01-01 t/m 2026-03-31');
    expect(text).toContain('name="from" value="2026-01-01"');
    expect(text).toContain('name="to" value="2026-03-31"');
    expect(text).toContain('report.csv?from=2026-01-01&amp;to=2026-03-31');
    expect(text).toContain('class="measure"');
    // 2026-Q1 has ended: nothing provisional about it.
    expect(text).not.toContain('Deze periode loopt nog');
  });

  it('without dates shows the current year and says so', async () => {
    const year = new Date().getFullYear();
    const { status, text } = await page('');
    expect(status).toBe(200);
    expect(text).toContain(`Periode: ${year}-01-01 t/m ${year}-12-31`);
    expect(text).toContain(`name="from" value="${year}-01-01"`);
    // The year runs: its figures are provisional (the report is pending), and the page says so.
    expect(text).toContain('Deze periode loopt nog');
  });

  it.each([
    ['dates the wrong way round', '?from=2026-03-01&to=2026-02-01'],
    ['only one date', '?from=2026-03-01'],
    ['a date that is none', '?from=2026-02-30&to=2026-03-01'],
    ['a practice that is no AGB code', '?from=2026-01-01&to=2026-03-31&practice=abc'],
    ['a practice without an agreement with the municipality', '?from=2026-01-01&to=2026-03-31&practice=99999999'],
    ['dates in which no agreement with purpose monitoring was in force', '?from=2019-01-01&to=2019-12-31'],
    // A municipality asks for whole quarters, half-years and years only (xpolicy H3: ranges a day apart).
    ['dates that are no whole quarter, half-year or year', '?from=2026-07-01&to=2026-09-29'],
    ['dates of a period that has not started', '?from=2099-01-01&to=2099-12-31'],
  ])('answers %s with a message and no report', async (_what, query) => {
    const { status, text } = await page(query);
    expect(status).toBe(400);
    // In the page's language, naming the field in words; the API's English only as a technical detail.
    expect(text).toMatch(/class="notice error"[^>]*>(Van|Tot en met|Praktijk \(AGB\)|Periode)/);
    expect(text).not.toContain('class="measure"');
  });

  it('shows the report of dates that are a quarter', async () => {
    expect((await page('?from=2026-07-01&to=2026-09-30')).status).toBe(200);
  });

  it('shows the report of a practice it has an agreement with, and opens no audit chain for one it has none with', async () => {
    expect((await page('?from=2026-01-01&to=2026-03-31&practice=01234567')).status).toBe(200);
    const csv = await municipality.get(
      '/console/municipality/report.csv?from=2026-01-01&to=2026-03-31&practice=99999999',
    );
    expect(csv.status).not.toBe(200);
    expect(csv.headers.get('content-type')).not.toContain('text/csv');
    const rows = await app.rt.ctx.db.query(
      `SELECT tenant FROM audit_chain_head WHERE tenant = '99999999'
       UNION ALL SELECT tenant FROM audit_event WHERE tenant = '99999999'`,
    );
    expect(rows).toEqual([]);
  });

  it('refuses the CSV of dates the wrong way round too', async () => {
    const res = await municipality.get('/console/municipality/report.csv?from=2026-03-01&to=2026-02-01');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).not.toContain('text/csv');
  });
});
