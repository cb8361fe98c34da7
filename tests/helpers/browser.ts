import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { TEST_REDIS_URL } from './test-runtime';

/** Debian's Chromium (`apt-get install chromium`); nothing here downloads a browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the browser tests save the screenshots the README shows. */
export const SCREENSHOT_DIR = path.join(__dirname, '..', '..', 'docs', 'screenshots');

export interface TestBrowser {
  readonly browser: Browser;
  /** A fresh context (its own cookies) whose pages record console errors and failed requests. */
  newPage(): Promise<Page>;
  /** Everything that went wrong in any page so far: console errors, page errors, CSP violations. */
  readonly problems: string[];
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile, as CI runs it (no sandbox: CI runs as root). */
export async function launchTestBrowser(): Promise<TestBrowser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  // Playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const problems: string[] = [];
  const contexts: BrowserContext[] = [];
  return {
    browser,
    problems,
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'nl-NL' });
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (msg) => {
        // A page the server answers with 4xx (a refusal a test asks for) is logged as a failed load of the document
        // itself; the test asserts that status. Any other failed resource, script error or CSP violation counts.
        const ownDocument = msg.text().startsWith('Failed to load resource') && msg.location().url === page.url();
        if (msg.type() === 'error' && !ownDocument) {
          problems.push(`console error on ${page.url()}: ${msg.text()}`);
        }
      });
      page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
      return page;
    },
    async close() {
      await Promise.all(contexts.map((c) => c.close()));
      await browser.close();
    },
  };
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page (evaluated, not injected as a tag, so the page's CSP stays as served). */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact: string | null; nodes: unknown[] }[] }> };
      }
    ).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}, ${v.nodes} nodes)`);
}

/** Signs in on the console's form with a credential; returns once the landing page has loaded. */
export async function signIn(page: Page, baseUrl: string, credential: string): Promise<void> {
  await page.goto(`${baseUrl}/console/sign-in`);
  await page.fill('#credential', credential);
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/sign-in')), page.click('form.sign-in button')]);
}

/**
 * Ends the page's console session where it is kept (Redis, under the test app's `prefix`), as an idle timeout or a
 * sign-out in another tab would: the browser still holds its cookie.
 */
export async function endConsoleSession(page: Page, prefix: string): Promise<void> {
  const token = (await page.context().cookies()).find((c) => c.name === 'jb_session')?.value ?? '';
  const redis = new Redis(TEST_REDIS_URL);
  try {
    await redis.del(`${prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`);
  } finally {
    redis.disconnect();
  }
}

/** Saves a full-page screenshot under docs/screenshots/. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/**
 * What does not fit the page at `width` px (a tablet held upright is 768): tables that scroll sideways inside their
 * box, and controls or links of the main content that stick out past the viewport's right edge. The viewport is
 * set back to the laptop width afterwards.
 */
export async function cutOffAt(page: Page, width: number): Promise<string[]> {
  const before = page.viewportSize();
  await page.setViewportSize({ width, height: 1024 });
  try {
    return await page.evaluate((viewport) => {
      // The few DOM members used here (the tests compile without the DOM's types).
      interface Box {
        readonly scrollWidth: number;
        readonly clientWidth: number;
        readonly tagName: string;
        readonly textContent: string | null;
        getBoundingClientRect(): { right: number };
        querySelector(selector: string): Box | null;
      }
      const doc = (
        globalThis as unknown as { document: { querySelectorAll(s: string): { forEach(f: (b: Box) => void): void } } }
      ).document;
      const problems: string[] = [];
      doc.querySelectorAll('main .table-wrap').forEach((wrap) => {
        if (wrap.scrollWidth > wrap.clientWidth + 1) {
          const caption = wrap.querySelector('caption')?.textContent?.trim() ?? '?';
          problems.push(`table "${caption}" scrolls: ${wrap.scrollWidth} px in ${wrap.clientWidth} px`);
        }
      });
      doc.querySelectorAll('main button, main input, main select, main a').forEach((el) => {
        const right = el.getBoundingClientRect().right;
        if (right > viewport + 1) {
          problems.push(
            `${el.tagName.toLowerCase()} "${el.textContent?.trim() ?? ''}" ends at ${Math.round(right)} px`,
          );
        }
      });
      return problems;
    }, width);
  } finally {
    await page.setViewportSize(before ?? { width: 1280, height: 860 });
  }
}
