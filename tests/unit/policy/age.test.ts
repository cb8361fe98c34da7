import { ageAt, ageOnDay } from '../../../src/policy/age';
import { amsterdamDateTime, amsterdamDay } from '../../../src/kernel/dutch-time';

describe('ageOnDay', () => {
  it.each([
    { name: 'counts a full year on the birthday itself', birthDate: '2013-06-15', day: '2025-06-15', age: 12 },
    {
      name: 'does not count the year on the day before the birthday',
      birthDate: '2013-06-16',
      day: '2025-06-15',
      age: 11,
    },
    { name: 'counts the year on the day after the birthday', birthDate: '2013-06-14', day: '2025-06-15', age: 12 },
    { name: 'does not count the year in an earlier month', birthDate: '2009-07-01', day: '2025-06-30', age: 15 },
    { name: 'counts the year in a later month', birthDate: '2009-05-31', day: '2025-06-01', age: 16 },
    { name: 'is 0 on the day of birth', birthDate: '2025-06-15', day: '2025-06-15', age: 0 },
    {
      name: 'turns 1 on the first birthday on 31 December',
      birthDate: '2023-12-31',
      day: '2024-12-31',
      age: 1,
    },
    {
      name: 'keeps a 29 February child a year younger on 28 February of a year without 29 February',
      birthDate: '2012-02-29',
      day: '2025-02-28',
      age: 12,
    },
    {
      name: 'lets a 29 February child have their birthday on 1 March of a year without 29 February',
      birthDate: '2012-02-29',
      day: '2025-03-01',
      age: 13,
    },
    {
      name: 'lets a 29 February child have their birthday on 29 February of a leap year',
      birthDate: '2012-02-29',
      day: '2024-02-29',
      age: 12,
    },
    {
      name: 'keeps a 29 February child younger on 28 February of a leap year',
      birthDate: '2012-02-29',
      day: '2024-02-28',
      age: 11,
    },
    { name: 'treats 2000 as a leap year', birthDate: '1996-02-29', day: '2000-02-29', age: 4 },
    { name: 'treats 2100 as a year without 29 February', birthDate: '2096-02-29', day: '2100-02-28', age: 3 },
    {
      name: 'lets a 1 March child have their birthday on 1 March in a leap year',
      birthDate: '2013-03-01',
      day: '2024-03-01',
      age: 11,
    },
  ])('$name', ({ birthDate, day, age }) => {
    expect(ageOnDay(birthDate, day)).toBe(age);
  });

  it.each([
    { name: 'gives no age for a birth date after the day', birthDate: '2025-06-16', day: '2025-06-15' },
    { name: 'gives no age for 30 February', birthDate: '2015-02-30', day: '2025-06-15' },
    { name: 'gives no age for 29 February in a year without one', birthDate: '2015-02-29', day: '2025-06-15' },
    { name: 'gives no age for month 13', birthDate: '2015-13-01', day: '2025-06-15' },
    { name: 'gives no age for day 0', birthDate: '2015-01-00', day: '2025-06-15' },
    { name: 'gives no age for a birth year only', birthDate: '2015', day: '2025-06-15' },
    { name: 'gives no age for a birth month only', birthDate: '2015-06', day: '2025-06-15' },
    { name: 'gives no age for a dateTime', birthDate: '2015-06-01T00:00:00Z', day: '2025-06-15' },
    { name: 'gives no age for an empty string', birthDate: '', day: '2025-06-15' },
    { name: 'gives no age for letters in the year', birthDate: '20x5-06-01', day: '2025-06-15' },
    { name: 'gives no age for letters in the day', birthDate: '2015-06-0x', day: '2025-06-15' },
    { name: 'gives no age for other separators', birthDate: '2015/06/01', day: '2025-06-15' },
  ])('$name', ({ birthDate, day }) => {
    expect(ageOnDay(birthDate, day)).toBeUndefined();
  });
});

describe('amsterdamDay', () => {
  it.each([
    { name: 'is the same day at noon', at: '2025-06-15T10:00:00Z', day: '2025-06-15' },
    { name: 'is the next day from 22:00 UTC in summer time', at: '2025-06-14T22:00:00Z', day: '2025-06-15' },
    {
      name: 'is still the day until 21:59:59.999 UTC in summer time',
      at: '2025-06-14T21:59:59.999Z',
      day: '2025-06-14',
    },
    { name: 'is the next day from 23:00 UTC in winter time', at: '2025-01-14T23:00:00Z', day: '2025-01-15' },
    {
      name: 'is still the day until 22:59:59.999 UTC in winter time',
      at: '2025-01-14T22:59:59.999Z',
      day: '2025-01-14',
    },
    { name: 'moves to the new year at 23:00 UTC on 31 December', at: '2024-12-31T23:00:00Z', day: '2025-01-01' },
    { name: 'handles the night summer time starts', at: '2025-03-29T23:00:00Z', day: '2025-03-30' },
    { name: 'uses summer time right after it starts', at: '2025-03-30T22:00:00Z', day: '2025-03-31' },
    { name: 'handles the night winter time starts', at: '2025-10-25T22:00:00Z', day: '2025-10-26' },
    { name: 'uses winter time right after it starts', at: '2025-10-26T22:59:59Z', day: '2025-10-26' },
  ])('$name', ({ at, day }) => {
    expect(amsterdamDay(new Date(at))).toBe(day);
  });

  it('gives the right day for many moments in a row, not only the first of an hour', () => {
    // The engine remembers the day of the last hour; moments jumping back and forth must still be right.
    const moments = ['2025-06-14T21:30:00Z', '2025-06-14T22:30:00Z', '2025-06-14T21:59:00Z', '2025-06-14T22:00:00Z'];
    expect(moments.map((m) => amsterdamDay(new Date(m)))).toEqual([
      '2025-06-14',
      '2025-06-15',
      '2025-06-14',
      '2025-06-15',
    ]);
  });

  it('throws for an invalid Date', () => {
    expect(() => amsterdamDay(new Date(Number.NaN))).toThrow('not a valid date');
  });
});

describe('amsterdamDateTime', () => {
  it.each([
    { name: 'is two hours ahead in summer', date: '2025-06-15', hh: 12, at: '2025-06-15T12:00:00+02:00' },
    { name: 'is one hour ahead in winter', date: '2025-01-15', hh: 12, at: '2025-01-15T12:00:00+01:00' },
    {
      name: 'is winter time at midnight of the day summer time starts',
      date: '2025-03-30',
      hh: 0,
      at: '2025-03-30T00:00:00+01:00',
    },
    {
      name: 'is summer time after the clocks went forward',
      date: '2025-03-30',
      hh: 3,
      at: '2025-03-30T03:00:00+02:00',
    },
    {
      name: 'is summer time at midnight of the day winter time starts',
      date: '2025-10-26',
      hh: 0,
      at: '2025-10-26T00:00:00+02:00',
    },
    { name: 'is winter time after the clocks went back', date: '2025-10-26', hh: 4, at: '2025-10-26T04:00:00+01:00' },
    {
      name: 'is winter time at midday of the day winter time starts',
      date: '2025-10-26',
      hh: 12,
      at: '2025-10-26T12:00:00+01:00',
    },
  ])('$name, asked once or again', ({ date, hh, at }) => {
    // Asked twice, and around other days: what it remembers of one hour must not answer for another.
    expect(amsterdamDateTime(date, hh)).toBe(at);
    expect(amsterdamDateTime('2025-07-01', hh)).toBe(`2025-07-01T${String(hh).padStart(2, '0')}:00:00+02:00`);
    expect(amsterdamDateTime(date, hh)).toBe(at);
  });
});

describe('ageAt', () => {
  it.each([
    { name: 'counts the 16th birthday from midnight in Amsterdam', at: '2025-06-14T22:00:00Z', age: 16 },
    { name: 'is still 15 one millisecond before midnight in Amsterdam', at: '2025-06-14T21:59:59.999Z', age: 15 },
  ])('$name', ({ at, age }) => {
    expect(ageAt('2009-06-15', new Date(at))).toBe(age);
  });

  it('gives no age without a birth date', () => {
    expect(ageAt(undefined, new Date('2025-06-15T10:00:00Z'))).toBeUndefined();
  });
});
