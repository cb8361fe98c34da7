import { OperationOutcomeError } from '@medplum/core';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../../../src/reports/time-id-page';
import { deliveredAfter, redeliveryWindow } from '../../../src/reports/dead-letters/dead-letters';

const ID = '9c3025e6-2025-4125-bff5-e94136f626ec';

// report-xpen 3: the moments of these cursors reach SQL as timestamptz; one checked only by its shape (month 13, 30
// February, year 0) was PostgreSQL's error, a 500 and an error in the log, for the console's lists and redelivery.
describe('the moment of a list page cursor', () => {
  it('round-trips a cursor this server made', () => {
    const cursor = { at: '2026-12-06T20:17:15.883123Z', id: ID, direction: 'older' as const };
    expect(decodeTimeIdCursor(encodeTimeIdCursor(cursor))).toEqual(cursor);
  });

  it.each(['2026-13-06T20:17:15.883123Z', '2026-02-30T20:17:15.883123Z', '0000-01-01T00:00:00.000000Z', 'x'])(
    'refuses %s as a 400 naming _page',
    (at) => {
      const token = encodeTimeIdCursor({ at, id: ID, direction: 'newer' });
      try {
        decodeTimeIdCursor(token);
        throw new Error('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(OperationOutcomeError);
        expect((e as OperationOutcomeError).outcome.issue[0]?.expression).toEqual(['_page']);
      }
    },
  );

  it('refuses a redelivery window’s `after` at a moment that does not exist', () => {
    expect(deliveredAfter.safeParse({ deliveredAt: '2026-12-06T20:17:15.883123Z', id: ID }).success).toBe(true);
    expect(deliveredAfter.safeParse({ deliveredAt: '2026-02-30T20:17:15.883123Z', id: ID }).success).toBe(false);
  });

  it('refuses a redelivery window from year 0, which PostgreSQL has not, and takes one with an offset', () => {
    const window = { destination: 'gm0226', reason: 'restore', to: '2026-12-06T12:00:00+01:00' };
    expect(redeliveryWindow.safeParse({ ...window, from: '2026-12-01T00:00:00+01:00' }).success).toBe(true);
    expect(redeliveryWindow.safeParse({ ...window, from: '0000-12-01T00:00:00+01:00' }).success).toBe(false);
  });
});
