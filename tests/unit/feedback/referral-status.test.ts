import { mayFollow, type ReferralStatus } from '../../../mappings/practice/referral-status';
import { buildTimeline, daysBetween } from '../../../src/reports/referral-timeline/timeline';
import { minimise } from '../../../src/policy/minimise';
import { EXTENSION } from '../../../src/kernel/fhir/terminology';

describe('the order of a referral’s statuses', () => {
  it.each([
    [undefined, 'accepted', true],
    [undefined, 'closed', true],
    ['received', 'accepted', true],
    ['accepted', 'decision-issued', true],
    ['accepted', 'received', false],
    ['decision-issued', 'decision-issued', true],
    ['decision-issued', 'accepted', false],
    ['allocated', 'care-started', true],
    ['care-started', 'decision-issued', false],
    ['care-started', 'care-ended', true],
    ['care-ended', 'closed', true],
    ['closed', 'accepted', false],
    ['closed', 'closed', false],
    ['accepted', 'rejected', true],
    ['decision-issued', 'rejected', false],
    ['rejected', 'accepted', false],
    ['rejected', 'closed', true],
  ] as [ReferralStatus | undefined, ReferralStatus, boolean][])('%s → %s: %s', (current, next, allowed) => {
    expect(mayFollow(current, next)).toBe(allowed);
  });
});

describe('the timeline and its waiting times', () => {
  const at = new Date('2026-12-03T09:00:00Z');
  const step = (status: ReferralStatus, date: string | null) => ({
    status,
    status_date: date,
    created_at: at,
    state: 'delivered' as const,
  });

  it('counts calendar days between referral, acceptance, decision and start of care', () => {
    const t = buildTimeline('2026-11-20', [
      step('accepted', '2026-11-23'),
      step('decision-issued', '2026-12-01'),
      step('care-started', '2027-01-04'),
    ]);
    expect(t.current).toBe('care-started');
    expect(t.waitingDays).toEqual({
      referralToAccepted: 3,
      acceptedToDecision: 8,
      decisionToCareStarted: 34,
      referralToDecision: 11,
      referralToCareStarted: 45,
    });
  });

  it('leaves out what has not happened yet, and dates a status without a date by its receipt (Amsterdam day)', () => {
    const t = buildTimeline('2026-11-20', [step('accepted', null)]);
    expect(t.steps[0]!.date).toBe('2026-12-03');
    expect(t.waitingDays).toEqual({ referralToAccepted: 13 });
    expect(buildTimeline('2026-11-20', []).current).toBeNull();
  });

  it('counts across a change to summer time as whole days', () => {
    expect(daysBetween('2027-03-27', '2027-03-29')).toBe(2);
  });
});

describe('allow-lists that name an extension by its URL', () => {
  const episode = {
    resourceType: 'EpisodeOfCare' as const,
    id: 'e1',
    status: 'finished' as const,
    patient: { reference: 'Patient/p1' },
    extension: [
      { url: EXTENSION.trajectoryOutcome, valueCoding: { code: 'escalated' } },
      { url: EXTENSION.referrerType, valueCoding: { code: '02' } },
    ],
  };

  it('lets only the named extension through', () => {
    const [out] = minimise([episode], { EpisodeOfCare: ['status', EXTENSION.trajectoryOutcome] });
    expect(out).toEqual({
      resourceType: 'EpisodeOfCare',
      id: 'e1',
      status: 'finished',
      extension: [{ url: EXTENSION.trajectoryOutcome, valueCoding: { code: 'escalated' } }],
    });
  });

  it('keeps no extension when none is named', () => {
    const [out] = minimise([episode], { EpisodeOfCare: ['status'] });
    expect(out).not.toHaveProperty('extension');
  });
});
