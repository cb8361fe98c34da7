import { Redis } from 'ioredis';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { formFields, openConsole, useConsoleApp, type ConsoleClient } from '../helpers/console-client';
import { TEST_REDIS_URL } from '../helpers/test-runtime';

// The auditor's search, child's overview and consents hold a BSN, which may not go in a URL. They were POSTs that
// rendered their results, so Back from a result's details landed on "Confirm Form Resubmission" (and resubmitting
// searched and audited again). Now the form is kept in the session (sealed) and the browser is sent to a GET of it.
// A mistyped BSN in the search was "0 results"; it is an error now, as on the overview.
describe("the auditor's forms: POST, redirect, GET; the BSN in no URL; a mistyped BSN refused", () => {
  const h = useConsoleApp(['auditor']);
  const c = h.consoles;

  let bsn = '';
  beforeAll(async () => {
    const referral = buildReferralEvent();
    bsn = (referral.child as { bsn: string }).bsn;
    const res = await h.app.request('/his/v1/events', {
      json: buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }),
    });
    expect(res.status).toBe(202);
    for (let i = 0; i < 25; i++) {
      await h.app.rt.ctx.audit.append(
        PRACTICE_AGB,
        operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: `test/${i}` }),
      );
    }
    await h.app.rt.ctx.audit.flush();
  });

  /** Posts a form; expects the redirect to a GET of this page, and returns that address. */
  const postRedirect = async (client: ConsoleClient, path: string, form: Record<string, string>) => {
    const res = await client.post(path, form);
    expect(res.status).toBe(303);
    const location = res.headers.get('location') ?? '';
    expect(location).toMatch(new RegExp(`^${path}\\?q=[A-Za-z0-9_-]{16}$`));
    return location;
  };
  const page = async (client: ConsoleClient, path: string) => {
    const res = await client.get(path);
    expect(res.status).toBe(200);
    return res.text();
  };

  it.each([
    ['/console/auditor', 'Aantal resultaten: '],
    ['/console/auditor/overview', `Getoond voor het kind met BSN ${'{bsn}'}.`],
    ['/console/auditor/consents', `Getoond voor het kind met BSN ${'{bsn}'}.`],
  ])('%s: the posted BSN is kept, the results are a GET of an address without it', async (path, shown) => {
    const location = await postRedirect(c.auditor, path, { bsn });
    expect(location).not.toContain(bsn);
    const text = await page(c.auditor, location);
    expect(text).toContain(shown.replace('{bsn}', bsn));
    // The form holds what was asked, to change it.
    expect(text).toMatch(new RegExp(`<input\\s[^>]*name="bsn"[^>]*value="${bsn}"`));
    // Shown again (Back, reload): the same page, nothing to resubmit.
    expect(await page(c.auditor, location)).toContain(shown.replace('{bsn}', bsn));
    // The language switch comes back to it.
    expect(text).toContain(`back=${encodeURIComponent(location)}`);
  });

  it('pages the search by GET links that hold the kept form and a cursor, not the criteria', async () => {
    const location = await postRedirect(c.auditor, '/console/auditor', { type: 'operator' });
    const first = await page(c.auditor, location);
    expect(first).toContain('Aantal resultaten: 25');
    const next = /<a href="(\/console\/auditor\?q=[^"]+)" rel="next"/.exec(first)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toMatch(/^\/console\/auditor\?q=[A-Za-z0-9_-]{16}&_page=/);
    const second = await page(c.auditor, next ?? '');
    expect([...second.matchAll(/href="\/console\/auditor\/audit-events\//g)]).toHaveLength(5);
    expect(second).toMatch(/<a href="\/console\/auditor\?q=[^"]+" rel="prev"/);
  });

  it("shows each access's client address in the child's overview, as the API's overview has it", async () => {
    const api = (await (await h.app.request(`/audit/v1/overview?patient=${bsn}`, { key: 'auditor' })).json()) as {
      accesses: { accessPoint?: string }[];
    };
    const accessPoint = api.accesses[0]?.accessPoint;
    expect(accessPoint).toBeTruthy();
    const text = await page(c.auditor, await postRedirect(c.auditor, '/console/auditor/overview', { bsn }));
    const accesses = /<caption>\s*Inzagen\s*<\/caption>([^]*?)<\/table>/.exec(text)?.[1] ?? '';
    expect(accesses).toContain('<th scope="col">Vanaf</th>');
    expect(accesses).toContain(`<td class="ids">${accessPoint}</td>`);
  });

  // report-xprivacy L3: the overview page says, for a child of 16 or older on the day, that the child decides.
  it('notes on the overview that a child of 16 or older decides itself (WGBO), when a birth date is given', async () => {
    const year = new Date().getUTCFullYear();
    const older = await page(
      c.auditor,
      await postRedirect(c.auditor, '/console/auditor/overview', { bsn, birthDate: `${year - 17}-01-01` }),
    );
    expect(older).toContain('onder de WGBO beslist het kind zelf');
    const younger = await page(
      c.auditor,
      await postRedirect(c.auditor, '/console/auditor/overview', { bsn, birthDate: `${year - 13}-01-01` }),
    );
    expect(younger).not.toContain('WGBO');
  });

  it('keeps the BSN out of Redis in the clear, and the address means nothing in another session', async () => {
    const location = await postRedirect(c.auditor, '/console/auditor/overview', { bsn });
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const keys = await redis.keys(`${h.app.testEnv.prefix}:console-session:*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(await redis.get(key)).not.toContain(bsn);
      }
    } finally {
      redis.disconnect();
    }
    const other = await openConsole(h.app, 'auditor');
    const text = await page(other, location);
    expect(text).not.toContain(bsn);
    expect(text).toContain('Deze gegevens worden niet meer bewaard');
  });

  it('refuses a BSN that fails the 11-proef or is not 9 digits, and dates the wrong way round', async () => {
    for (const wrong of ['123456789', '12345678', '1234567890']) {
      const res = await c.auditor.post('/console/auditor', { bsn: wrong });
      expect(res.status).toBe(422);
      const text = await res.text();
      expect(text).toContain('BSN van het kind: geen geldig BSN (9 cijfers die de elfproef doorstaan)');
      expect(text).not.toContain('Aantal resultaten');
      expect(text).toMatch(new RegExp(`<input\\s[^>]*name="bsn"[^>]*value="${wrong}"`));
    }
    const reversed = await c.auditor.post('/console/auditor', { from: '2026-12-31', to: '2026-01-01' });
    expect(reversed.status).toBe(422);
    const text = await reversed.text();
    expect(text).toContain('De datum bij ‘Van’ ligt na die bij ‘Tot en met’');
    expect(text).not.toContain('Aantal resultaten');
  });

  // The hand-over document of a child's overview (POST /audit/v1/overview with format=csv or html) had no button in
  // the console: the privacy officer had to use the API. The child's page now offers both downloads as a form POST
  // holding the kept form's sealed id, so the BSN stays out of every URL.
  const childPage = async () => {
    const posted = await c.auditor.post('/console/auditor/overview', { bsn });
    expect(posted.status).toBe(303);
    const res = await c.auditor.get(posted.headers.get('location') ?? '');
    expect(res.status).toBe(200);
    return res.text();
  };

  it.each([
    ['csv', /^text\/csv/, /\.csv"$/],
    ['html', /^text\/html/, /\.html"$/],
  ])('offers the %s document as a form POST that names no BSN, and downloads it', async (format, type, file) => {
    const page = await childPage();
    const action = '/console/auditor/overview/download';
    expect(page).toContain(`<form method="post" action="${action}"`);
    expect(page).toMatch(new RegExp(`<button type="submit" name="format" value="${format}"`));
    const fields = formFields(page, action);
    // The sealed id of the kept form, never the BSN itself.
    expect(fields.q).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(Object.values(fields).join(' ')).not.toContain(bsn);
    const res = await c.auditor.post(action, { ...fields, format });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(type);
    expect(res.headers.get('content-disposition')).toMatch(file);
    expect(await res.text()).toContain(bsn);
  });

  it('says on the form that the download is gone when its kept form is, instead of an error page', async () => {
    const res = await c.auditor.post('/console/auditor/overview/download', { q: 'AAAAAAAAAAAAAAAA', format: 'csv' });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('name="bsn"');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('refuses a format the document does not come in, on the form', async () => {
    const fields = formFields(await childPage(), '/console/auditor/overview/download');
    const res = await c.auditor.post('/console/auditor/overview/download', { ...fields, format: 'pdf' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('name="bsn"');
  });
});
