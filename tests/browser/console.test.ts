import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import type { Page } from 'playwright-core';
import {
  buildAgreement,
  buildConsentEvent,
  buildDestination,
  buildReferralEvent,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
  PRACTICE_NAME,
} from '../helpers/builders';
import {
  cutOffAt,
  endConsoleSession,
  launchTestBrowser,
  saveScreenshot,
  seriousA11yViolations,
  signIn,
  type TestBrowser,
} from '../helpers/browser';
import { LocalHttpServer } from '../helpers/local-server';
import { waitFor } from '../helpers/wait-for';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL, type KeyName } from '../helpers/test-runtime';
import { useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/** A page on another origin (another port) that posts a form to the console as soon as it loads. */
class AttackerSite extends LocalHttpServer {
  target = '';
  protected handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html lang="en"><body><form id="f" method="post" action="${this.target}">
<input name="destination" value=""></form><script>document.getElementById('f').submit()</script></body></html>`);
  }
  url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }
}

/** What the page's elements tell of where they are drawn (the tests compile without the DOM's types). */
interface DrawnElement {
  getBoundingClientRect(): { left: number; right: number; top: number; bottom: number };
  querySelectorAll(selector: string): Iterable<DrawnElement>;
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}

describe('the web console in a real browser', () => {
  // Legal basis consent: a referral without the consents a 14-year-old needs is denied, with a reason.
  const h = useDeliveryApp({
    // The practice named, as its agreement may name it: the auditor's pages call its chain so.
    agreement: buildAgreement({ legalBasis: 'consent', practice: { agb: PRACTICE_AGB, name: PRACTICE_NAME } }),
    destination: (r) =>
      buildDestination(r.url('/fhir'), { retry: { maxAttempts: 2, backoffBaseMs: 50, backoffMaxMs: 100 } }),
  });
  let browser: TestBrowser;
  let base: string;
  const delivered = buildReferralEvent();
  const denied = buildReferralEvent();
  const deadLetter = buildReferralEvent();
  const ids: Record<'delivered' | 'denied' | 'dead', string> = { delivered: '', denied: '', dead: '' };
  const bsnOf = (e: Record<string, unknown>) => (e.child as { bsn: string }).bsn;
  const bothConsent = { givenBy: [{ kind: 'child' as const }, { kind: 'guardian' as const, guardianId: 'g1' }] };

  beforeAll(async () => {
    base = h.app.url;
    browser = await launchTestBrowser();
    await h.submit(buildConsentEvent(delivered, bothConsent));
    ids.delivered = await h.submit(delivered);
    ids.denied = await h.submit(denied);
    await h.reachesState(ids.delivered, 'delivered');
    await h.reachesState(ids.denied, 'denied');
    h.receiver.mode = {
      kind: 'status',
      status: 422,
      body: JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'code-invalid',
            diagnostics: 'receiver refuses: unknown product code',
            expression: ['ServiceRequest.code'],
          },
        ],
      }),
    };
    await h.submit(buildConsentEvent(deadLetter, bothConsent));
    ids.dead = await h.submit(deadLetter);
    await h.reachesState(ids.dead, 'dead');
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(() => {
    // No console errors, page errors or CSP violations on any page a test visited.
    const problems = browser.problems.splice(0);
    expect(problems).toEqual([]);
  });

  const signedIn = async (key: KeyName): Promise<Page> => {
    const page = await browser.newPage();
    await signIn(page, base, h.app.testEnv.keys[key]);
    return page;
  };
  const expectAccessible = async (page: Page) => expect(await seriousA11yViolations(page)).toEqual([]);
  const auditRows = (sql: string, params: unknown[] = []) =>
    h.app.rt.ctx.db.query<Record<string, unknown>>(sql, params);

  it('refuses a wrong credential on the sign-in page, in Dutch by default, and the page is accessible', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${base}/console`);
    // A first visit is no ended session (until 6 December it said so).
    expect(page.url()).toBe(`${base}/console/sign-in`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(res?.headers()['content-security-policy']).not.toContain('unsafe-inline');
    expect(await page.locator('html').getAttribute('lang')).toBe('nl');
    await page.fill('#credential', 'jb_nope_wrong');
    await page.click('form.sign-in button');
    await expect(page.locator('.notice.error').textContent()).resolves.toContain('Aanmelden mislukt');
    await expectAccessible(page);
  });

  it('auditor: finds the disclosure of a child, sees it in words, verifies the chain, and every read is audited', async () => {
    const page = await signedIn('auditor');
    expect(new URL(page.url()).pathname).toBe('/console/auditor');
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'jb_session')).toEqual(
      expect.objectContaining({ httpOnly: true, sameSite: 'Strict', path: '/console' }),
    );

    await page.fill('input[name=bsn]', bsnOf(delivered));
    await page.selectOption('select[name=type]', 'disclose');
    await page.click('form.search button');
    await expect(page.locator('table tbody tr').first().textContent()).resolves.toContain(
      'Gegevens verstrekt aan Overbetuwe (GM0226)',
    );
    // The BSN went in the POST body: it is in no URL the browser visited.
    expect(page.url()).not.toContain(bsnOf(delivered));
    await saveScreenshot(page, 'console-auditor');
    await expectAccessible(page);

    await page.click('table tbody tr >> text=Details');
    await expect(page.locator('.summary').textContent()).resolves.toContain(
      'Gegevens verstrekt aan Overbetuwe (GM0226)',
    );
    await expect(page.locator('dl.facts').textContent()).resolves.toContain(bsnOf(delivered));
    // Back to the results, as they were: no "Confirm Form Resubmission" (the search is shown by GET of a kept form).
    await page.goBack();
    await expect(page.locator('table tbody tr').first().textContent()).resolves.toContain(
      'Gegevens verstrekt aan Overbetuwe (GM0226)',
    );
    await expect(page.locator('input[name=bsn]').inputValue()).resolves.toBe(bsnOf(delivered));
    expect(page.url()).not.toContain(bsnOf(delivered));

    await page.click('nav >> text=Verstrekkingen kind');
    await page.fill('input[name=bsn]', bsnOf(delivered));
    await page.click('form.search button');
    const overview = await page.locator('main').textContent();
    expect(overview).toContain('verstrekt');
    expect(overview).toContain('Overbetuwe GM0226');
    // Decided twice, told apart by when.
    expect(overview).toContain('besluit: toegestaan (bij ontvangst)');
    expect(overview).toContain('besluit: toegestaan (vlak voor verzending)');
    // Readable on a tablet held upright: no column cut off in a box that scrolls sideways.
    expect(await cutOffAt(page, 768)).toEqual([]);

    // Intact is said of a chain checked against a signed checkpoint (unsigned: a warning, console-export-verify-forms).
    await h.app.rt.ctx.audit.flush();
    await h.app.rt.ctx.signedHeads.signer.signNow();
    await page.click('nav >> text=Keten controleren');
    await page.selectOption('select[name=tenant]', '01234567');
    await page.click('form.search button');
    await expect(page.locator('.verdicts').textContent()).resolves.toMatch(
      new RegExp(`Keten ${PRACTICE_NAME} \\(01234567\\) is intact: \\d+ rijen`),
    );
    await expect(page.locator('.verdicts .head-hash input').first().inputValue()).resolves.toMatch(/^[0-9a-f]{64}$/);

    await page.click('nav >> text=Exporteren');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('form.search button')]);
    expect(download.suggestedFilename()).toMatch(/^audit-01234567-1-\d+\.ndjson$/);

    const reads = await auditRows(
      `SELECT subtype, patient_bsn FROM audit_event WHERE agents @> ARRAY[$1] AND type = 'rest' ORDER BY seq`,
      ['https://jeugdbrug.nl/principal|api-key:auditor'],
    );
    // The search and the overview named the child; the detail read the event of that child.
    expect(reads.filter((r) => r.patient_bsn === bsnOf(delivered)).map((r) => r.subtype)).toEqual(
      expect.arrayContaining(['search-type', 'read']),
    );
  });

  it("auditor: the verify form's one button checks all chains, its default choice", async () => {
    const page = await signedIn('auditor');
    await page.click('nav >> text=Keten controleren');
    await expect(page.locator('select[name=tenant]').inputValue()).resolves.toBe('');
    // One button on the form (until 6 December a second one below it did what the first should have done).
    await expect(page.locator('main button').count()).resolves.toBe(1);
    await h.app.rt.ctx.audit.flush();
    await h.app.rt.ctx.signedHeads.signer.signNow();
    await page.click('form.search button');
    await expect(page.locator('.verdicts').textContent()).resolves.toMatch(
      new RegExp(`Keten ${PRACTICE_NAME} \\(01234567\\) is intact: \\d+ rijen`),
    );
  });

  it('auditor: names the first broken row when a chain has been tampered with', async () => {
    const page = await signedIn('auditor');
    await h.app.rt.ctx.audit.flush();
    const db = h.app.rt.ctx.db;
    // Tampering needs the append-only trigger off, as a database superuser could do; the chain still tells.
    await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
    await db.query(
      `UPDATE audit_event SET resource = resource::jsonb || '{"outcome":"8"}' WHERE tenant = '01234567' AND seq = 2`,
    );
    await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
    await page.goto(`${base}/console/auditor/verify?tenant=01234567`);
    await expect(page.locator('.verdicts').textContent()).resolves.toMatch(
      new RegExp(`Keten ${PRACTICE_NAME} \\(01234567\\) is GEBROKEN bij rij 2`),
    );
  });

  it('operator: sees the dead letter with the receiver answer, replays it, and watches it delivered; counts stay true', async () => {
    const page = await signedIn('operator');
    await expect(page.locator('[data-dead="deliver.gm0226"]').textContent()).resolves.toBe('1');
    await saveScreenshot(page, 'console-operator');
    await expectAccessible(page);

    // The live counts change what changed, in place: the focus stays, and the rest is not announced again. A figure
    // gone stale and a focused link: after a refresh (the page's clock run on 5 s) the figure is back, in the same
    // table element as before, and the link still has the focus.
    await page.clock.install();
    await page.reload();
    const deadLink = page.locator('[data-dead="deliver.gm0226"] a');
    type Kept = { kept?: { isConnected: boolean } };
    await page
      .locator('#queues table')
      .first()
      .evaluate((t) => {
        (globalThis as Kept).kept = t;
      });
    await deadLink.evaluate((a) => {
      a.textContent = '7';
    });
    await deadLink.focus();
    await page.clock.runFor(5_000);
    await waitFor('the refreshed count', async () => (await deadLink.textContent()) === '1');
    expect(await page.evaluate(() => (globalThis as Kept).kept?.isConnected)).toBe(true);
    expect(await deadLink.evaluate((a) => a.ownerDocument.activeElement === a)).toBe(true);

    await page.click('nav >> text=Onbestelbaar');
    // The receiver's answer as a summary: its issue's codes and path, not its text (receiver-answer.ts).
    const deadTable = await page.locator('main table').textContent();
    expect(deadTable).toContain('error code-invalid ServiceRequest.code');
    expect(deadTable).not.toContain('receiver refuses');
    await expectAccessible(page);
    h.receiver.mode = { kind: 'ok' };
    await page.click(`form[action$="/replay"]:not([action$="dead-letters/replay"]) button`);
    expect(new URL(page.url()).pathname).toBe('/console/operator/replays');
    // The page refreshes itself (console.js) until the replayed delivery is through.
    await page.waitForSelector('#replay-summary:has-text("1 van 1 afgeleverd")', { timeout: 20_000 });
    expect((await h.state(ids.dead)).state).toBe('delivered');

    // The dead-letter count is the database's, and BullMQ's failed set no longer holds the replayed job.
    await page.click('nav >> text=Wachtrijen');
    await expect(page.locator('[data-dead="deliver.gm0226"]').textContent()).resolves.toBe('0');
    const counts = await h.app.rt.ctx.queues.getDeliverQueue('gm0226').getJobCounts('failed');
    expect(counts.failed).toBe(0);
    const api = (await (await h.app.request('/admin/v1/queues', { key: 'operator' })).json()) as {
      queues: { queue: string; state: string; count: number }[];
    };
    expect(api.queues.find((q) => q.queue === 'deliver.gm0226' && q.state === 'failed')?.count).toBe(0);

    await page.click('nav >> text=Bestemmingen');
    expect(await cutOffAt(page, 768)).toEqual([]);
    await page.fill('input[name=reason]', 'onderhoud bij de gemeente');
    await page.click('form[action$="/pause"] button');
    await expect(page.locator('main table').textContent()).resolves.toContain(
      'gepauzeerd door een beheerder (api-key:operator): onderhoud bij de gemeente',
    );
    await page.click('form[action$="/resume"] button');
    await expect(page.locator('main table').textContent()).resolves.toContain('actief');

    await page.goto(`${base}/console/operator/events?id=${ids.denied}`);
    await expect(page.locator('ol.timeline').textContent()).resolves.toContain('geweigerd');
    await page.click('nav >> text=Configuratie');
    await expect(page.locator('main').textContent()).resolves.toContain('Geen configuratieproblemen gevonden.');
  });

  it('operator: the live counts do not keep an idle session alive; a failed refresh says so; an ended session says so, the page stays', async () => {
    const page = await signedIn('operator');
    await page.clock.install();
    await page.reload();
    const token = (await page.context().cookies()).find((c) => c.name === 'jb_session')?.value ?? '';
    const key = `${h.app.testEnv.prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    const redis = new Redis(TEST_REDIS_URL);
    try {
      // The idle expiry as if the operator had last done something a while ago: the page's refresh leaves it there.
      await redis.expire(key, 100);
      const refreshed = page.waitForResponse(`${base}/console/operator`);
      await page.clock.runFor(5_000);
      await refreshed;
      expect(await redis.ttl(key)).toBeLessThanOrEqual(100);

      // A refresh that fails (the server away) says the figures are no longer live; the next one that works clears it.
      await page.route(`${base}/console/operator`, (route) => route.abort());
      await page.clock.runFor(5_000);
      await page.waitForSelector('#queues-stale');
      expect(await page.locator('#queues-stale').textContent()).toContain('niet meer bijgewerkt');
      await page.unroute(`${base}/console/operator`);
      await page.clock.runFor(5_000);
      await page.waitForSelector('#queues-stale', { state: 'detached' });

      // The session ended (idle, signed out in another tab, key revoked): the page stays where it is (WCAG 2.2.1, no
      // move the user did not ask for), stops refreshing and says so, with a link to the sign-in page.
      await redis.del(key);
      await page.clock.runFor(5_000);
      const ended = page.getByRole('alertdialog', { name: 'Uw sessie is verlopen' });
      await ended.waitFor();
      expect(new URL(page.url()).pathname).toBe('/console/operator');
      await expect(ended.textContent()).resolves.toContain('sessie');
      await Promise.all([page.waitForURL(/\/console\/sign-in/), ended.getByRole('link').click()]);
      expect(page.url()).toBe(`${base}/console/sign-in?why=ended&back=%2Fconsole%2Foperator`);
      await expect(page.locator('.notice').textContent()).resolves.toContain('sessie');
    } finally {
      redis.disconnect();
    }
    // The aborted refresh is the one failed load this test asked for.
    browser.problems.splice(0, browser.problems.length, ...browser.problems.filter((p) => !p.includes('ERR_FAILED')));
  });

  it('municipality: sees its monitoring report and the referrals it received', async () => {
    const page = await signedIn('municipality');
    expect(new URL(page.url()).pathname).toBe('/console/municipality');
    // The monitoring report's groups, from the same read model as GET /municipality/v1/monitoring.
    await expect(page.locator('section.measure').count()).resolves.toBeGreaterThan(5);
    // Two CSV links: the default one, and one a Dutch Excel opens as columns.
    await expect(page.locator('a[href^="/console/municipality/report.csv"]').count()).resolves.toBe(2);
    // A period is chosen as the API names it: a quarter, a half-year or a year, not free dates.
    await expect(page.locator('input[name="from"]').count()).resolves.toBe(0);
    await page.selectOption('select[name="period"]', '2025-H2');
    await Promise.all([page.waitForURL(/period=2025-H2/), page.click('form.search button[type="submit"]')]);
    await expect(page.locator('p.period').textContent()).resolves.toBe('Periode: 2025-07-01 t/m 2025-12-31');
    // As drawn: no chart label runs over a bar or a value, or out of its chart.
    const overlaps = await page.$$eval('figure.chart svg', (charts: DrawnElement[]) =>
      charts.flatMap((chart) => {
        const frame = chart.getBoundingClientRect();
        const marks = [...chart.querySelectorAll('rect, .bar-value')].map((m) => m.getBoundingClientRect());
        return [...chart.querySelectorAll('.bar-label')].flatMap((label) => {
          const l = label.getBoundingClientRect();
          const over = marks.some((m) => l.left < m.right && m.left < l.right && l.top < m.bottom && m.top < l.bottom);
          return over || l.right > frame.right ? [`${chart.getAttribute('aria-label')}: ${label.textContent}`] : [];
        });
      }),
    );
    expect(overlaps).toEqual([]);
    await saveScreenshot(page, 'console-municipality');
    await expectAccessible(page);
    await page.click('nav >> text=Verwijzingen');
    // By the identifier the municipality received (the practice's referral id), not jeugdbrug's event id.
    const table = await page.locator('main table').textContent();
    expect(table).toContain((delivered.referral as { id: string }).id);
    expect(table).not.toContain(ids.delivered);
    await expectAccessible(page);
    // The referral's page, with the form to record its next status: as accessible as the rest.
    await page.locator('main table a', { hasText: 'Status terugmelden' }).first().click();
    await expect(page.locator('form.status-form select[name="status"]').count()).resolves.toBe(1);
    await expectAccessible(page);
  });

  it("practice's auditor: its practice's monitoring report, and neither another practice's nor the municipality's", async () => {
    const page = await signedIn('practiceAuditor');
    await page.click('nav >> text=Monitoring');
    expect(new URL(page.url()).pathname).toBe('/console/auditor/report');
    // The practice's figures, named as such, from the same read model as the API's report for this key.
    await expect(page.locator('p.practice').textContent()).resolves.toBe(`Praktijk: ${PRACTICE_AGB}`);
    await expect(page.locator('p.municipality').textContent()).resolves.toBe('Gemeente: Overbetuwe (GM0226)');
    await expect(page.locator('section.measure').count()).resolves.toBeGreaterThan(5);
    // No choice of "all practices" (the municipality's figures) nor of another practice: one practice, no select.
    await expect(page.locator('select[name="practice"]').count()).resolves.toBe(0);
    await expect(page.locator('main').textContent()).resolves.not.toContain('Alle praktijken');
    await expect(page.locator('a[href^="/console/auditor/report/report.csv"]').count()).resolves.toBe(2);
    await page.selectOption('select[name="period"]', '2025-H2');
    await Promise.all([page.waitForURL(/period=2025-H2/), page.click('form.search button[type="submit"]')]);
    await expect(page.locator('p.period').textContent()).resolves.toBe('Periode: 2025-07-01 t/m 2025-12-31');
    await expect(page.locator('p.practice').textContent()).resolves.toBe(`Praktijk: ${PRACTICE_AGB}`);
    await expectAccessible(page);
    const csv = await page.evaluate(async () =>
      (await fetch('/console/auditor/report/report.csv?period=2025-H2')).text(),
    );
    const api = await h.app.request('/municipality/v1/monitoring?period=2025-H2&_format=csv', {
      key: null,
      headers: { authorization: `Bearer ${h.app.testEnv.keys.practiceAuditor}` },
    });
    expect(csv).toBe(await api.text());

    // Another practice's figures, or the municipality's of another: refused, nothing of them on the page.
    for (const query of [`practice=${OTHER_PRACTICE_AGB}`, 'municipality=GM0344']) {
      const res = await page.goto(`${base}/console/auditor/report?period=2025-H2&${query}`);
      expect([query, res?.status()]).toEqual([query, 403]);
      await expect(page.locator('h1').textContent()).resolves.toBe('Geen toegang');
      await expect(page.locator('section.measure').count()).resolves.toBe(0);
    }
  });

  it('municipality: a status sent after the session ended is not recorded, said so; sign-in returns to the form', async () => {
    const page = await signedIn('municipality');
    await page.click('nav >> text=Verwijzingen');
    await page.locator('main table a', { hasText: 'Status terugmelden' }).first().click();
    const before = await auditRows(`SELECT 1 FROM audit_event WHERE type = '110107'`);
    // The status first (a step of its own), then its form.
    await page.selectOption('select[name="status"]', 'accepted');
    await Promise.all([page.waitForURL(/status=accepted/), page.click('form.status-choice button[type="submit"]')]);
    const formPage = page.url();
    // The session ends while the case worker fills in the form (idle timeout, signed out in another tab).
    await endConsoleSession(page, h.app.testEnv.prefix);
    await page.click('form.status-form button[type="submit"]');
    await page.waitForURL(/\/console\/sign-in/);
    // Back to the chosen status's form, its address with the choice.
    const { pathname, search } = new URL(formPage);
    expect(new URL(page.url()).searchParams.get('back')).toBe(`${pathname}${search}`);
    await expect(page.locator('.notice').textContent()).resolves.toContain('er is niets vastgelegd of verstuurd');
    await expectAccessible(page);
    // Signed in again: back on the referral's page, where the status can be sent again; nothing was sent silently.
    await page.fill('#credential', h.app.testEnv.keys.municipality);
    await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/sign-in')), page.click('form.sign-in button')]);
    expect(page.url()).toBe(formPage);
    await expect(page.locator('form.status-form').count()).resolves.toBe(1);
    await h.app.rt.ctx.audit.flush();
    expect(await auditRows(`SELECT 1 FROM audit_event WHERE type = '110107'`)).toHaveLength(before.length);
  });

  it('municipality: warned before the idle end; "stay signed in" renews the session and keeps what was typed', async () => {
    const page = await signedIn('municipality');
    await page.clock.install();
    await page.click('nav >> text=Verwijzingen');
    await page.locator('main table a', { hasText: 'Status terugmelden' }).first().click();
    await page.selectOption('select[name="status"]', 'accepted');
    await Promise.all([page.waitForURL(/status=accepted/), page.click('form.status-choice button[type="submit"]')]);
    const formPage = page.url();
    const note = page.locator('textarea[name="reason"]');
    await note.fill('Intake gepland');
    const warning = page.getByRole('alertdialog', { name: 'Uw sessie verloopt bijna' });
    await expect(warning.isVisible()).resolves.toBe(false);
    const token = (await page.context().cookies()).find((c) => c.name === 'jb_session')?.value ?? '';
    const key = `${h.app.testEnv.prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    const redis = new Redis(TEST_REDIS_URL);
    try {
      // 28 of the 30 idle minutes later (the session's own expiry as if so too): the warning, the focus on its button.
      await redis.expire(key, 100);
      await page.clock.fastForward('28:00');
      await warning.waitFor();
      await expect(warning.textContent()).resolves.toContain('2 minuten');
      await expect(page.evaluate('document.activeElement && document.activeElement.textContent')).resolves.toBe(
        'Aangemeld blijven',
      );
      await expectAccessible(page);
      // Enter on the button renews the session in the background: same page, the note still there, focus back on it.
      const renewed = page.waitForResponse(`${base}/console/session/renew`);
      await page.keyboard.press('Enter');
      expect((await renewed).status()).toBe(200);
      await warning.waitFor({ state: 'hidden' });
      expect(await redis.ttl(key)).toBeGreaterThan(100);
      expect(page.url()).toBe(formPage);
      await expect(note.inputValue()).resolves.toBe('Intake gepland');
      await expect(
        page.evaluate("document.activeElement && document.activeElement.getAttribute('name')"),
      ).resolves.toBe('reason');

      // Left unanswered while the session ends: the box says so and links to the sign-in page; the page stays.
      await redis.del(key);
      await page.clock.fastForward('30:00');
      const ended = page.getByRole('alertdialog', { name: 'Uw sessie is verlopen' });
      await ended.waitFor();
      expect(page.url()).toBe(formPage);
      const { pathname, search } = new URL(formPage);
      const signInLink = new URL((await ended.getByRole('link').getAttribute('href')) ?? '', base);
      expect(signInLink.searchParams.get('back')).toBe(`${pathname}${search}`);
    } finally {
      redis.disconnect();
    }
  });

  it('"stay signed in" without script returns to its page, and like every console POST needs the CSRF token', async () => {
    const page = await signedIn('auditor');
    const csrf = (await page.locator('#idle-warning input[name="_csrf"]').getAttribute('value')) ?? '';
    const origin = { origin: base };
    const refused = await page.request.post(`${base}/console/session/renew`, {
      form: { back: '/console/auditor/verify' },
      headers: origin,
      maxRedirects: 0,
    });
    expect(refused.status()).toBe(403);
    const renewed = await page.request.post(`${base}/console/session/renew`, {
      form: { _csrf: csrf, back: '/console/auditor/verify' },
      headers: origin,
      maxRedirects: 0,
    });
    expect(renewed.status()).toBe(303);
    expect(renewed.headers().location).toBe('/console/auditor/verify');
    const elsewhere = await page.request.post(`${base}/console/session/renew`, {
      form: { _csrf: csrf, back: '//evil.example/console' },
      headers: origin,
      maxRedirects: 0,
    });
    expect(elsewhere.headers().location).toBe('/console');
  });

  it('practice: sees its denied event and, in words, whose consent is missing', async () => {
    const page = await signedIn('practice');
    const row = page.locator(`tr:has-text("${String(denied.eventId)}")`);
    await expect(row.textContent()).resolves.toContain('geweigerd');
    await expect(row.textContent()).resolves.toContain('toestemming van het kind ontbreekt');
    await saveScreenshot(page, 'console-practice');
    await expectAccessible(page);
    await row.locator('a').click();
    const why = await page.locator('section.why').textContent();
    // By the practice's own ids, as its HIS sent them.
    const child = (denied.child as { id: string }).id;
    expect(why).toContain(`Ontbreekt bij: het kind (${child})`);
    expect(why).toContain('Moeder met gezag (g1)');
    await expectAccessible(page);
  });

  it('switches to English and back', async () => {
    const page = await signedIn('practice');
    await page.click('header a.lang');
    await expect(page.locator('h1').textContent()).resolves.toBe("The practice's events");
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    // The relationship the HIS sent (a code, shown in Dutch by its display) in English too.
    await page.locator(`tr:has-text("${String(denied.eventId)}") a`).click();
    await expect(page.locator('section.why').textContent()).resolves.toContain('Mother with parental authority (g1)');
    await page.goBack();
    await page.click('header a.lang');
    await expect(page.locator('h1').textContent()).resolves.toBe('Events van de praktijk');
  });

  it('refuses a page of another role, audited as a refusal', async () => {
    const page = await signedIn('practice');
    const res = await page.goto(`${base}/console/operator/dead-letters`);
    expect(res?.status()).toBe(403);
    await expect(page.locator('h1').textContent()).resolves.toBe('Geen toegang');
    await expectAccessible(page);
    await h.app.rt.ctx.audit.flush();
    const refusals = await auditRows(
      `SELECT resource::json->>'outcomeDesc' AS why FROM audit_event WHERE subtype = 'AuthZ-Role' AND outcome = '4'
         AND agents @> ARRAY['https://jeugdbrug.nl/principal|api-key:practice']`,
    );
    expect(refusals.map((r) => r.why)).toContain('refused GET /console/operator/dead-letters');
  });

  it('refuses a cross-site form post and a post without the CSRF token, changing nothing', async () => {
    const page = await signedIn('operator');
    const attacker = await new AttackerSite().start();
    try {
      attacker.target = `${base}/console/operator/dead-letters/replay`;
      const replaysBefore = await auditRows(`SELECT 1 FROM audit_event WHERE subtype = 'replay'`);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/console/operator/dead-letters/replay')),
        page.goto(attacker.url()),
      ]);
      expect(response.status()).toBe(403);
      await expect(page.locator('h1').textContent()).resolves.toBe('Verzoek geweigerd');

      await page.goto(`${base}/console/operator`);
      const status = await page.evaluate(async () => {
        const res = await fetch('/console/operator/dead-letters/replay', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: '_csrf=forged',
        });
        return res.status;
      });
      expect(status).toBe(403);
      // That refused fetch is the one failed load this page may log.
      expect(browser.problems.splice(0)).toEqual([expect.stringContaining('status of 403')]);
      expect(await auditRows(`SELECT 1 FROM audit_event WHERE subtype = 'replay'`)).toHaveLength(replaysBefore.length);
    } finally {
      await attacker.stop();
    }
  });

  it('signs out: the session is gone, and its cookie no longer opens a page', async () => {
    const page = await signedIn('auditor');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'jb_session');
    await page.click('header form button');
    expect(page.url()).toBe(`${base}/console/sign-in?why=out`);
    await page.goto(`${base}/console/auditor`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    const replayed = await fetch(`${base}/console/auditor`, {
      headers: { cookie: `jb_session=${cookie?.value ?? ''}` },
      redirect: 'manual',
    });
    expect(replayed.status).toBe(303);
    // Nothing personal in what the product logged while the console was used.
    const log = fs.readFileSync(h.app.testEnv.logFile, 'utf8');
    for (const e of [delivered, denied, deadLetter]) {
      expect(log).not.toContain(bsnOf(e));
    }
  });

  it('municipality: a status is chosen first; a rejection needs its reason and a tick; a refusal takes the focus', async () => {
    // report-xpolicy M1, L4, L5, L6: a rejection sent by a slip (arrow keys on the status, Enter in the date), past
    // about 35 tab stops of other statuses' fields, with the error not tied to any field.
    const referral = buildReferralEvent();
    const referralId = (referral.referral as { id: string }).id;
    await h.submit(buildConsentEvent(referral, bothConsent));
    await h.reachesState(await h.submit(referral), 'delivered');
    const page = await signedIn('municipality');
    await page.goto(`${base}/console/municipality/referrals?referral=${referralId}`);
    // The link names its referral.
    await page.getByRole('link', { name: `Status terugmelden voor verwijzing ${referralId}` }).click();
    const status = page.locator('select[name="status"]');
    await expect(status.inputValue()).resolves.toBe('');
    await expect(page.locator('select[name="reasonCode"], input[name="decisionNumber"]').count()).resolves.toBe(0);
    await status.selectOption('rejected');
    await Promise.all([page.waitForURL(/status=rejected/), page.click('form.status-choice button[type="submit"]')]);
    // Only a rejection's own fields: the date, the reason and its explanation, and the confirmation.
    const controls = page.locator(
      'form.status-form input:not([type="hidden"]), form.status-form select, form.status-form textarea',
    );
    await expect(
      controls.evaluateAll((all: DrawnElement[]) => all.map((c) => c.getAttribute('name'))),
    ).resolves.toEqual(['date', 'reasonCode', 'reason', 'confirm']);
    // Enter in the date field sends nothing while the reason is not chosen.
    await page.press('input[name="date"]', 'Enter');
    await expect(page.locator('select[name="reasonCode"]:invalid').count()).resolves.toBe(1);
    expect(new URL(page.url()).searchParams.get('status')).toBe('rejected');
    // A reason and the tick, but a day after today: the server refuses, the focus goes to what it says, which the
    // field points at.
    await page.selectOption('select[name="reasonCode"]', 'other-municipality');
    await page.fill('input[name="date"]', '2099-01-15');
    await page.check('input[name="confirm"]');
    await Promise.all([page.waitForURL(/\/status$/), page.click('form.status-form button[type="submit"]')]);
    await expect(page.evaluate('document.activeElement && document.activeElement.id')).resolves.toBe('status-error');
    await expect(page.locator('input[name="date"]').getAttribute('aria-describedby')).resolves.toBe('status-error');
    await expect(page.locator('input[name="date"]').getAttribute('aria-invalid')).resolves.toBe('true');
    await expectAccessible(page);
    const api = await h.app.request(`/municipality/v1/referrals/${referralId}/status`, { key: 'municipality' });
    expect(((await api.json()) as { statusUpdates: unknown[] }).statusUpdates).toEqual([]);
  });

  it('municipality: finds a referral by its number; one the practice cancelled says so and offers no form', async () => {
    // Last: the other tests answer the newest referral of the list, which this one would make a cancelled one.
    const referral = buildReferralEvent();
    const referralId = (referral.referral as { id: string }).id;
    await h.submit(buildConsentEvent(referral, bothConsent));
    const referralEventId = await h.submit(referral);
    await h.reachesState(referralEventId, 'delivered');
    const cancelId = await h.submit({
      ...buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } }),
      occurredAt: '2026-11-21T09:00:00+01:00',
      child: referral.child,
      guardians: [],
    });
    await h.reachesState(cancelId, 'delivered');

    const page = await signedIn('municipality');
    await page.click('nav >> text=Verwijzingen');
    await page.fill('form.search input[name="referral"]', referralId);
    await Promise.all([page.waitForURL(/referral=/), page.click('form.search button[type="submit"]')]);
    // The number is in the address, never a BSN; the referral and its cancellation, both marked.
    expect(new URL(page.url()).searchParams.get('referral')).toBe(referralId);
    await expect(page.locator('main table tbody tr').count()).resolves.toBe(2);
    await expect(page.locator('main table tbody tr.cancelled').count()).resolves.toBe(2);
    await expect(page.locator('main table tbody tr').first().textContent()).resolves.toContain(
      'Ingetrokken door de praktijk op 21 nov 2026',
    );
    await expectAccessible(page);
    await page.locator('main table a', { hasText: 'Status terugmelden' }).first().click();
    await expect(page.locator('.notice.warn').textContent()).resolves.toContain(
      'De praktijk heeft deze verwijzing op 21 nov 2026 ingetrokken',
    );
    await expect(page.locator('form.status-form').count()).resolves.toBe(0);
    await expectAccessible(page);
  });

  it('reflows at 320 CSS px: charts shrink, wide tables scroll inside their own box', async () => {
    const widthAt320 = async (key: KeyName, path: string) => {
      const page = await signedIn(key);
      await page.setViewportSize({ width: 320, height: 640 });
      await page.goto(`${base}${path}`);
      const width = await page.evaluate('document.documentElement.scrollWidth');
      await page.close();
      return width;
    };
    // WCAG 1.4.10: no sideways scrolling of the whole page at 400 % zoom (1280 px / 4).
    await expect(widthAt320('municipality', '/console/municipality')).resolves.toBeLessThanOrEqual(320);
    await expect(widthAt320('operator', '/console/operator/destinations')).resolves.toBeLessThanOrEqual(320);
    await expect(widthAt320('operator', '/console/operator/configuration')).resolves.toBeLessThanOrEqual(320);
  });

  it('auditor: a BSN of the wrong form is explained as 9 digits by the browser, and the help says so', async () => {
    const page = await signedIn('auditor');
    await page.goto(`${base}/console/auditor/overview`);
    await page.fill('input[name="bsn"]', '1234');
    const message = await page.$eval(
      'input[name="bsn"]',
      (input: { validationMessage: string }) => input.validationMessage,
    );
    expect(message).toContain('9 cijfers');
    await expect(page.locator('#bsn-help').textContent()).resolves.toContain('9 cijfers');
  });
});
