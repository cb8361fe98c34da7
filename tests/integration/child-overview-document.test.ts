import type { AuditEvent } from '@medplum/fhirtypes';
import { SYSTEM_TENANT } from '../../src/audit/audit-events';
import { publicKeysOf } from '../../src/audit/signed-heads';
import { verifySubjectAccessDocument } from '../../src/http/subject-access-document';
import { MUNICIPALITY } from '../helpers/builders';
import { appendChildDisclosures } from '../helpers/child-disclosures';
import { useTestApp } from '../helpers/test-runtime';

const BSN = '123456782';

// A privacy officer answering an access request (AVG art. 15) had only the overview's JSON (internal ids) or the
// whole practice's signed export (every child): nothing to hand to the parents. Now a signed document in words.
describe("the child's overview as a document to hand over", () => {
  const app = useTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });

  beforeAll(() => appendChildDisclosures(app, BSN, 2, 'document'));

  const download = (format: string, key: 'auditor' | 'operator' | 'municipality' = 'auditor') =>
    app.request('/audit/v1/overview', { key, method: 'POST', json: { patient: BSN, format } });

  it.each(['csv', 'html'])(
    'as %s: in words, the chains and rows it covers, their integrity, signed',
    async (format) => {
      const res = await download(format);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain(format === 'csv' ? 'text/csv' : 'text/html');
      expect(res.headers.get('content-disposition')).toMatch(
        new RegExp(`attachment; filename="inzage-overzicht-.*\\.${format}"`),
      );
      const text = await res.text();
      expect(text).toContain('Gegevens verstrekt');
      expect(text).toContain('verwijzing naar jeugdhulp');
      expect(text).toContain(MUNICIPALITY);
      expect(text).toMatch(/\d rijen \(rij 1 t\/m \d\); nog niet volledig gecontroleerd/);
      const keys = publicKeysOf(app.rt.ctx.signedHeads.keys);
      expect(verifySubjectAccessDocument(text, keys)).toMatchObject({ ok: true });
      // A changed copy is found out.
      expect(verifySubjectAccessDocument(text.replace('Gegevens verstrekt', 'Gegevens bekeken'), keys)).toMatchObject({
        ok: false,
      });
    },
  );

  // The signature covered only the bytes before its block: anything after the mark line (a paragraph appended after
  // the page's end, which browsers render and print; a CSV row after the signature) still verified.
  it.each(['csv', 'html'])('as %s: nothing may follow or change in the signature block', async (format) => {
    const text = await (await download(format)).text();
    const keys = publicKeysOf(app.rt.ctx.signedHeads.keys);
    const appended =
      format === 'html' ? `${text}<p>Gegevens verstrekt aan X</p>\n` : `${text}"Gegevens verstrekt aan X"\r\n`;
    expect(verifySubjectAccessDocument(appended, keys)).toEqual({
      ok: false,
      problem: expect.stringContaining('after'),
    });
    expect(verifySubjectAccessDocument(`${text}\n`, keys)).toMatchObject({ ok: false });
    // The block's words say who signed when: they must be the ones the signature stands for.
    const kid = /\(sleutel ([^)]+)\)/.exec(text)![1]!;
    expect(verifySubjectAccessDocument(text.replace(`(sleutel ${kid})`, '(sleutel x)'), keys)).toMatchObject({
      ok: false,
    });
  });

  it('as html: one page, its signature footer inside the body', async () => {
    const text = await (await download('html')).text();
    expect(text.match(/<\/html>/g)).toHaveLength(1);
    expect(text.match(/<\/body>/g)).toHaveLength(1);
    expect(text.indexOf('<footer>')).toBeLessThan(text.indexOf('</body>'));
    expect(text.trimEnd().endsWith('</html>')).toBe(true);
  });

  it('is recorded as a disclosure to the child, naming the document by its digest', async () => {
    const text = await (await download('csv')).text();
    const sha = /"sha256"":""([0-9a-f]{64})/.exec(text)?.[1];
    expect(sha).toBeDefined();
    const overview = (await (
      await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', json: { patient: BSN } })
    ).json()) as { entries: { kind: string; purpose?: string; resources?: string[] }[] };
    expect(overview.entries).toContainEqual(
      expect.objectContaining({ kind: 'disclosure', purpose: 'subject-access', resources: [`child_overview/${sha}`] }),
    );
  });

  it('is for an auditor only (403 naming format, the refusal recorded); the JSON overview is as before', async () => {
    for (const key of ['operator', 'municipality'] as const) {
      const [before] = await app.rt.ctx.db.query<{ seq: number }>(
        'SELECT COALESCE(MAX(seq), 0)::int AS seq FROM audit_event WHERE tenant = $1',
        [SYSTEM_TENANT],
      );
      const res = await download('csv', key);
      expect(res.status).toBe(403);
      expect(JSON.stringify(await res.json())).toContain('"format"');
      // Recorded like every other refusal: a Security Alert with outcome 4 saying what was refused, without the BSN.
      const refused = await app.rt.ctx.db.query<{ resource: AuditEvent }>(
        "SELECT resource::json AS resource FROM audit_event WHERE tenant = $1 AND seq > $2 AND resource::json->>'outcome' = '4'",
        [SYSTEM_TENANT, before!.seq],
      );
      expect(refused).toHaveLength(1);
      expect(refused[0]!.resource.type).toEqual(expect.objectContaining({ code: '110113' }));
      expect(refused[0]!.resource.outcomeDesc).toContain('format csv');
      expect(JSON.stringify(refused[0]!.resource)).not.toContain(BSN);
    }
    expect((await download('pdf')).status).toBe(400);
  });

  // report-xprivacy L3: a parent's request for a 16-year-old got the same hand-over, with no word that under the WGBO
  // the child decides and the data is confidential towards the parents.
  it('notes for a child of 16 or older on the day (birthDate given) that the child decides under the WGBO', async () => {
    const year = new Date().getUTCFullYear();
    const handOver = async (birthDate: string) =>
      app.request('/audit/v1/overview', {
        key: 'auditor',
        method: 'POST',
        json: { patient: BSN, format: 'csv', birthDate },
      });
    const sixteen = await (await handOver(`${year - 17}-01-01`)).text();
    expect(sixteen).toContain('onder de WGBO beslist het kind zelf');
    const thirteen = await (await handOver(`${year - 13}-01-01`)).text();
    expect(thirteen).not.toContain('WGBO');
    const bad = await handOver('01-01-2010');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('birthDate');
  });
});
