import type { StatusUpdate } from '../../../mappings/practice/to-task';
import { referredOnOf, statusDateIssues, statusDateRuleOf } from '../../../src/event/status-dates';

const bounds = { referredOn: '2026-11-20', today: '2026-12-06' };
const decision = (date: string) => ({ number: 'B-1', date, productCategory: '45', period: { start: '2027-01-01' } });

describe('the days a status update may carry', () => {
  it.each([
    ['the referral’s own day', { status: 'accepted', date: '2026-11-20' }, bounds, []],
    ['today', { status: 'accepted', date: '2026-12-06' }, bounds, []],
    ['a day before the referral', { status: 'accepted', date: '2026-11-19' }, bounds, ['date']],
    ['a day after today', { status: 'received', date: '2026-12-07' }, bounds, ['date']],
    [
      'a decision dated before the referral',
      { status: 'decision-issued', decision: decision('2026-11-01') },
      bounds,
      ['decision.date'],
    ],
    [
      'a decision dated tomorrow',
      { status: 'decision-issued', decision: decision('2026-12-07') },
      bounds,
      ['decision.date'],
    ],
    ['a decision whose period lies ahead', { status: 'decision-issued', decision: decision('2026-12-01') }, bounds, []],
    ['care started tomorrow', { status: 'care-started', startDate: '2026-12-07' }, bounds, ['startDate']],
    [
      'an allocation starting before the referral',
      { status: 'allocated', startDate: '2026-10-01' },
      bounds,
      ['startDate'],
    ],
    ['care ended tomorrow', { status: 'care-ended', endDate: '2026-12-07' }, bounds, ['endDate']],
    [
      'an end before the start in the update',
      { status: 'care-ended', startDate: '2026-12-01', endDate: '2026-11-30' },
      bounds,
      ['endDate'],
    ],
    [
      'an end before the start reported earlier',
      { status: 'care-ended', endDate: '2026-11-30' },
      { ...bounds, careStartedOn: '2026-12-01' },
      ['endDate'],
    ],
    [
      'an end on the day care started',
      { status: 'care-ended', endDate: '2026-12-01' },
      { ...bounds, careStartedOn: '2026-12-01' },
      [],
    ],
    [
      'several at once',
      { status: 'care-ended', date: '2026-01-01', endDate: '2027-01-01' },
      bounds,
      ['date', 'endDate'],
    ],
  ] as [string, StatusUpdate, Parameters<typeof statusDateIssues>[1], string[]][])('%s', (_, update, given, fields) => {
    expect(statusDateIssues(update, given).flatMap((i) => i.expression)).toEqual(fields);
  });

  it('says which day bounds the range', () => {
    const [issue] = statusDateIssues({ status: 'accepted', date: '2026-11-19' }, bounds);
    expect(issue).toEqual(
      expect.objectContaining({
        code: 'business-rule',
        details: { text: 'before the referral was made (2026-11-20)' },
      }),
    );
  });
});

describe('the day a referral was made', () => {
  it.each([
    ['2026-11-20T10:00:00+01:00', '2026-11-20'],
    // 23:30 UTC is already the next day in Amsterdam.
    ['2026-11-20T23:30:00Z', '2026-11-21'],
    [undefined, '2026-11-22'],
  ])('written %s: %s', (authoredOn, day) => {
    expect(referredOnOf(authoredOn, new Date('2026-11-22T08:00:00Z'))).toBe(day);
  });
});

describe('which rule an issue of a status day states, read back from its text (for the console’s words)', () => {
  it.each([
    [{ status: 'accepted', date: '2026-11-19' }, bounds, { rule: 'beforeReferral', day: '2026-11-20' }],
    [{ status: 'accepted', date: '2026-12-07' }, bounds, { rule: 'afterToday', day: '2026-12-06' }],
    [
      { status: 'care-ended', endDate: '2026-11-25' },
      { ...bounds, careStartedOn: '2026-11-30' },
      { rule: 'beforeCareStart', day: '2026-11-30' },
    ],
  ])('%j', (update, b, rule) => {
    const [issue] = statusDateIssues(update as StatusUpdate, b);
    expect(statusDateRuleOf(issue?.details?.text ?? '')).toEqual(rule);
  });

  it('reads no rule from any other text', () => {
    expect(statusDateRuleOf('is required')).toBeUndefined();
    expect(statusDateRuleOf('after today')).toBeUndefined();
  });
});
