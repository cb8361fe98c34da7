import { randomBytes } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../../../src/contracts/his-dialect';
import { monitoringFactsOf } from '../../../src/event/monitoring-facts';
import { getPseudonymiser } from '../../../src/event/report-pseudonym';

/**
 * The days of the reporting store are Europe/Amsterdam calendar days, as the referral timeline and the policy engine
 * count them: a moment given with an offset or `Z` is the day it was in Amsterdam, a date without a time stays as it
 * is. A referral written at 00:30 on 1 October in Amsterdam (`2026-09-30T22:30:00Z`) belongs to Q4.
 */
describe('the days of a monitoring fact', () => {
  const p = getPseudonymiser({ REPORT_PSEUDONYM_KEY: randomBytes(32).toString('base64'), dataDir: '' });

  function eventWith(episodePeriod: { start: string; end?: string }, contactStart: string, authoredOn: string) {
    const resources: Resource[] = [
      { resourceType: 'Patient', id: 'p1' },
      { resourceType: 'EpisodeOfCare', id: 'eoc1', status: 'active', patient: {}, period: episodePeriod },
      { resourceType: 'Encounter', id: 'enc1', status: 'finished', class: {}, period: { start: contactStart } },
      { resourceType: 'ServiceRequest', id: 'sr1', status: 'active', intent: 'order', subject: {}, authoredOn },
    ];
    const event: CanonicalEvent = {
      eventType: 'contact.recorded',
      sourceEventId: 'e1',
      occurredAt: '2026-10-01T08:00:00Z',
      practice: { agb: '01234567' },
      municipalityCode: 'GM0226',
      patient: { bsn: '111222333', birthDate: '2012-10-01' },
      guardians: [],
      resources,
    };
    return monitoringFactsOf(event, p);
  }

  it('counts a moment in UTC on its Amsterdam day: referral, contact, start and end of the trajectory', () => {
    const f = eventWith(
      { start: '2026-06-30T22:30:00Z', end: '2026-09-30T23:15:00+00:00' },
      '2026-09-30T22:30:00Z',
      '2026-09-30T22:30:00Z',
    );
    expect(f.referral?.referredOn).toBe('2026-10-01');
    expect(f.contact?.contactOn).toBe('2026-10-01');
    expect(f.trajectory?.startDate).toBe('2026-07-01');
    expect(f.trajectory?.closedOn).toBe('2026-10-01');
    // The age band is taken on the Amsterdam day too: the child turns 14 on 1 October.
    expect(f.contact?.ageBand).toBe('12-15');
  });

  it('keeps a date without a time, and the local day of a moment given with its offset or without one', () => {
    const f = eventWith({ start: '2026-06-30', end: '2026-09-30' }, '2026-10-01T00:30:00+02:00', '2026-09-30T23:59:00');
    expect(f.trajectory?.startDate).toBe('2026-06-30');
    expect(f.trajectory?.closedOn).toBe('2026-09-30');
    expect(f.contact?.contactOn).toBe('2026-10-01');
    expect(f.referral?.referredOn).toBe('2026-09-30');
  });
});
