import type { Page } from 'playwright-core';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { changeRowContent, restoreRowContent } from '../helpers/audit-tamper';
import { cutOffAt, launchTestBrowser, seriousA11yViolations, signIn, type TestBrowser } from '../helpers/browser';
import { PRACTICE_AGB, PRACTICE_NAME } from '../helpers/builders';
import { cleanupTestEnv, namedPracticesRegistry, startTestApp, type TestApp } from '../helpers/test-runtime';

const TAMPERED = 2;

// The console told an auditor to acknowledge a chain's break with `POST /audit/v1/acknowledge`, and offered no form:
// here the form, in a real browser, from a refusal to the chain acknowledged and its history.
describe("the auditor's acknowledgement of a chain break, in a real browser", () => {
  let app: TestApp;
  let browser: TestBrowser;
  let page: Page;
  let original = '';

  beforeAll(async () => {
    app = await startTestApp({
      registry: namedPracticesRegistry(),
      env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' },
    });
    for (let i = 0; i < 5; i++) {
      await app.rt.ctx.audit.append(
        PRACTICE_AGB,
        operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' }),
      );
    }
    await app.rt.ctx.audit.flush();
    await app.rt.ctx.signedHeads.signer.signNow();
    original = await changeRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED);
    browser = await launchTestBrowser();
    page = await browser.newPage();
    await signIn(page, app.url, app.testEnv.keys.auditor);
  });

  /** Fills in the form with `reason`, confirms, and sends it, to be refused: the page the POST answers. */
  const sendRefused = async (reason: string) => {
    await page.fill('textarea[name="reason"]', reason);
    await page.check('input[name="confirm"]');
    await Promise.all([
      page.waitForURL(/\/console\/auditor\/acknowledge$/),
      page.click('form[action="/console/auditor/acknowledge"] button[type="submit"]'),
    ]);
  };

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  it('asks for a reason and the confirmation before anything is sent', async () => {
    await page.goto(`${app.url}/console/auditor/verify?tenant=${PRACTICE_AGB}`);
    expect(await cutOffAt(page, 768)).toEqual([]);
    await expect(page.locator('.verdicts').textContent()).resolves.toMatch(
      new RegExp(`Keten ${PRACTICE_NAME} \\(${PRACTICE_AGB}\\) is GEBROKEN bij rij ${TAMPERED}`),
    );
    const form = page.locator('form[action="/console/auditor/acknowledge"]');
    await expect(form.count()).resolves.toBe(1);
    // The labels name the fields (getByLabel finds them by their label).
    await expect(page.getByLabel('Reden van de erkenning').count()).resolves.toBe(1);
    await form.locator('button[type="submit"]').click();
    await expect(page.locator('textarea[name="reason"]:invalid').count()).resolves.toBe(1);
    expect(new URL(page.url()).pathname).toBe('/console/auditor/verify');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('refuses a reason too short in an error summary, focused, its link leading to the reason', async () => {
    await sendRefused('ok');
    await expect(page.evaluate('document.activeElement && document.activeElement.id')).resolves.toBe('form-error');
    await expect(page.locator('#form-error').textContent()).resolves.toMatch(
      /De breuk is niet erkend[\s\S]*Reden van de erkenning: te kort/,
    );
    // The reason is described by its help and by the summary's words about it, and marked invalid.
    const reason = page.getByLabel('Reden van de erkenning');
    await expect(reason.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(reason.getAttribute('aria-describedby')).resolves.toBe('ack-0-reason-help ack-0-reason-error');
    await page.click('#ack-0-reason-error');
    await expect(page.evaluate('document.activeElement && document.activeElement.id')).resolves.toBe('ack-0-reason');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('shows a refusal focused, in the page language, when the chain is found intact again meanwhile', async () => {
    // The chain is put back meanwhile: verified again at the acknowledgement, there is no break to acknowledge.
    await restoreRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED, original);
    await sendRefused('Incident 2026-17');
    await expect(page.evaluate('document.activeElement && document.activeElement.id')).resolves.toBe('form-error');
    await expect(page.locator('#form-error').textContent()).resolves.toMatch(
      /De breuk is niet erkend[\s\S]*er is geen breuk om te erkennen/,
    );
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('nl');
    await expect(page.locator('#form-error [lang="en"]').textContent()).resolves.toContain('Not acknowledged');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('acknowledges the break, then shows it acknowledged, and its history', async () => {
    await changeRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED);
    await page.goto(`${app.url}/console/auditor/verify?tenant=${PRACTICE_AGB}`);
    await page.fill('textarea[name="reason"]', 'Incident 2026-17, onderzocht');
    await page.check('input[name="confirm"]');
    await Promise.all([
      page.waitForURL(/acknowledged=/),
      page.click('form[action="/console/auditor/acknowledge"] button[type="submit"]'),
    ]);
    await expect(page.locator('main').textContent()).resolves.toContain(
      `De breuk bij rij ${TAMPERED} van keten ${PRACTICE_NAME} (${PRACTICE_AGB}) is erkend en vastgelegd.`,
    );
    await expect(page.locator('.verdicts').textContent()).resolves.toContain('Reden: Incident 2026-17, onderzocht.');
    const history = page.locator('section[aria-labelledby="integrity-history"] tbody');
    // Newest first: acknowledged, found broken again, intact again (the refusal's verification), found broken.
    await expect(history.textContent()).resolves.toMatch(
      /Breuk erkend[\s\S]*Beschadigd gevonden[\s\S]*Weer intact[\s\S]*Beschadigd gevonden/,
    );
    await expect(page.locator('form[action="/console/auditor/acknowledge"]').count()).resolves.toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    // Readable on a tablet held upright: the history and the retention runs fit, no table scrolls sideways.
    expect(await cutOffAt(page, 768)).toEqual([]);
    expect(browser.problems).toEqual([]);
  });
});
