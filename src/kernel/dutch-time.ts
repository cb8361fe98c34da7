import { badRequest, OperationOutcomeError } from '@medplum/core';

/**
 * The calendar day (YYYY-MM-DD) of a moment in Europe/Amsterdam. Agreements, consents and ages are all counted in
 * Dutch calendar days: a disclosure at 23:30 UTC on 14 June happens on 15 June in summer.
 */

const HOUR_MS = 3_600_000;

const formatter = new Intl.DateTimeFormat('en-US', {
  timeZone: 'Europe/Amsterdam',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

function formatDay(ms: number): string {
  let year = '';
  let month = '';
  let day = '';
  for (const part of formatter.formatToParts(ms)) {
    if (part.type === 'year') {
      year = part.value;
    } else if (part.type === 'month') {
      month = part.value;
    } else if (part.type === 'day') {
      day = part.value;
    }
  }
  return `${year.padStart(4, '0')}-${month}-${day}`;
}

// formatToParts costs about 4 µs, close to half the budget of one decision. Decisions come in bursts at nearly the
// same moment, so the day of the last UTC hour is remembered. That is only done when the first and the last
// millisecond of the hour fall on the same Amsterdam day, so the cache stays correct even for a zone whose offset
// is not a whole number of hours (Amsterdam before 1940). Memoisation keeps the function referentially transparent.
let cachedHour = Number.NaN;
let cachedDay = '';

/** The Europe/Amsterdam calendar day of `at` as YYYY-MM-DD; throws a 400 outcome for an invalid Date. */
export function amsterdamDay(at: Date): string {
  const ms = at.getTime();
  if (Number.isNaN(ms)) {
    throw new OperationOutcomeError(badRequest('The moment of disclosure is not a valid date'));
  }
  const hour = Math.floor(ms / HOUR_MS);
  if (hour === cachedHour) {
    return cachedDay;
  }
  const first = formatDay(hour * HOUR_MS);
  const last = formatDay(hour * HOUR_MS + HOUR_MS - 1);
  if (first !== last) {
    return formatDay(ms);
  }
  cachedHour = hour;
  cachedDay = first;
  return first;
}
