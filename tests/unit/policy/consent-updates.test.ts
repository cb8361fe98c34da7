import type { Consent } from '@medplum/fhirtypes';
import { withdrawnParties } from '../../../src/policy/compiled-consent';
import { applyConsentUpdate, withdrawersNotGivers } from '../../../src/policy/consent-updates';
import { buildConsent } from './builders';

// A recording never undoes a newer withdrawal: an HIS re-sending its consents, or a recording arriving after its
// withdrawal, would otherwise give back a permission the family took away.
describe('a consent recorded again after a withdrawal', () => {
  const JOINT = ['Patient/child-1', 'RelatedPerson/mother-1'];
  const recorded = (dateTime = '2026-12-05T10:00:00+01:00') => buildConsent({ id: 'c-1', by: JOINT, dateTime });
  const apply = (...updates: Consent[]) => updates.reduce<Consent | undefined>(applyConsentUpdate, undefined);
  const byMother = { ...recorded(), status: 'inactive' as const, dateTime: '2026-12-05T12:00:00+01:00' };

  it('keeps the parties a partial withdrawal named when the recording is sent again', () => {
    const stored = apply(recorded(), { ...byMother, performer: [{ reference: 'RelatedPerson/mother-1' }] }, recorded());
    expect(stored?.status).toBe('active');
    expect(withdrawnParties(stored!)).toEqual(['RelatedPerson/mother-1']);
  });

  it('keeps a whole withdrawal that arrived before its recording', () => {
    const stored = apply({ ...byMother, performer: [] }, recorded());
    expect(stored?.status).toBe('inactive');
  });

  it('keeps a partial withdrawal that arrived before its recording, for the parties it named only', () => {
    const stored = apply({ ...byMother, performer: [{ reference: 'RelatedPerson/mother-1' }] }, recorded());
    expect(stored?.status).toBe('active');
    expect(withdrawnParties(stored!)).toEqual(['RelatedPerson/mother-1']);
  });

  it('takes a recording dated after the withdrawal: the consent given anew', () => {
    const stored = apply(recorded(), { ...byMother, performer: [] }, recorded('2026-12-06T09:00:00+01:00'));
    expect(stored?.status).toBe('active');
    expect(withdrawnParties(stored!)).toEqual([]);
  });

  it('never takes one over a consent recorded in error', () => {
    const stored = apply(
      recorded(),
      { ...recorded(), status: 'entered-in-error' },
      recorded('2027-01-01T09:00:00+01:00'),
    );
    expect(stored?.status).toBe('entered-in-error');
  });
});

// A withdrawal by someone who gave no part of the consent (a parent and a 16-year-old's own consent) withdrew it whole,
// but named nobody: the registry and the event view then said the child had withdrawn it.
describe('a consent withdrawn by someone who gave no part of it', () => {
  const childAlone = buildConsent({ id: 'c-16', by: ['Patient/child-1'], dateTime: '2026-12-01T09:00:00+01:00' });
  const byMother: Consent = {
    ...childAlone,
    status: 'inactive',
    dateTime: '2026-12-05T12:00:00+01:00',
    performer: [{ reference: 'RelatedPerson/mother-1' }],
  };

  it('withdraws it whole and records the one who withdrew, not the child', () => {
    const stored = applyConsentUpdate(childAlone, byMother);
    expect(stored.status).toBe('inactive');
    expect(withdrawnParties(stored)).toEqual(['RelatedPerson/mother-1']);
    expect(withdrawersNotGivers(childAlone, byMother)).toEqual(['RelatedPerson/mother-1']);
  });

  it('finds no such withdrawer among those who gave it', () => {
    expect(withdrawersNotGivers(childAlone, { ...byMother, performer: [{ reference: 'Patient/child-1' }] })).toEqual(
      [],
    );
  });
});
