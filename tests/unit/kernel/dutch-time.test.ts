import { amsterdamDateTime } from '../../../src/kernel/dutch-time';

describe('amsterdamDateTime', () => {
  it('gives a wall-clock time the offset in force then', () => {
    expect(amsterdamDateTime('2026-06-15', 9, 30)).toBe('2026-06-15T09:30:00+02:00');
    expect(amsterdamDateTime('2026-12-15', 9, 30)).toBe('2026-12-15T09:30:00+01:00');
    expect(amsterdamDateTime('2026-03-29', 1, 59)).toBe('2026-03-29T01:59:00+01:00');
    expect(amsterdamDateTime('2026-03-29', 3, 0)).toBe('2026-03-29T03:00:00+02:00');
  });

  // report-xhis F6: 02:30 on the night the clocks go forward never shows on a Dutch clock; it was written as
  // 02:30+01:00, a wall-clock time no clock showed, for the moment the clock showed 03:30.
  it('writes a time in the hour the clocks skip as the clock showed it, an hour later', () => {
    expect(amsterdamDateTime('2026-03-29', 2, 30)).toBe('2026-03-29T03:30:00+02:00');
    expect(amsterdamDateTime('2026-03-29', 2, 0)).toBe('2026-03-29T03:00:00+02:00');
    expect(Date.parse(amsterdamDateTime('2026-03-29', 2, 30))).toBe(Date.parse('2026-03-29T01:30:00Z'));
  });

  it('reads a time in the hour that comes twice in October as the second, in winter time', () => {
    expect(amsterdamDateTime('2026-10-25', 2, 30)).toBe('2026-10-25T02:30:00+01:00');
    expect(amsterdamDateTime('2026-10-25', 1, 59)).toBe('2026-10-25T01:59:00+02:00');
  });
});
