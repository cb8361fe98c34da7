import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { changeRowContent, verifyOnSchedule } from '../helpers/audit-tamper';
import {
  buildConsentEvent,
  buildDestination,
  buildReferralEvent,
  OTHER_PRACTICE_AGB,
  OTHER_PRACTICE_NAME,
  PRACTICE_AGB,
  PRACTICE_NAME,
} from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { namedPracticesRegistry } from '../helpers/test-runtime';

const DESTINATION = 'destination/gm0226';
const PRACTICE = `${PRACTICE_NAME} (${PRACTICE_AGB})`;
const OTHER = `${OTHER_PRACTICE_NAME} (${OTHER_PRACTICE_AGB})`;
/** A regular expression of a text, taken literally (names hold parentheses). */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The integrity history, the retention runs and the acknowledge form named a chain by its practice's or municipality's
// name; the rest of the auditor's pages still said bare ids (01234567, destination/gm0226), which a person must look
// up: the verdicts, the integrity banner, the search results, the chain drop-downs and the scheduled verifications.
// Each now says the name with the id beside it (auditors quote ids).
describe("the auditor console names a chain by its practice's or municipality's name, its id beside it", () => {
  const h = useConsoleApp(['auditor'], { registry: namedPracticesRegistry([buildDestination('http://127.0.0.1:1')]) });
  const c = h.consoles;
  const get = async (path: string, cookie?: string) => (await c.auditor.get(path, cookie ? { cookie } : {})).text();

  beforeAll(async () => {
    for (const tenant of [PRACTICE_AGB, OTHER_PRACTICE_AGB, DESTINATION]) {
      for (let i = 0; i < 3; i++) {
        await h.app.rt.ctx.audit.append(
          tenant,
          operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'x/y' }),
        );
      }
    }
    await h.app.rt.ctx.audit.flush();
    await h.app.rt.ctx.signedHeads.signer.signNow();
  });

  it('offers the chains by name and id in the verify and export drop-downs, their values the ids', async () => {
    for (const path of ['/console/auditor/verify', '/console/auditor/export']) {
      const form = await get(path);
      expect(form).toMatch(new RegExp(`<option value="${PRACTICE_AGB}"\\s*>${literal(PRACTICE)}</option>`));
      expect(form).toMatch(new RegExp(`<option value="${OTHER_PRACTICE_AGB}"\\s*>${literal(OTHER)}</option>`));
      expect(form).toMatch(new RegExp(`<option value="${DESTINATION}"\\s*>Overbetuwe \\(${DESTINATION}\\)</option>`));
    }
  });

  it('says each verdict and scheduled verification of a chain with its name and id', async () => {
    const one = await get(`/console/auditor/verify?tenant=${PRACTICE_AGB}`);
    expect(one).toMatch(new RegExp(`Keten ${literal(PRACTICE)} is intact: \\d+ rijen`));
    const destination = await get(`/console/auditor/verify?tenant=${encodeURIComponent(DESTINATION)}`);
    expect(destination).toMatch(new RegExp(`Keten Overbetuwe \\(${DESTINATION}\\) is intact: \\d+ rijen`));
    expect(await get(`/console/auditor/verify?tenant=${PRACTICE_AGB}`, 'jb_lang=en')).toMatch(
      new RegExp(`Chain ${literal(PRACTICE)} is intact: \\d+ rows`),
    );
    await verifyOnSchedule(h.app);
    const all = await get('/console/auditor/verify?tenant=');
    expect(all).toMatch(new RegExp(`<td>${literal(PRACTICE)}</td>\\s*<td>[^<]+</td>\\s*<td>intact: \\d+ rijen</td>`));
    expect(all).toMatch(new RegExp(`<td>Overbetuwe \\(${DESTINATION}\\)</td>\\s*<td>[^<]+</td>\\s*<td>intact: `));
  });

  it("names the chain in the search results' column, and on an event's page in its banner and position", async () => {
    const results = await (await c.auditor.submit('/console/auditor', { type: 'operator' })).text();
    const rows = results.match(/<tr>[\s\S]*?<\/tr>/g) ?? [];
    expect(rows.some((r) => r.includes(`<td>${PRACTICE}</td>`))).toBe(true);
    expect(rows.some((r) => r.includes(`<td>${OTHER}</td>`))).toBe(true);
    expect(rows.filter((r) => new RegExp(`<td>${PRACTICE_AGB}</td>`).test(r))).toEqual([]);

    const [row] = await h.app.rt.ctx.db.query<{ id: string; seq: number }>(
      `SELECT id, seq::int AS seq FROM audit_event WHERE tenant = $1 ORDER BY seq LIMIT 1`,
      [PRACTICE_AGB],
    );
    const event = await get(`/console/auditor/audit-events/${row!.id}`);
    expect(event).toMatch(new RegExp(`Auditketen ${literal(PRACTICE)}: laatste volledige controle [^<]+, in orde\\.`));
    expect(event).toContain(`<dd>${PRACTICE} #${row!.seq}</dd>`);
  });

  it('names a broken chain in its verdict, the integrity banner and the acknowledge form, in Dutch and English', async () => {
    await changeRowContent(h.app.testEnv.schema, OTHER_PRACTICE_AGB, 2);
    const page = await get(`/console/auditor/verify?tenant=${OTHER_PRACTICE_AGB}`);
    expect(page).toMatch(new RegExp(`Keten ${literal(OTHER)} is GEBROKEN bij rij 2: `));
    expect(page).toMatch(new RegExp(`Let op: auditketen ${literal(OTHER)} is beschadigd`));
    expect(page).toContain(`Ik heb de breuk bij rij 2 van keten ${OTHER} onderzocht`);
    const english = await get(`/console/auditor/verify?tenant=${OTHER_PRACTICE_AGB}`, 'jb_lang=en');
    expect(english).toMatch(new RegExp(`Chain ${literal(OTHER)} is BROKEN at row 2: `));
    expect(english).toMatch(new RegExp(`Attention: audit chain ${literal(OTHER)} is damaged`));
  });

  it("names a consent's practice by its name and AGB code on the consents page", async () => {
    const referral = buildReferralEvent();
    const bsn = (referral.child as { bsn: string }).bsn;
    const res = await h.app.request('/his/v1/events', {
      json: buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }),
    });
    expect(res.status).toBe(202);
    const page = await (await c.auditor.submit('/console/auditor/consents', { bsn })).text();
    const rows = page.match(/<tr>[\s\S]*?<\/tr>/g) ?? [];
    expect(rows.some((r) => r.includes(`<td>${PRACTICE}</td>`))).toBe(true);
    expect(rows.filter((r) => r.includes(`<td>${PRACTICE_AGB}</td>`))).toEqual([]);
  });
});
