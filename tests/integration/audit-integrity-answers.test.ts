import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { changeRowContent } from '../helpers/audit-tamper';
import { PRACTICE_AGB } from '../helpers/builders';
import { appendChildDisclosures } from '../helpers/child-disclosures';
import { useTestApp } from '../helpers/test-runtime';

const BSN = '123456782';

interface Integrity {
  chain: string;
  state: string;
  checkedAt?: string;
  brokenSince?: string;
  brokenAtSeq?: number;
  problem?: string;
}

// The console warned on a chain known broken, the API did not: a privacy officer's script answering an access request
// from `/audit/v1/overview` or an AuditEvent search got a plain 200, a changed row silently absent.
describe('answers read from a chain say how far it is known intact', () => {
  const app = useTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });

  beforeAll(() => appendChildDisclosures(app, BSN, 3, 'integrity'));

  const overviewIntegrity = async (): Promise<Integrity[]> => {
    const res = await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', json: { patient: BSN } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { integrity: Integrity[] }).integrity;
  };
  const search = async (query: string): Promise<Bundle> => {
    const res = await app.request(`/fhir/AuditEvent?${query}`, { key: 'auditor' });
    expect(res.status).toBe(200);
    return (await res.json()) as Bundle;
  };
  const outcomes = (b: Bundle) =>
    (b.entry ?? []).filter((e) => e.search?.mode === 'outcome').map((e) => e.resource as OperationOutcome);

  it('is "not fully verified" before any whole verification, and "ok" once one found the chain intact', async () => {
    expect(await overviewIntegrity()).toEqual([{ chain: PRACTICE_AGB, state: 'not-fully-verified' }]);
    expect((await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' })).status).toBe(200);
    const [ok] = await overviewIntegrity();
    expect(ok).toEqual({ chain: PRACTICE_AGB, state: 'ok', checkedAt: expect.any(String) });
    expect(outcomes(await search(`patient=${BSN}`))).toEqual([]);
  });

  it('names the chain known broken and its row, in the overview and as an outcome entry of a search', async () => {
    await changeRowContent(app.testEnv.schema, PRACTICE_AGB, 2);
    const verified = (await (
      await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' })
    ).json()) as { ok: boolean; brokenAtSeq: number };
    expect(verified).toMatchObject({ ok: false, brokenAtSeq: 2 });

    const [broken] = await overviewIntegrity();
    expect(broken).toMatchObject({ chain: PRACTICE_AGB, state: 'broken', brokenAtSeq: 2 });
    expect(Date.parse(broken!.brokenSince ?? '')).not.toBeNaN();

    const bundle = await search(`patient=${BSN}`);
    expect(bundle.entry?.filter((e) => e.search?.mode === 'match').length).toBeGreaterThan(0);
    const [warning] = outcomes(bundle);
    expect(warning?.issue).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'incomplete',
        details: { text: expect.stringMatching(new RegExp(`chain ${PRACTICE_AGB} is known broken at row 2`)) },
      }),
    ]);
    // Also a count: the outcome is its only entry.
    const counted = await search(`patient=${BSN}&_summary=count`);
    expect(counted.entry?.map((e) => e.search?.mode)).toEqual(['outcome']);
  });
});
