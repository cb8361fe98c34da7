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

  it('is for an auditor only (403 naming format); the JSON overview is as before', async () => {
    for (const key of ['operator', 'municipality'] as const) {
      const res = await download('csv', key);
      expect(res.status).toBe(403);
      expect(JSON.stringify(await res.json())).toContain('"format"');
    }
    expect((await download('pdf')).status).toBe(400);
  });
});
