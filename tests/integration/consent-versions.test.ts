import type { Consent } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../../src/contracts/his-dialect';
import { decideForEvent } from '../../src/event/decide';
import { listStoredConsents, upsertConsents } from '../../src/event/event-store';
import { buildRegistry } from '../../src/event/registry';
import type { Decision } from '../../src/policy/types';
import { buildAgreement, MUNICIPALITY, PRACTICE_AGB, randomBsn } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { buildConsent } from '../unit/policy/builders';

/**
 * The pipeline decides from consents compiled once per stored version and kept in a cache between decisions: each
 * write to the consent registry must show in the next decision, against the real PostgreSQL.
 */
describe('decisions after the stored consent changes', () => {
  let app: TestApp;

  beforeAll(async () => {
    const registry = buildRegistry({ agreements: [buildAgreement({ legalBasis: 'consent' })], destinations: [] });
    app = await startTestApp({ registry });
  });

  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });

  /** A referral about a 17-year-old (the child alone must consent), the child's Patient id being `childId`. */
  function referral(bsn: string, childId: string): CanonicalEvent {
    return {
      eventType: 'referral.created',
      sourceEventId: `ref-${childId}`,
      occurredAt: new Date().toISOString(),
      practice: { agb: PRACTICE_AGB },
      municipalityCode: MUNICIPALITY,
      patient: { bsn, birthDate: `${new Date().getFullYear() - 17}-01-01` },
      guardians: [],
      resources: [{ resourceType: 'Patient', id: childId }],
    };
  }

  async function decideNow(event: CanonicalEvent): Promise<Decision> {
    return decideForEvent(app.rt.ctx, event, 'referral', new Date());
  }

  async function store(bsn: string, consent: Consent): Promise<void> {
    await upsertConsents(app.rt.ctx.db, PRACTICE_AGB, bsn, [consent]);
  }

  /** A child of 17 with a referral about it, and its consent (one id) as `spec` says. */
  function oneChild(prefix: string) {
    const bsn = randomBsn();
    const child = `${prefix}-${bsn}`;
    const consent = (spec: Parameters<typeof buildConsent>[0] = {}) =>
      buildConsent({
        id: `consent-${bsn}`,
        by: `Patient/${child}`,
        patient: `Patient/${child}`,
        period: null,
        ...spec,
      });
    return { bsn, event: referral(bsn, child), consent };
  }

  it('follows a consent through withdrawal, a new version, an objection and a voiding under one id', async () => {
    const { bsn, event, consent: given } = oneChild('versions');

    await store(bsn, given());
    expect((await decideNow(event)).effect).toBe('permit');
    // Decided again without a change: the cached version still answers the same.
    expect((await decideNow(event)).consentIds).toEqual([`consent-${bsn}`]);

    await store(bsn, given({ status: 'inactive', by: [], dateTime: '2025-03-01T09:00:00+01:00' }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);

    // The recording sent again (an HIS re-sending its consents), or arriving late: the withdrawal is newer and holds.
    await store(bsn, given());
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);
    await store(bsn, given({ dateTime: '2025-02-01T09:00:00+01:00' }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);

    // A new version, given after the withdrawal, counts.
    await store(bsn, given({ dateTime: '2025-04-01T09:00:00+01:00' }));
    expect((await decideNow(event)).effect).toBe('permit');

    await store(bsn, given({ type: 'deny' }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-denied']);

    await store(bsn, given({ purposes: ['monitoring'] }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-purpose-not-covered']);

    await store(bsn, given());
    await store(bsn, given({ status: 'entered-in-error' }));
    const voided = await decideNow(event);
    expect(voided.reasons).toEqual([
      expect.objectContaining({ code: 'consent-missing-child', recordedInError: [`consent-${bsn}`] }),
    ]);
  });

  it('keeps a withdrawal that arrived before its consent, and a voided consent voided', async () => {
    const { bsn, event, consent } = oneChild('late');
    // Withdrawn at 12:00, the recording of 10:00 arriving after it.
    await store(bsn, consent({ status: 'inactive', dateTime: '2026-12-05T12:00:00+01:00' }));
    await store(bsn, consent({ dateTime: '2026-12-05T10:00:00+01:00' }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);

    // Voided, it stays voided whatever recording comes after.
    await store(bsn, consent({ status: 'entered-in-error' }));
    await store(bsn, consent({ dateTime: '2026-12-06T10:00:00+01:00' }));
    expect((await decideNow(event)).reasons).toEqual([
      expect.objectContaining({ code: 'consent-missing-child', recordedInError: [`consent-${bsn}`] }),
    ]);
  });

  it('gives a stored consent a new version on every write by any writer, never one given before, also after a delete', async () => {
    const bsn = randomBsn();
    const id = `consent-${bsn}`;
    const consent = buildConsent({ id, by: `Patient/versions-${bsn}`, patient: `Patient/versions-${bsn}` });
    const versionNow = async (): Promise<bigint> => {
      const [row] = await listStoredConsents(app.rt.ctx.db, PRACTICE_AGB, bsn);
      if (!row) {
        throw new Error(`consent ${id} is not stored`);
      }
      return BigInt(row.version);
    };

    await store(bsn, consent);
    const first = await versionNow();
    expect(await versionNow()).toBe(first);

    await store(bsn, { ...consent, status: 'inactive' });
    const second = await versionNow();
    expect(second).toBeGreaterThan(first);

    // A write that does not go through the product's own statements is versioned all the same.
    await app.rt.ctx.db.query(`UPDATE consent SET status = 'active' WHERE id = $1`, [id]);
    const third = await versionNow();
    expect(third).toBeGreaterThan(second);

    await app.rt.ctx.db.query('DELETE FROM consent WHERE id = $1', [id]);
    await store(bsn, consent);
    expect(await versionNow()).toBeGreaterThan(third);
  });
});
