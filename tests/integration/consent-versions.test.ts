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

  it('follows a consent through withdrawal, a new version, an objection and a voiding under one id', async () => {
    const bsn = randomBsn();
    const child = `versions-${bsn}`;
    const event = referral(bsn, child);
    const given = (spec: Parameters<typeof buildConsent>[0] = {}) =>
      buildConsent({
        id: `consent-${bsn}`,
        by: `Patient/${child}`,
        patient: `Patient/${child}`,
        period: null,
        ...spec,
      });

    await store(bsn, given());
    expect((await decideNow(event)).effect).toBe('permit');
    // Decided again without a change: the cached version still answers the same.
    expect((await decideNow(event)).consentIds).toEqual([`consent-${bsn}`]);

    await store(bsn, given({ status: 'inactive', by: [] }));
    expect((await decideNow(event)).reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);

    await store(bsn, given());
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
