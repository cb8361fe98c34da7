import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { amsterdamDateTime, amsterdamDay, dayAfter } from '../../src/kernel/dutch-time';
import { PRACTICE_AGB, PRACTICE_NAME } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { namedPracticesRegistry } from '../helpers/test-runtime';

// The export form's "Tot en met" was passed to the API's `to`, which is exclusive: the last day chosen was left out
// of a signed file that looked whole, and one day (Van = Tot en met) was refused as "geen geldige datum". The verify
// form's default choice ("Alle ketens") with its button did nothing, and a chain without rows was a bare 404 page.
describe("the auditor's export and verify forms do what their labels say", () => {
  const h = useConsoleApp(['auditor'], { registry: namedPracticesRegistry() });
  const c = h.consoles;
  const today = amsterdamDay(new Date());
  const yesterday = new Date(Date.parse(`${today}T12:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

  beforeAll(async () => {
    await h.app.rt.ctx.audit.append(
      PRACTICE_AGB,
      operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: 'test/export' }),
    );
    await h.app.rt.ctx.audit.flush();
  });

  /** The header line of an NDJSON export and the number of rows after it. */
  const exported = async (query: string) => {
    const res = await c.auditor.get(`/console/auditor/export/download?tenant=${PRACTICE_AGB}&${query}`);
    const text = await res.text();
    const [header = '{}', ...rows] = text.trim().split('\n');
    return {
      status: res.status,
      header: JSON.parse(res.status === 200 ? header : '{}') as Record<string, unknown>,
      rows,
    };
  };

  it("exports the rows of the 'Tot en met' day itself, up to the end of that day in Dutch time", async () => {
    const file = await exported(`from=${yesterday}&to=${today}`);
    expect(file.status).toBe(200);
    expect(file.rows.length).toBeGreaterThan(0);
    expect(file.header.to).toBe(new Date(amsterdamDateTime(dayAfter(today))).toISOString());
  });

  it('exports one day when Van and Tot en met are the same day', async () => {
    const file = await exported(`from=${today}&to=${today}`);
    expect(file.status).toBe(200);
    expect(file.header.from).toBe(new Date(amsterdamDateTime(today)).toISOString());
    expect(file.header.to).toBe(new Date(amsterdamDateTime(dayAfter(today))).toISOString());
    expect(file.rows.length).toBeGreaterThan(0);
  });

  it('labels the end date as included, in Dutch and in English, on the export and the search form alike', async () => {
    for (const path of ['/console/auditor/export', '/console/auditor']) {
      const nl = await (await c.auditor.get(path)).text();
      expect(nl).toMatch(/>Tot en met<input type="date" name="to"/);
      const en = await (await c.auditor.get(path, { cookie: 'jb_lang=en' })).text();
      expect(en).toMatch(/>Up to and including<input type="date" name="to"/);
    }
  });

  it('says that Van is after Tot en met when it is, and never calls a valid date invalid', async () => {
    const res = await c.auditor.get(
      `/console/auditor/export/download?tenant=${PRACTICE_AGB}&from=${today}&to=${yesterday}`,
    );
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('De datum bij ‘Van’ ligt na die bij ‘Tot en met’');
    expect(page).not.toContain('geen geldige datum');
  });

  it("runs the check of all chains from the form's default choice and its one button", async () => {
    const blank = await (await c.auditor.get('/console/auditor/verify')).text();
    // One form, one button: the default choice is all chains.
    // The form's and sign-out's; the idle-session warning (hidden until the session nears its end) has one of its own.
    const page = blank.replace(/<div\s+id="idle-warning"[\s\S]*?<\/div>/, '');
    expect(page).not.toBe(blank);
    expect(page.match(/<button/g)?.length).toBe(2);
    const res = await c.auditor.get('/console/auditor/verify?tenant=');
    expect(res.status).toBe(200);
    // Nothing was signed in this test's chain yet: consistent, and said to be unverified.
    const text = await res.text();
    expect(text).toMatch(new RegExp(`Keten ${PRACTICE_NAME} \\(01234567\\) is intern consistent \\(\\d+ rijen`));
    // The check just asked for is told apart from the table of the scheduled one below it.
    expect(text).toMatch(/<h2[^>]*>Controle op uw verzoek, nu<\/h2>/);
    expect(text).toContain('Geplande volledige controle');
  });

  it('shows the head hash and the signed checkpoint, and warns rather than says intact when none was signed', async () => {
    // The hash shown is that of the last row the page names (the page's own read is audited after it).
    const headHashOf = (page: string) => /<input type="text" readonly value="([0-9a-f]{64})"/.exec(page)?.[1];
    const hashAt = async (page: string) => {
      const seq = /laatste rij (\d+)/.exec(page)?.[1];
      const [row] = await h.app.rt.ctx.db.query<{ hash: string }>(
        'SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2',
        [PRACTICE_AGB, Number(seq)],
      );
      return row?.hash;
    };
    const verifyPage = async () => (await c.auditor.get(`/console/auditor/verify?tenant=${PRACTICE_AGB}`)).text();
    const api = async () =>
      (await (await h.app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' })).json()) as {
        signedCheckpoint: { kid: string; seq: number } | null;
      };
    // Nothing signed yet: consistent, but unverified (docs/audit.md), with the head hash to keep elsewhere.
    const unsigned = await verifyPage();
    const before = await api();
    expect(before.signedCheckpoint).toBeNull();
    expect(unsigned).toContain('class="notice warn"');
    expect(unsigned).toContain('beschouw haar als niet geverifieerd');
    expect(unsigned).not.toMatch(/Keten [^<]*01234567[^<]* is intact/);
    expect(headHashOf(unsigned)).toBe(await hashAt(unsigned));
    // Once a checkpoint is signed: intact, and against which checkpoint (key id, row).
    await h.app.rt.ctx.signedHeads.signer.signNow();
    const signed = await verifyPage();
    const after = await api();
    expect(after.signedCheckpoint).not.toBeNull();
    expect(signed).toMatch(new RegExp(`class="notice ok"[^>]*>\\s*Keten ${PRACTICE_NAME} \\(01234567\\) is intact`));
    expect(signed).toContain(`met sleutel ${after.signedCheckpoint!.kid}, bij rij ${after.signedCheckpoint!.seq}`);
    expect(headHashOf(signed)).toBe(await hashAt(signed));
  });

  it('says on the verify form that a chain in scope has no rows yet, rather than a bare 404 page', async () => {
    const res = await c.auditor.get(`/console/auditor/verify?tenant=${encodeURIComponent('destination/gm9999')}`);
    expect(res.status).toBe(404);
    const page = await res.text();
    expect(page).toContain('action="/console/auditor/verify"');
    expect(page).toContain('Keten destination/gm9999 heeft nog geen rijen');
  });

  // The auditor could not see how long jeugdbrug keeps what (only an operator reading the configuration could): the
  // verify page says the three terms in words, without the names of the settings (console-words).
  it('says the retention terms of content, identities and the audit log on the verify page', async () => {
    const res = await c.auditor.get('/console/auditor/verify');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('Bewaartermijnen');
    expect(page).toContain('30 dagen nadat het bericht is afgehandeld');
    expect(page).toContain('730 dagen nadat de verwijzing is ontvangen');
    expect(page).toContain('1826 dagen (ongeveer 5 jaar)');
    expect(page).not.toMatch(/RETENTION/);
  });

  // report-xprivacy M2: the page left out the consent registry (kept with the child's BSN, no retention job) and the
  // monitoring facts (pseudonymous, REPORT_RETENTION_DAYS): the FG could not tell a parent what is kept how long.
  it('says the retention terms of the consent registry and the monitoring facts too, and where erasure is described', async () => {
    const page = await (await c.auditor.get('/console/auditor/verify')).text();
    expect(page).toContain('Toestemmingsregister');
    expect(page).toContain('bewijs van de toestemming');
    expect(page).toContain('3653 dagen (ongeveer 10 jaar)');
    expect(page).toContain('docs/erasure.md');
    expect(page).not.toMatch(/RETENTION/);
  });
});

describe("an audit event's page leads back to the results it was opened from", () => {
  const h = useConsoleApp(['auditor']);
  const c = h.consoles;

  it('links back to the kept search (its page included), and offers no link for an address from elsewhere', async () => {
    await h.app.rt.ctx.audit.append(
      PRACTICE_AGB,
      operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: 'test/back' }),
    );
    await h.app.rt.ctx.audit.flush();
    const results = await c.auditor.submit('/console/auditor', {});
    const kept = new URL(results.url).searchParams.get('q') ?? '';
    const page = await results.text();
    const detail = /href="(\/console\/auditor\/audit-events\/[^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, '&') ?? '';
    const back = /<a href="([^"]+)"[^>]*>Terug naar de resultaten<\/a>/.exec(
      await (await c.auditor.get(detail)).text(),
    );
    expect(back?.[1]?.replace(/&amp;/g, '&')).toBe(`/console/auditor?q=${kept}`);

    const id = /audit-events\/([^?"]+)/.exec(detail)?.[1] ?? '';
    for (const elsewhere of [
      'https://evil.example/console/auditor?q=x',
      '/console/operator',
      '/console/auditor?q=<b>',
    ]) {
      const other = await (
        await c.auditor.get(`/console/auditor/audit-events/${id}?back=${encodeURIComponent(elsewhere)}`)
      ).text();
      expect(other).not.toContain('Terug naar de resultaten');
    }
  });
});
