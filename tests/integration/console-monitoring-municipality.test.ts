import { buildRegistry } from '../../src/event/registry';
import { createApiKeyEntry, readApiKeyFile, writeApiKeyFile } from '../../src/access/api-keys';
import { buildAgreement, OTHER_PRACTICE_AGB } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

// A key for two municipalities (a youth-care region) got the first one's monitoring report, and the page named no
// municipality at all: a policy officer read one municipality's figures as the region's. Now the page always names
// the municipality it is for, and a key for more than one chooses (the API asks to name it).
describe("the console's monitoring report names its municipality, and a regional key chooses", () => {
  let app: TestApp;
  let regional: ConsoleClient;
  let single: ConsoleClient;

  beforeAll(async () => {
    const testEnv = createTestEnv();
    const { entries, key } = createApiKeyEntry(
      { id: 'regio', role: 'municipality', municipalities: ['GM0226', 'GM0344'] },
      readApiKeyFile(testEnv.apiKeysFile),
    );
    writeApiKeyFile(testEnv.apiKeysFile, entries);
    app = await startTestApp({
      testEnv,
      env: { ROLE: 'api' },
      registry: buildRegistry({
        agreements: [
          buildAgreement(),
          buildAgreement({
            id: 'test-utrecht',
            practice: { agb: OTHER_PRACTICE_AGB },
            municipality: { code: 'GM0344', name: 'Utrecht' },
          }),
        ],
        destinations: [],
      }),
    });
    regional = await openConsole(app, { credential: key });
    single = await openConsole(app, 'municipality');
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const page = async (client: ConsoleClient, query: string) => {
    const res = await client.get(`/console/municipality?period=2026-Q1${query}`);
    return { status: res.status, text: await res.text() };
  };
  const selected = (text: string) => /<option value="(GM\d{4})"\s+selected>/.exec(text)?.[1];

  it('names the municipality of a single-municipality key, and offers no choice', async () => {
    const { status, text } = await page(single, '');
    expect(status).toBe(200);
    expect(text).toContain('Gemeente: Overbetuwe (GM0226)');
    expect(text).not.toContain('<select name="municipality"');
  });

  it('lets a regional key choose, shows the first by default and names it', async () => {
    const { status, text } = await page(regional, '');
    expect(status).toBe(200);
    expect(text).toContain('<select name="municipality"');
    expect(text).toMatch(/>\s*Overbetuwe \(GM0226\)\s*<\/option>/);
    expect(text).toMatch(/>\s*Utrecht \(GM0344\)\s*<\/option>/);
    expect(selected(text)).toBe('GM0226');
    expect(text).toContain('Gemeente: Overbetuwe (GM0226)');
    expect(text).toContain('report.csv?period=2026-Q1&amp;municipality=GM0226');
  });

  it("shows the other municipality's report when chosen: named, its practices, its CSV", async () => {
    const { status, text } = await page(regional, '&municipality=GM0344');
    expect(status).toBe(200);
    expect(selected(text)).toBe('GM0344');
    expect(text).toContain('Gemeente: Utrecht (GM0344)');
    expect(text).not.toContain('Gemeente: Overbetuwe');
    // The practice choice: those with an agreement with this municipality.
    expect(text).toContain(`<option value="${OTHER_PRACTICE_AGB}"`);
    expect(text).not.toContain('<option value="01234567"');
    const csv = await regional.get('/console/municipality/report.csv?period=2026-Q1&municipality=GM0344');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toContain('monitoring-GM0344-');
  });

  it('refuses a municipality outside the key’s scope', async () => {
    expect((await page(regional, '&municipality=GM0999')).status).toBe(403);
    expect((await page(single, '&municipality=GM0344')).status).toBe(403);
  });
});
