import type { Bundle, Consent } from '@medplum/fhirtypes';
import { CONSENT_WITHDRAWN_BY_EXTENSION } from '../../src/kernel/fhir/systems';
import { buildConsentEvent, buildReferralEvent, buildWithdrawalEvent } from '../helpers/builders';
import { openConsole, useConsoleApp } from '../helpers/console-client';

/**
 * Who withdrew a consent, as the registry, the receipt and the privacy officer's console say it. A guardian
 * withdrawing a 16-year-old's own consent was recorded as the child's withdrawal (the guardian was named nowhere), and
 * a 13-year-old's joint consent withdrawn by the parent read "geldig" (active) while every decision was denied on it.
 */
describe('a consent withdrawn by someone: recorded as that person, and said so', () => {
  const h = useConsoleApp(['auditor']);

  interface Receipts {
    receipts: { status: string; outcome?: { issue: { severity: string; expression?: string[] }[] } }[];
  }
  const post = async (json: unknown): Promise<Receipts> => {
    const res = await h.app.request('/his/v1/events', { json });
    expect(res.status).toBe(202);
    return (await res.json()) as Receipts;
  };
  const withdrawnByOf = (c: Consent | undefined) =>
    (c?.extension ?? [])
      .filter((e) => e.url === CONSENT_WITHDRAWN_BY_EXTENSION)
      .map((e) => e.valueReference?.reference);

  /** The registry's versions of the child's one consent, newest first (`_history`), as the auditor reads them. */
  async function history(bsn: string): Promise<Consent[]> {
    const found = await h.app.request(`/fhir/Consent?patient:identifier=${bsn}`, { key: 'auditor' });
    const id = ((await found.json()) as Bundle<Consent>).entry?.[0]?.resource?.id;
    const res = await h.app.request(`/fhir/Consent/${id}/_history`, { key: 'auditor' });
    expect(res.status).toBe(200);
    return ((await res.json()) as Bundle<Consent>).entry?.map((e) => e.resource!) ?? [];
  }

  async function consolePage(bsn: string): Promise<string> {
    const client = await openConsole(h.app, 'auditor');
    const posted = await client.post('/console/auditor/consents', { bsn });
    const res = await client.get(posted.headers.get('location') ?? '');
    expect(res.status).toBe(200);
    return res.text();
  }

  it("records a guardian's withdrawal of a 16-year-old's own consent as the guardian's, with a warning", async () => {
    const referral = buildReferralEvent();
    (referral.child as { birthDate: string }).birthDate = '2009-06-01';
    const bsn = (referral.child as { bsn: string }).bsn;
    const consent = buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] });
    await post(consent);
    const receipts = await post(buildWithdrawalEvent(consent, [{ kind: 'guardian', guardianId: 'g1' }]));
    // Accepted (withdrawing never discloses more), but the practice is told the withdrawer gave no part of it.
    expect(receipts.receipts[0]?.status).toBe('accepted');
    expect(receipts.receipts[0]?.outcome?.issue).toEqual([
      expect.objectContaining({ severity: 'warning', expression: ['consent.withdrawnBy'] }),
    ]);
    const [withdrawn] = await history(bsn);
    expect(withdrawn?.status).toBe('inactive');
    const withdrawers = withdrawnByOf(withdrawn);
    expect(withdrawers).toHaveLength(1);
    expect(withdrawers[0]).toMatch(/^RelatedPerson\//);
    const page = await consolePage(bsn);
    expect(page).toContain(`ingetrokken door: ${withdrawers[0]}`);
  });

  it('says of a joint consent withdrawn by the parent that it was withdrawn, not that it is valid', async () => {
    const referral = buildReferralEvent();
    const bsn = (referral.child as { bsn: string }).bsn;
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    await post(consent);
    const receipts = await post(buildWithdrawalEvent(consent, [{ kind: 'guardian', guardianId: 'g1' }]));
    expect(receipts.receipts[0]).toEqual(expect.not.objectContaining({ outcome: expect.anything() }));
    const [withdrawn, given] = await history(bsn);
    expect(given?.status).toBe('active');
    expect(withdrawnByOf(given)).toEqual([]);
    const withdrawers = withdrawnByOf(withdrawn);
    expect(withdrawers).toHaveLength(1);
    const page = await consolePage(bsn);
    expect(page).not.toMatch(/<td>\s*geldig\s*<\/td>/);
    expect(page).toContain('ingetrokken door een van wie toestemden');
    expect(page).toContain(`ingetrokken door: ${withdrawers[0]}`);
  });
});
