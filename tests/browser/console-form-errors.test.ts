import type { Page } from 'playwright-core';
import { buildDestination } from '../helpers/builders';
import {
  endConsoleSession,
  launchTestBrowser,
  seriousA11yViolations,
  signIn,
  type TestBrowser,
} from '../helpers/browser';
import type { KeyName } from '../helpers/test-runtime';
import { useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * The console's forms in a real browser when they are refused (WCAG 3.3.1, 3.3.2, 4.1.2): an error summary above the
 * form, focused, whose links lead to the fields it names; each such field marked invalid and described by its error;
 * required fields said so in their labels; and every error page titled by what it is, in the page's language.
 */
describe('the console tells what is wrong with a form, and where, in a real browser', () => {
  const h = useDeliveryApp({ destination: (r) => buildDestination(r.url('/fhir')) });
  let browser: TestBrowser;
  let base: string;

  beforeAll(async () => {
    base = h.app.url;
    browser = await launchTestBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(() => {
    // No console errors, page errors or CSP violations on any page a test visited.
    expect(browser.problems.splice(0)).toEqual([]);
  });

  const signedIn = async (key: KeyName): Promise<Page> => {
    const page = await browser.newPage();
    await signIn(page, base, h.app.testEnv.keys[key]);
    return page;
  };
  const expectAccessible = async (page: Page) => expect(await seriousA11yViolations(page)).toEqual([]);
  const activeId = (page: Page) => page.evaluate('document.activeElement && document.activeElement.id');
  const toEnglish = async (page: Page) => {
    await Promise.all([page.waitForURL(/\/console\//), page.click('header a.lang')]);
  };

  /**
   * The refused form's summary and field, and the keyboard's way from one to the other: the summary has the focus
   * when the page loads; Tab reaches the link to the field, Enter puts the focus in the field.
   */
  const expectSummaryLeadsTo = async (page: Page, fieldId: string, words: string | RegExp) => {
    // The refused form's page may still be loading after the click that sent it: its summary takes the focus then.
    await page.waitForFunction("document.activeElement && document.activeElement.id === 'form-error'");
    await expect(activeId(page)).resolves.toBe('form-error');
    const summary = page.locator('#form-error');
    await expect(summary.getAttribute('role')).resolves.toBe('alert');
    const link = summary.locator(`a[href="#${fieldId}"]`);
    await expect(link.textContent()).resolves.toMatch(words);
    const field = page.locator(`#${fieldId}`);
    await expect(field.getAttribute('aria-invalid')).resolves.toBe('true');
    // The field's description includes its error, by the link's id: read out when the field has the focus.
    const describedBy = ((await field.getAttribute('aria-describedby')) ?? '').split(' ');
    expect(describedBy).toContain(`${fieldId}-error`);
    await expect(link.getAttribute('id')).resolves.toBe(`${fieldId}-error`);
    // Keyboard only: from the focused summary, Tab to its (first) link, Enter into the field.
    const links = await summary
      .locator('a[href^="#"]')
      .evaluateAll((all: { getAttribute(n: string): string | null }[]) => all.map((a) => a.getAttribute('href')));
    for (const href of links) {
      await page.keyboard.press('Tab');
      await expect(
        page.evaluate('document.activeElement && document.activeElement.getAttribute("href")'),
      ).resolves.toBe(href);
      if (href === `#${fieldId}`) {
        break;
      }
    }
    await page.keyboard.press('Enter');
    await expect(activeId(page)).resolves.toBe(fieldId);
    await expectAccessible(page);
  };

  it('sign-in: a refused credential is summarised above the form and tied to the field; "required" in the label', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/console/sign-in`);
    await expect(page.locator('label[for="credential"]').textContent()).resolves.toContain('(verplicht)');
    await expect(page.locator('#credential').getAttribute('aria-invalid')).resolves.toBeNull();
    await page.fill('#credential', 'jb_nope_wrong');
    const [res] = await Promise.all([
      page.waitForResponse(`${base}/console/sign-in`),
      page.click('form.sign-in button'),
    ]);
    expect(res.status()).toBe(401);
    await expect(page.title()).resolves.toBe('Aanmelden mislukt · jeugdbrug console');
    await expectSummaryLeadsTo(page, 'credential', /^Aanmelden mislukt: de sleutel of het token wordt niet aanvaard/);
    await expect(page.locator('#credential').getAttribute('aria-describedby')).resolves.toBe(
      'credential-help credential-error',
    );

    await toEnglish(page);
    await expect(page.locator('label[for="credential"]').textContent()).resolves.toContain('(required)');
    await page.fill('#credential', 'jb_nope_wrong');
    await page.click('form.sign-in button');
    await expect(page.title()).resolves.toBe('Sign-in failed · jeugdbrug console');
    await expectSummaryLeadsTo(page, 'credential', /^Sign-in failed: the key or token is not accepted/);
  });

  it('auditor search: a wrong BSN and dates the wrong way round each lead to their field', async () => {
    const page = await signedIn('auditor');
    await page.fill('input[name=bsn]', '123456789');
    await page.click('form.search button');
    await expectSummaryLeadsTo(page, 'bsn', /^BSN van het kind: geen geldig BSN/);
    // The BSN's help stays in its description, beside its error.
    await expect(page.locator('#bsn').getAttribute('aria-describedby')).resolves.toBe('bsn-help bsn-error');
    await expect(page.locator('#to').getAttribute('aria-invalid')).resolves.toBeNull();

    await page.fill('input[name=bsn]', '');
    await page.fill('input[name=from]', '2026-03-01');
    await page.fill('input[name=to]', '2026-02-01');
    await page.click('form.search button');
    await expectSummaryLeadsTo(page, 'to', /ligt na die bij ‘Tot en met’/);
    await expect(page.locator('#bsn').getAttribute('aria-invalid')).resolves.toBeNull();
  });

  it("auditor: the child's overview and consents name the BSN field, which says it is required", async () => {
    const page = await signedIn('auditor');
    for (const path of ['/console/auditor/overview', '/console/auditor/consents']) {
      await page.goto(`${base}${path}`);
      await expect(page.locator('form.search label').first().textContent()).resolves.toContain('(verplicht)');
      await page.fill('input[name=bsn]', '123456789');
      await page.click('form.search button');
      await expectSummaryLeadsTo(page, 'bsn', /^BSN van het kind: geen geldig BSN/);
    }
  });

  it('operator: an event id that finds nothing is said above the form, leading to the id field', async () => {
    const page = await signedIn('operator');
    const res = await page.goto(`${base}/console/operator/events?id=00000000-0000-4000-8000-000000000000`);
    expect(res?.status()).toBe(404);
    await expectSummaryLeadsTo(page, 'id', /geen event met deze id gevonden/);
  });

  it('municipality: a received-from day after the received-to day leads to the "to" field', async () => {
    const page = await signedIn('municipality');
    await page.goto(`${base}/console/municipality/referrals?from=2026-03-01&to=2026-02-01`);
    await expectSummaryLeadsTo(page, 'to', /ligt na die bij ‘Tot en met’/);
  });

  // report-xmuni L3: a BSN typed as the referral number went into the address of the GET form's answer.
  it('municipality: a BSN typed as the referral number is refused before it is sent, and by the server without script', async () => {
    const page = await signedIn('municipality');
    await page.goto(`${base}/console/municipality/referrals`);
    await page.fill('input[name=referral]', '111 222 333');
    await page.click('form.search button');
    // Not sent: the address stays as it was, and the field says why in the page's language.
    expect(page.url()).toBe(`${base}/console/municipality/referrals`);
    await expect(
      page.locator('input[name=referral]').evaluate((i: { validationMessage: string }) => i.validationMessage),
    ).resolves.toMatch(/^Verwijzingsnummer: dit lijkt een BSN\./);
    // Corrected, it is searched.
    await page.fill('input[name=referral]', 'R-1');
    await Promise.all([page.waitForURL(/referral=R-1/), page.click('form.search button')]);
    // Without the script (a request sent anyway): out of the address, said above the form, leading to the field.
    await page.goto(`${base}/console/municipality/referrals?referral=111222333`);
    expect(page.url()).not.toContain('111222333');
    await expectSummaryLeadsTo(page, 'referral', /^Verwijzingsnummer: dit lijkt een BSN\./);
  });

  it('operator: a pause needs its reason, said in the label, refused without one; one without (API) says so in Dutch', async () => {
    const page = await signedIn('operator');
    await page.goto(`${base}/console/operator/destinations`);
    const form = page.locator('form[action$="/gm0226/pause"]');
    await expect(form.locator('label').textContent()).resolves.toContain('(verplicht)');
    // A post without a reason (a browser without form validation, a script): refused, nothing paused.
    await form
      .locator('input[name=reason]')
      .evaluate((input: { removeAttribute(n: string): void }) => input.removeAttribute('required'));
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/gm0226/pause')),
      form.locator('button').click(),
    ]);
    expect(refused.status()).toBe(422);
    await expectSummaryLeadsTo(page, 'reason-gm0226', /^Reden van pauze voor gm0226: vul in waarom u pauzeert/);
    const status = async () =>
      (await (await h.app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' })).json()) as {
        paused: boolean;
        pauseReason?: string | null;
      };
    expect((await status()).paused).toBe(false);

    await page.fill('#reason-gm0226', 'storing bij de gemeente');
    await page.click('form[action$="/gm0226/pause"] button');
    expect(await status()).toEqual(expect.objectContaining({ paused: true, pauseReason: 'storing bij de gemeente' }));
    await page.click('form[action$="/gm0226/resume"] button');

    // Paused through the API without a reason: the Dutch page says so in Dutch, not the API's English default.
    const paused = await h.app.request('/admin/v1/destinations/gm0226/pause', { key: 'operator', json: {} });
    expect(paused.status).toBe(200);
    await page.goto(`${base}/console/operator/destinations`);
    const health = await page.locator('main table').textContent();
    expect(health).toContain('gepauzeerd door een beheerder (api-key:operator), zonder reden');
    expect(health).not.toContain('paused by an operator');
    await expectAccessible(page);
    await page.click('form[action$="/gm0226/resume"] button');

    // The loaded configuration names a destination's authentication in Dutch words too ("auth", "none" before).
    await page.goto(`${base}/console/operator/configuration`);
    const destinations = page.locator('main table').nth(1);
    await expect(destinations.locator('thead').textContent()).resolves.toContain('Authenticatie');
    await expect(destinations.locator('tbody tr').first().locator('td').last().textContent()).resolves.toBe('geen');
  });

  it('titles each error page by what it is, in the language of the page', async () => {
    const page = await signedIn('auditor');
    const titles: Record<string, string> = {};
    const titleOf = async (name: string, path: string, status: number) => {
      const res = await page.goto(`${base}${path}`);
      expect([name, res?.status()]).toEqual([name, status]);
      titles[name] = await page.title();
      await expect(page.locator('h1').textContent()).resolves.toBe(titles[name].replace(/ · jeugdbrug console$/, ''));
      await expectAccessible(page);
    };
    await titleOf('404', '/console/auditor/no-such-page', 404);
    // Refused before the console's router (a trailing slash, app.ts): a console page too, not the API's JSON.
    await titleOf('404 before the console', '/console/auditor/', 404);
    await titleOf('403', '/console/operator/destinations', 403);
    // An unexpected error in a page (here: the loaded configuration unreadable for a moment).
    const ctx = h.app.rt.ctx as unknown as Record<string, unknown>;
    const registry = ctx.registry;
    Object.defineProperty(ctx, 'registry', {
      configurable: true,
      get() {
        throw new TypeError('unreadable for this test');
      },
    });
    try {
      await titleOf('500', '/console/auditor/report', 500);
    } finally {
      Object.defineProperty(ctx, 'registry', { configurable: true, writable: true, value: registry });
    }
    await expect(page.locator('main').textContent()).resolves.toContain('fout in de server');
    // The session ended (idle, signed out elsewhere): the sign-in page says so in its title.
    await endConsoleSession(page, h.app.testEnv.prefix);
    await titleOf('session ended', '/console/auditor', 200);
    expect(titles).toEqual({
      '404': 'Niet gevonden · jeugdbrug console',
      '404 before the console': 'Niet gevonden · jeugdbrug console',
      '403': 'Geen toegang · jeugdbrug console',
      '500': 'Fout in de server · jeugdbrug console',
      'session ended': 'Sessie verlopen · jeugdbrug console',
    });

    await toEnglish(page);
    await expect(page.title()).resolves.toBe('Session ended · jeugdbrug console');
    const english = await browser.newPage();
    await english.context().addCookies([{ name: 'jb_lang', value: 'en', url: base }]);
    await signIn(english, base, h.app.testEnv.keys.auditor);
    await english.goto(`${base}/console/auditor/no-such-page`);
    await expect(english.title()).resolves.toBe('Not found · jeugdbrug console');
    await english.goto(`${base}/console/operator/destinations`);
    await expect(english.title()).resolves.toBe('Access refused · jeugdbrug console');
    // The refused pages are the failed loads these pages may log.
    browser.problems.splice(0, browser.problems.length, ...browser.problems.filter((p) => !p.includes('status of')));
  });
});
