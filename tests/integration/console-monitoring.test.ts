import { amsterdamDay } from '../../src/kernel/dutch-time';
import { tryParsePeriod } from '../../src/reports/monitoring/period';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { useTestApp } from '../helpers/test-runtime';

// The municipality's monitoring page names the period it shows, and a period it cannot show is a message, not
// another period: the page once fell back to the current year, unsaid, for dates the wrong way round. It offers the
// API's periods (quarters, half-years, years), not free dates.
describe("the console's monitoring report: the period shown is the period asked for", () => {
  const app = useTestApp();
  let municipality: ConsoleClient;

  beforeAll(async () => {
    municipality = await openConsole(app, 'municipality');
  });

  const page = async (query: string) => {
    const res = await municipality.get(`/console/municipality${query}`);
    return { status: res.status, text: await res.text() };
  };

  // The page had only From/To date fields: a policy officer could not pick a quarter as the API's `period=` does.
  it('offers quarters, half-years and years, and shows the one chosen: in the form, in words and in the CSV link', async () => {
    const { status, text } = await page('?period=2025-Q3');
    expect(status).toBe(200);
    expect(text).toContain('Periode: 2025-07-01 t/m 2025-09-30');
    expect(text).toMatch(/<option value="2025-Q3"\s+selected>\s*3e kwartaal 2025\s*<\/option>/);
    for (const [value, words] of [
      ['2025-Q1', '1e kwartaal 2025'],
      ['2025-Q4', '4e kwartaal 2025'],
      ['2025-H1', '1e halfjaar 2025'],
      ['2025-H2', '2e halfjaar 2025'],
      ['2025', 'Heel 2025'],
    ]) {
      expect(text).toMatch(new RegExp(`<option value="${value}"\\s*>\\s*${words}\\s*</option>`));
    }
    // Not a period that has not started, and no free dates: a municipality asks for whole periods.
    expect(text).not.toContain(`<option value="${new Date().getFullYear() + 1}-Q1"`);
    expect(text).not.toContain('name="from"');
    expect(text).not.toContain('name="to"');
    expect(text).toContain('report.csv?period=2025-Q3');
    expect(text).toContain('class="measure"');
    // 2026-Q1 has ended: nothing provisional about it.
    expect(text).not.toContain('Deze periode loopt nog');
  });

  it('without a period shows the last quarter that has ended, and says so', async () => {
    const today = amsterdamDay(new Date());
    const [year = 0, month = 1] = today.split('-').map(Number);
    const quarter = Math.floor((month - 1) / 3);
    const last = quarter === 0 ? `${year - 1}-Q4` : `${year}-Q${quarter}`;
    const period = tryParsePeriod(last);
    const { status, text } = await page('');
    expect(status).toBe(200);
    expect(text).toContain(`Periode: ${period?.start} t/m ${period?.end}`);
    expect(text).toMatch(new RegExp(`<option value="${last}"\\s+selected>`));
  });

  it.each([
    ['a period that is none', '?period=2026-Q5', 'Periode: kies een kwartaal, halfjaar of jaar.'],
    ['dates instead of a period', '?from=2026-03-01&to=2026-02-01', 'Periode: kies een kwartaal, halfjaar of jaar.'],
    ['a practice that is no AGB code', '?period=2025&practice=abc', 'Praktijk (AGB): ongeldige waarde'],
    ['a practice without an agreement with the municipality', '?period=2025&practice=99999999', 'Praktijk (AGB)'],
    [
      'a period in which no agreement with purpose monitoring was in force',
      '?period=2019',
      'Periode: in deze periode was geen overeenkomst met doel monitoring van kracht.',
    ],
  ])('answers %s with a message saying what is wrong, and no report', async (_what, query, says) => {
    const { status, text } = await page(query);
    expect(status).toBe(400);
    // In the page's language, naming the field in words; the API's English only as a technical detail.
    expect(text).toMatch(/class="notice error"[^>]*>/);
    expect(text).toContain(says);
    expect(text).not.toContain('geen geldige datum');
    expect(text).not.toContain('class="measure"');
    // The form is there to choose again.
    expect(text).toContain('<select name="period"');
  });

  it('downloads the CSV of the period, also for a Dutch spreadsheet (semicolons, a byte order mark)', async () => {
    const { text } = await page('?period=2025-Q3');
    expect(text).toContain('report.csv?period=2025-Q3&amp;municipality=GM0226&amp;delimiter=semicolon&amp;bom=true');
    const csv = await municipality.get('/console/municipality/report.csv?period=2025-Q3');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename=monitoring-GM0226-2025-Q3.csv');
    expect(await csv.text()).toMatch(/^period_start,period_end,/);
    const dutch = await municipality.get(
      '/console/municipality/report.csv?period=2025-Q3&municipality=GM0226&delimiter=semicolon&bom=true',
    );
    const bytes = Buffer.from(await dutch.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3).toString('utf8')).toMatch(/^period_start;period_end;/);
  });

  it('says the figures of a period that is still running are provisional', async () => {
    // The year runs: its report is pending, and the page says so.
    const { status, text } = await page(`?period=${amsterdamDay(new Date()).slice(0, 4)}`);
    expect(status).toBe(200);
    expect(text).toContain('Deze periode loopt nog');
  });

  it('shows the report of a practice it has an agreement with, and opens no audit chain for one it has none with', async () => {
    expect((await page('?period=2026-Q1&practice=01234567')).status).toBe(200);
    const csv = await municipality.get('/console/municipality/report.csv?period=2026-Q1&practice=99999999');
    expect(csv.status).not.toBe(200);
    expect(csv.headers.get('content-type')).not.toContain('text/csv');
    const rows = await app.rt.ctx.db.query(
      `SELECT tenant FROM audit_chain_head WHERE tenant = '99999999'
       UNION ALL SELECT tenant FROM audit_event WHERE tenant = '99999999'`,
    );
    expect(rows).toEqual([]);
  });

  it('refuses the CSV of a period that is none too', async () => {
    const res = await municipality.get('/console/municipality/report.csv?period=2026-Q5');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).not.toContain('text/csv');
  });
});
