import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { AUDIT_REFUSAL_SYSTEM, CHAIN_PROBLEM_SYSTEM } from '../../src/audit/refusal-codes';
import { verifyExportText } from '../../src/reports/audit-export/export';
import { asSuperuser, changeRowContent, restoreRowContent } from '../helpers/audit-tamper';
import { OTHER_PRACTICE_AGB, PRACTICE_AGB, PRACTICE_NAME } from '../helpers/builders';
import { queryOf, recordedReads } from '../helpers/audit-reads';
import { formFields, useConsoleApp } from '../helpers/console-client';
import { namedPracticesRegistry, type TestApp } from '../helpers/test-runtime';

const TAMPERED = 3;
/** The chain as the console names it: the practice's name from its agreement, its AGB code beside it. */
const CHAIN = `${PRACTICE_NAME} (${PRACTICE_AGB})`;

async function grow(app: TestApp, tenant: string, rows: number): Promise<void> {
  for (let i = 0; i < rows; i++) {
    await app.rt.ctx.audit.append(tenant, operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'x/y' }));
  }
  await app.rt.ctx.audit.flush();
}

/** The section of a page under the heading with id `id`. */
const sectionOf = (page: string, id: string): string =>
  new RegExp(`<section aria-labelledby="${id}"[\\s\\S]*?</section>`).exec(page)?.[0] ?? '';

// The API could acknowledge a chain's break (POST /audit/v1/acknowledge), the console could not: an auditor read "an
// auditor acknowledges it (POST /audit/v1/acknowledge)" on a page without a form for it. Nor did the console show a
// chain's integrity history (broken, acknowledged by whom, intact again), and a refused export was worded by the
// English start of the API's message.
describe("the auditor console's chain incident: acknowledge, history, export refusal", () => {
  const h = useConsoleApp(['auditor'], { registry: namedPracticesRegistry() });
  const c = h.consoles;
  const verifyPage = async (tenant: string, cookie?: string) =>
    (await c.auditor.get(`/console/auditor/verify?tenant=${tenant}`, cookie ? { cookie } : {})).text();

  const acknowledgementsRecorded = async () =>
    (await h.app.rt.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_chain_acknowledgement'))[0]?.n;

  beforeAll(async () => {
    await grow(h.app, PRACTICE_AGB, 8);
    await grow(h.app, OTHER_PRACTICE_AGB, 4);
    await h.app.rt.ctx.signedHeads.signer.signNow();
    await changeRowContent(h.app.testEnv.schema, PRACTICE_AGB, TAMPERED);
  });

  it('refuses the export of a chain known broken by a changed row, worded by the answer’s code', async () => {
    expect((await verifyPage(PRACTICE_AGB)).match(/class="notice error"/g)?.length).toBeGreaterThan(0);
    const api = await h.app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(api.status).toBe(409);
    const outcome = (await api.json()) as { issue: { details: { coding: { system: string; code: string }[] } }[] };
    expect(outcome.issue[0]?.details.coding).toEqual([
      { system: AUDIT_REFUSAL_SYSTEM, code: 'chain-known-broken' },
      { system: CHAIN_PROBLEM_SYSTEM, code: 'content-hash' },
    ]);
    const res = await c.auditor.get(`/console/auditor/export/download?tenant=${PRACTICE_AGB}`);
    expect(res.status).toBe(409);
    const page = await res.text();
    expect(page).toContain('de keten is gebroken: een rij is gewijzigd na het vastleggen');
    expect(page).not.toContain('herschreven of ingekort');
  });

  it('offers the form to acknowledge a broken chain, with a required reason and confirmation', async () => {
    const page = await verifyPage(PRACTICE_AGB);
    const form = sectionOf(page, 'ack-0-title');
    expect(form).toContain('action="/console/auditor/acknowledge"');
    expect(form).toMatch(/name="_csrf" value="[^"]+"/);
    expect(form).toMatch(/<textarea[^>]*name="reason"[^>]*required/);
    expect(form).toMatch(/<input[^>]*type="checkbox"[^>]*name="confirm"[^>]*required/);
    expect(form).toContain(`Ik heb de breuk bij rij ${TAMPERED} van keten ${CHAIN} onderzocht`);
    expect(formFields(page, '/console/auditor/acknowledge')).toMatchObject({
      tenant: PRACTICE_AGB,
      brokenAtSeq: String(TAMPERED),
    });
    // An intact chain has no such form.
    expect(await verifyPage(OTHER_PRACTICE_AGB)).not.toContain('action="/console/auditor/acknowledge"');
  });

  it('refuses the form without a reason or confirmation: an error summary, the fields marked, nothing recorded', async () => {
    const res = await c.auditor.post('/console/auditor/acknowledge', {
      tenant: PRACTICE_AGB,
      brokenAtSeq: String(TAMPERED),
      reason: '  ',
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    const form = sectionOf(page, 'ack-0-title');
    // The error summary of form-fields.ts, as every console form has: each field it names a link to that field.
    expect(form).toMatch(/<div class="notice error" role="alert" id="form-error" tabindex="-1" autofocus>/);
    expect(form).toContain('De breuk is niet erkend; er is niets vastgelegd.');
    expect(form).toContain('<a href="#ack-0-reason" id="ack-0-reason-error">Reden van de erkenning: vul dit in.</a>');
    expect(form).toContain('<a href="#ack-0-confirm" id="ack-0-confirm-error">Bevestiging: vul dit in.</a>');
    expect(form).toMatch(
      /<textarea[^>]*id="ack-0-reason" aria-describedby="ack-0-reason-help ack-0-reason-error" aria-invalid="true"/,
    );
    expect(form).toMatch(
      /name="confirm"[^>]*id="ack-0-confirm" aria-describedby="ack-0-confirm-error" aria-invalid="true"/,
    );
    const english = await c.auditor.post(
      '/console/auditor/acknowledge',
      { tenant: PRACTICE_AGB, brokenAtSeq: String(TAMPERED), reason: 'checked' },
      { cookie: 'jb_lang=en' },
    );
    expect(english.status).toBe(400);
    expect(await english.text()).toContain('Confirmation: fill this in.');
    expect(await acknowledgementsRecorded()).toBe(0);
  });

  it('refuses a reason of fewer than a few words as the API does (422), said on the field, nothing recorded', async () => {
    const res = await c.auditor.post('/console/auditor/acknowledge', {
      tenant: PRACTICE_AGB,
      brokenAtSeq: String(TAMPERED),
      reason: 'ok',
      confirm: 'yes',
    });
    expect(res.status).toBe(422);
    const form = sectionOf(await res.text(), 'ack-0-title');
    expect(form).toMatch(/<div class="notice error" role="alert" id="form-error" tabindex="-1" autofocus>/);
    expect(form).toContain(
      '<a href="#ack-0-reason" id="ack-0-reason-error">Reden van de erkenning: te kort. Schrijf in een paar woorden wat is onderzocht en door wie.</a>',
    );
    expect(form).toMatch(/<textarea[^>]*id="ack-0-reason"[^>]*aria-invalid="true"[^>]*>\s*ok<\/textarea/);
    expect(form).toContain('Minstens 2 woorden en 12 tekens');
    expect(await acknowledgementsRecorded()).toBe(0);
  });

  it('says a refusal of the API in Dutch and English by its code, the API’s own text after it, the reason kept', async () => {
    const form = { tenant: PRACTICE_AGB, brokenAtSeq: '7', reason: 'Incident 2026-17', confirm: 'yes' };
    const res = await c.auditor.post('/console/auditor/acknowledge', form);
    expect(res.status).toBe(409);
    const page = await res.text();
    expect(page).toContain('Gebroken rij: opnieuw gecontroleerd is de keten bij een andere rij gebroken');
    expect(page).toMatch(/<span lang="en">brokenAtSeq: Not acknowledged: the chain is found broken at row 3 now/);
    expect(page).toMatch(/<textarea[^>]*>\s*Incident 2026-17<\/textarea/);
    // The form shown again is for the row verification names now.
    expect(formFields(page, '/console/auditor/acknowledge')).toMatchObject({ brokenAtSeq: String(TAMPERED) });
    const en = await (await c.auditor.post('/console/auditor/acknowledge', form, { cookie: 'jb_lang=en' })).text();
    expect(en).toContain('Broken row: verified again, the chain is broken at another row');
    expect(en).toContain('The break was not acknowledged; nothing was recorded.');
  });

  it('acknowledges the break with its reason, and shows it acknowledged, by whom and why, and in the history', async () => {
    const res = await c.auditor.post('/console/auditor/acknowledge', {
      tenant: PRACTICE_AGB,
      brokenAtSeq: String(TAMPERED),
      reason: 'Incident 2026-17: onderzocht met de security officer',
      confirm: 'yes',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/console/auditor/verify?tenant=${PRACTICE_AGB}&acknowledged=${TAMPERED}`);
    const page = await (await c.auditor.get(res.headers.get('location')!)).text();
    expect(page).toContain(`De breuk bij rij ${TAMPERED} van keten ${CHAIN} is erkend en vastgelegd.`);
    expect(page).toMatch(
      new RegExp(
        `Erkende breuk in keten ${PRACTICE_NAME} \\(${PRACTICE_AGB}\\): rij ${TAMPERED} \\([^)]*\\), erkend door api-key:[^ ]+ op `,
      ),
    );
    expect(page).toContain('Reden: Incident 2026-17: onderzocht met de security officer.');
    expect(page).not.toContain('action="/console/auditor/acknowledge"');
    const history = sectionOf(page, 'integrity-history');
    expect(history).toContain('Beschadigd gevonden');
    expect(history).toContain('Breuk erkend');
    expect(history).toMatch(/door api-key:[^;]+; reden: Incident 2026-17: onderzocht met de security officer/);
    // The API says the reason too.
    const api = await h.app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(await api.json()).toMatchObject({
      ok: true,
      acknowledgedBreak: { reason: 'Incident 2026-17: onderzocht met de security officer' },
    });
    const english = sectionOf(await verifyPage(PRACTICE_AGB, 'jb_lang=en'), 'integrity-history');
    expect(english).toContain('Break acknowledged');
    expect(english).toContain('reason: Incident 2026-17');
  });

  it('shows a chain found broken and then intact again in its history', async () => {
    const old = await changeRowContent(h.app.testEnv.schema, OTHER_PRACTICE_AGB, 2);
    await verifyPage(OTHER_PRACTICE_AGB);
    await restoreRowContent(h.app.testEnv.schema, OTHER_PRACTICE_AGB, 2, old);
    const history = sectionOf(await verifyPage(OTHER_PRACTICE_AGB), 'integrity-history');
    const rows = history.match(/<tr[\s\S]*?<\/tr>/g) ?? [];
    // Newest first: intact again, then found broken (at row 2).
    expect(rows[1]).toContain('Weer intact');
    expect(rows[2]).toContain('Beschadigd gevonden');
    expect(rows[2]).toContain('rij 2:');
  });

  it('refuses the export once an acknowledged row is changed again, coded and worded as a changed row', async () => {
    // Exported as NDJSON and as CSV, the acknowledged row verifies by its digest in either.
    for (const format of ['ndjson', 'csv']) {
      const res = await h.app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}&format=${format}`, { key: 'auditor' });
      expect(res.status).toBe(200);
      expect(verifyExportText(await res.text())).toMatchObject({ ok: true, acknowledgedBrokenRows: [TAMPERED] });
    }
    // Changed again, its hash still left alone: the same problem at the same row, but not the row acknowledged.
    await asSuperuser(h.app.testEnv.schema, (db) =>
      db.query(
        `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{action}', '"R"') WHERE tenant = $1 AND seq = $2`,
        [PRACTICE_AGB, TAMPERED],
      ),
    );
    const api = await h.app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(api.status).toBe(409);
    const outcome = (await api.json()) as { issue: { details: { coding: { code: string }[] } }[] };
    expect(outcome.issue[0]?.details.coding.map((x) => x.code)).toEqual([
      'chain-known-broken',
      'acknowledged-row-changed',
    ]);
    const page = await (await c.auditor.get(`/console/auditor/export/download?tenant=${PRACTICE_AGB}`)).text();
    expect(page).toContain('een rij is gewijzigd na het vastleggen');
  });

  it('pages the integrity history, newest first, in the API (_count, next) and the console (newer, older)', async () => {
    // 60 more changes of the chain than a console page shows (50): intact again, found by the scheduled check.
    await h.app.rt.ctx.db.query(
      `INSERT INTO audit_chain_integrity_history (tenant, verdict, found_by)
       SELECT $1, 'intact', 'full-verify' FROM generate_series(1, 60)`,
      [OTHER_PRACTICE_AGB],
    );
    const api = async (url: string) => {
      const res = await h.app.request(url, { key: 'auditor' });
      expect(res.status).toBe(200);
      return (await res.json()) as { changes: { tenant: string; verdict: string }[]; next?: string; previous?: string };
    };
    const first = await api(`/audit/v1/integrity-history?tenant=${OTHER_PRACTICE_AGB}&_count=58`);
    expect(first.changes).toHaveLength(58);
    expect(first.previous).toBeUndefined();
    expect(first.next).toMatch(/^\/audit\/v1\/integrity-history\?tenant=\d+&_count=58&_page=/);
    // The older page: the last two of the 60, then the chain's own history, oldest last (found broken at row 2).
    const second = await api(first.next!);
    expect(second.changes.map((c) => c.verdict)).toEqual(['intact', 'intact', 'intact', 'broken']);
    expect(second.next).toBeUndefined();
    expect((await api(second.previous!)).changes).toEqual(first.changes);
    // All chains in scope: both, newest first.
    const all = await api('/audit/v1/integrity-history?_count=500');
    expect(new Set(all.changes.map((c) => c.tenant))).toEqual(new Set([PRACTICE_AGB, OTHER_PRACTICE_AGB]));
    expect((await h.app.request('/audit/v1/integrity-history?_page=x', { key: 'auditor' })).status).toBe(400);

    const rowsOf = (page: string) => sectionOf(page, 'integrity-history').match(/<tr class[\s\S]*?<\/tr>/g) ?? [];
    const page1 = await verifyPage(OTHER_PRACTICE_AGB);
    expect(rowsOf(page1)).toHaveLength(50);
    const older = /<a href="([^"]+)" rel="next">Oudere →<\/a>/.exec(sectionOf(page1, 'integrity-history'))?.[1];
    expect(older).toMatch(new RegExp(`^/console/auditor/verify\\?tenant=${OTHER_PRACTICE_AGB}&amp;_page=`));
    expect(sectionOf(page1, 'integrity-history')).not.toContain('rel="prev"');
    const page2 = await (await c.auditor.get(older!.replace(/&amp;/g, '&'))).text();
    // The verification of each page's load adds nothing (the chain is intact, as last recorded): 12 rows remain.
    expect(rowsOf(page2)).toHaveLength(12);
    expect(rowsOf(page2).at(-1)).toContain('Beschadigd gevonden');
    expect(sectionOf(page2, 'integrity-history')).toMatch(/rel="prev">← Nieuwere<\/a>/);
    expect(sectionOf(page2, 'integrity-history')).not.toContain('rel="next"');
  });

  // The integrity history was read unrecorded, by the API and on the verify page, while every other read of the audit
  // log (a search, a verification, an export) is itself an AuditEvent (docs/audit.md "Reads are audited too").
  it('records each read of the integrity history, the API’s and the console’s, in the chains whose history it shows', async () => {
    const historyReads = () =>
      recordedReads(
        h.app,
        'https://jeugdbrug.nl/principal|api-key:auditor',
        "EXISTS (SELECT 1 FROM unnest(entities) e WHERE e LIKE 'audit_chain_integrity_history%')",
      );
    const readsAfter = async (ask: () => Promise<Response>) => {
      const before = new Set((await historyReads()).map((r) => r.id));
      expect((await ask()).status).toBe(200);
      return (await historyReads()).filter((r) => !before.has(r.id));
    };

    // One chain asked for: recorded in that chain, naming it, as a search of its history with the request made.
    const one = await readsAfter(() =>
      h.app.request(`/audit/v1/integrity-history?tenant=${PRACTICE_AGB}`, { key: 'auditor' }),
    );
    expect(one.map((r) => [r.tenant, r.subtype])).toEqual([[PRACTICE_AGB, 'search-type']]);
    expect(one[0]?.entities).toContain(`audit_chain_integrity_history/${PRACTICE_AGB}`);
    expect(queryOf(one[0])).toBe(`/audit/v1/integrity-history?tenant=${PRACTICE_AGB}`);
    // Every chain in scope: in each chain whose changes the page shows.
    const all = await readsAfter(() => h.app.request('/audit/v1/integrity-history?_count=500', { key: 'auditor' }));
    expect(all.map((r) => r.tenant).sort()).toEqual([PRACTICE_AGB, OTHER_PRACTICE_AGB].sort());
    expect(all.every((r) => r.entities.includes('audit_chain_integrity_history'))).toBe(true);

    // The console's verify page shows the history, asked or not: recorded as the API's read of the same page.
    const shown = await readsAfter(() => c.auditor.get(`/console/auditor/verify?tenant=${OTHER_PRACTICE_AGB}`));
    expect(shown.map((r) => [r.tenant, r.subtype])).toEqual([[OTHER_PRACTICE_AGB, 'search-type']]);
    expect(shown[0]?.entities).toContain(`audit_chain_integrity_history/${OTHER_PRACTICE_AGB}`);
    expect(queryOf(shown[0])).toBe(`/audit/v1/integrity-history?tenant=${OTHER_PRACTICE_AGB}&_count=50`);
    const bare = await readsAfter(() => c.auditor.get('/console/auditor/verify'));
    // Its first page of all chains shows the 50 newest changes, all of the chain given 60 above: only its chain.
    expect(bare.map((r) => r.tenant)).toEqual([OTHER_PRACTICE_AGB]);
    expect(bare[0]?.entities).toContain('audit_chain_integrity_history');
    expect(queryOf(bare[0])).toBe('/audit/v1/integrity-history?_count=50');
  });
});
