import {
  isNotInFuture,
  isValidAgb,
  isValidBsn,
  isValidDateTime,
  isValidIsoDate,
  isValidMunicipalityCode,
  isValidUra,
  sourceIdSystem,
  tryNormaliseDate,
  tryNormaliseDateTime,
  tryNormaliseMunicipalityCode,
} from '../../../src/kernel/fhir/identifiers';

describe('Dutch identifiers', () => {
  it.each([
    ['111222333', true],
    ['123456782', true],
    ['012345672', true],
    ['123456783', false],
    ['000000000', false],
    ['12345678', false],
    ['1234567820', false],
    ['12345678a', false],
    [' 123456782', false],
  ])('BSN %s passes the 11-proef: %s', (bsn, ok) => {
    expect(isValidBsn(bsn)).toBe(ok);
  });

  it.each([
    ['01234567', true],
    ['1234567', false],
    ['012345678', false],
    ['0123456a', false],
  ])('AGB and URA %s have 8 digits: %s', (code, ok) => {
    expect(isValidAgb(code)).toBe(ok);
    expect(isValidUra(code)).toBe(ok);
  });

  it.each([
    ['GM0226', 'GM0226'],
    ['gm0226', 'GM0226'],
    ['0226', 'GM0226'],
    ['226', 'GM0226'],
    [' GM0363 ', 'GM0363'],
    ['Amsterdam', undefined],
    ['GM02261', undefined],
  ])('reads municipality %j as %s', (input, out) => {
    expect(tryNormaliseMunicipalityCode(input)).toBe(out);
    if (out) {
      expect(isValidMunicipalityCode(out)).toBe(true);
    }
  });

  it('names the systems of a practice’s own ids after the practice', () => {
    expect(sourceIdSystem('01234567', 'referral')).toBe('urn:agb:01234567:referral');
  });
});

describe('dates', () => {
  it.each([
    ['2024-02-29', true],
    ['2023-02-29', false],
    ['2025-04-31', false],
    ['0000-01-01', false],
    ['2025-1-1', false],
  ])('date %s exists: %s', (d, ok) => {
    expect(isValidIsoDate(d)).toBe(ok);
  });

  it.each([
    ['2025-03-10T14:00:00+01:00', true],
    ['2025-03-10T14:00:00.123Z', true],
    ['2025-03-10T14:00:00+14:00', true],
    ['2025-03-10T14:00:00+15:00', false],
    ['2025-03-10T14:00+01:00', false],
    ['2025-03-10T14:00:00', false],
    ['2025-02-30T14:00:00Z', false],
  ])('dateTime %s is valid: %s', (d, ok) => {
    expect(isValidDateTime(d)).toBe(ok);
  });

  it.each([
    ['2014-09-01', '2014-09-01'],
    ['01-09-2014', '2014-09-01'],
    ['1-9-2014', '2014-09-01'],
    ['1/9/2014', '2014-09-01'],
    ['31-02-2014', undefined],
    ['2014/09/01', undefined],
  ])('reads date %s as %s', (input, out) => {
    expect(tryNormaliseDate(input)).toBe(out);
  });

  it.each([
    ['10-03-2025 10:00', '2025-03-10T10:00:00+01:00'],
    ['2025-07-10 10:00:30', '2025-07-10T10:00:30+02:00'],
    ['30-03-2025 01:30', '2025-03-30T01:30:00+01:00'],
    ['30-03-2025 03:30', '2025-03-30T03:30:00+02:00'],
    ['26-10-2025 12:00', '2025-10-26T12:00:00+01:00'],
    ['2025-03-10', '2025-03-10T00:00:00+01:00'],
    ['2025-03-10T10:00:00Z', '2025-03-10T10:00:00Z'],
    ['10-03-2025 24:00', undefined],
    ['tomorrow', undefined],
  ])('reads local time %s in Amsterdam as %s', (input, out) => {
    expect(tryNormaliseDateTime(input)).toBe(out);
  });

  it('sees today as not in the future in any time zone, and next year as future', () => {
    const now = new Date('2025-03-10T23:30:00Z');
    expect(isNotInFuture('2025-03-11', now)).toBe(true);
    expect(isNotInFuture('2025-03-12', now)).toBe(false);
    expect(isNotInFuture('2026-03-10', now)).toBe(false);
  });

  it('takes the latest date of each moment anew: the date kept from the moment before never answers for another day', () => {
    // Back and forth across UTC+14's midnight (10:00 UTC), and an hour before and after it: the kept date must follow.
    const moments = ['2025-03-10T09:59:59Z', '2025-03-10T10:00:00Z', '2025-03-10T09:00:00Z', '2025-03-11T10:00:00Z'];
    for (const at of [...moments, ...moments.reverse()]) {
      const now = new Date(at);
      const latest = new Date(now.getTime() + 14 * 3600_000).toISOString().slice(0, 10);
      expect([at, isNotInFuture(latest, now), isNotInFuture(`${latest}T`, now)]).toEqual([at, true, false]);
    }
    // Without a moment: now, as the clock says.
    const latest = new Date(Date.now() + 14 * 3600_000).toISOString().slice(0, 10);
    expect([isNotInFuture(latest), isNotInFuture(`${latest}T`)]).toEqual([true, false]);
    expect(() => isNotInFuture('2025-03-10', new Date('not a date'))).toThrow(RangeError);
  });
});
