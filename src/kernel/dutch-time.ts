import { badRequest, OperationOutcomeError } from '@medplum/core';

/**
 * Dutch time, in one place. Agreements, consents and ages are counted in Europe/Amsterdam calendar days (a
 * disclosure at 23:30 UTC on 14 June happens on 15 June in summer), and what a practice or an auditor writes
 * without an offset means Amsterdam wall-clock time.
 */

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

const amsterdamParts = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Amsterdam',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The Amsterdam wall-clock fields of an instant. */
function partsOf(ms: number): Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second', number> {
  const p = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
  for (const part of amsterdamParts.formatToParts(ms)) {
    if (part.type in p) {
      p[part.type as keyof typeof p] = Number(part.value);
    }
  }
  return p;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function formatDay(ms: number): string {
  const p = partsOf(ms);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

/** Minutes Amsterdam is ahead of UTC at an instant, from formatToParts (see `amsterdamOffsetMinutes`). */
function offsetMinutesAt(utcMs: number): number {
  const p = partsOf(utcMs);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / MINUTE_MS);
}

// The offset of each UTC hour met, as `dayOfHour` keeps days (below), and for the same reason: the monitoring
// count asks for midday on a fact's day for every event it counts, two formatToParts each. Remembered only when the
// first and the last second of the hour have the same offset, so an hour in which the clocks change is always
// computed anew, and so is any instant of a zone whose offset does not change on the hour.
const offsetOfHour = new Map<number, number>();

/** Minutes Amsterdam is ahead of UTC at an instant (60 in winter, 120 in summer). */
function amsterdamOffsetMinutes(utcMs: number): number {
  const hour = Math.floor(utcMs / HOUR_MS);
  const known = offsetOfHour.get(hour);
  if (known !== undefined) {
    return known;
  }
  const first = offsetMinutesAt(hour * HOUR_MS);
  if (first !== offsetMinutesAt(hour * HOUR_MS + HOUR_MS - 1)) {
    return offsetMinutesAt(utcMs);
  }
  if (offsetOfHour.size >= DAY_OF_HOUR_MAX) {
    offsetOfHour.clear();
  }
  offsetOfHour.set(hour, first);
  return first;
}

/**
 * An Amsterdam wall-clock time (`date` YYYY-MM-DD, hours, minutes, seconds) as an ISO dateTime with the offset in
 * force then, e.g. `2026-06-15T09:30:00+02:00`.
 */
export function amsterdamDateTime(date: string, hh = 0, mm = 0, ss = 0): string {
  const [y, mo, d] = date.split('-').map(Number);
  const localAsUtc = Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, hh, mm, ss);
  // Two passes find the offset in force at that local time, also on the days the clocks change. Of the hour that
  // comes twice in October this is the second (winter time).
  const before = amsterdamOffsetMinutes(localAsUtc - HOUR_MS);
  const offset = amsterdamOffsetMinutes(localAsUtc - before * MINUTE_MS);
  // The passes differ only near a change; then the moment found may lie past it.
  const inForce = before === offset ? offset : amsterdamOffsetMinutes(localAsUtc - offset * MINUTE_MS);
  if (inForce !== offset) {
    // The hour the clocks skip in March (02:00-03:00) never shows on a clock: the moment is written as the clock
    // showed it, an hour later in summer time (02:30 is 03:30+02:00), as java.time and PostgreSQL read it too.
    const shown = new Date(localAsUtc - offset * MINUTE_MS + inForce * MINUTE_MS);
    return withOffset(shown.toISOString().slice(0, 19), inForce);
  }
  return withOffset(`${date}T${pad(hh)}:${pad(mm)}:${pad(ss)}`, offset);
}

function withOffset(local: string, offsetMinutes: number): string {
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * The calendar day after `day` (YYYY-MM-DD): the exclusive end of a period given by its last day. After 9999-12-31
 * comes 10000-01-01, as PostgreSQL reads it (toISOString would write `+010000-01-01`).
 */
export function dayAfter(day: string): string {
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000);
  const digits = (n: number, at: number): string => String(n).padStart(at, '0');
  return `${digits(next.getUTCFullYear(), 4)}-${digits(next.getUTCMonth() + 1, 2)}-${digits(next.getUTCDate(), 2)}`;
}

// formatToParts costs about 4 µs, close to half the budget of one decision, and a HIS record has several moments
// (its event, a contact) that fall in a few hours. So the day of each UTC hour met is remembered, up to
// DAY_OF_HOUR_MAX hours (then forgotten all at once). That is only done when the first and the last millisecond of
// the hour fall on the same Amsterdam day, so the cache stays correct even for a zone whose offset is not a whole
// number of hours (Amsterdam before 1940). Memoisation keeps the function referentially transparent.
const DAY_OF_HOUR_MAX = 4096;
const dayOfHour = new Map<number, string>();

/** The Europe/Amsterdam calendar day of `at` as YYYY-MM-DD; throws a 400 outcome for an invalid Date. */
export function amsterdamDay(at: Date): string {
  const ms = at.getTime();
  if (Number.isNaN(ms)) {
    throw new OperationOutcomeError(badRequest('The moment of disclosure is not a valid date'));
  }
  const hour = Math.floor(ms / HOUR_MS);
  const known = dayOfHour.get(hour);
  if (known !== undefined) {
    return known;
  }
  const first = formatDay(hour * HOUR_MS);
  const last = formatDay(hour * HOUR_MS + HOUR_MS - 1);
  if (first !== last) {
    return formatDay(ms);
  }
  if (dayOfHour.size >= DAY_OF_HOUR_MAX) {
    dayOfHour.clear();
  }
  dayOfHour.set(hour, first);
  return first;
}

/** A dateTime ending in `Z` or an offset (`+02:00`, `-0100`): an instant rather than a wall-clock time. */
const WITH_ZONE = /(?:[Zz]|[+-]\d\d:?\d\d)$/;

/**
 * The Europe/Amsterdam calendar day (YYYY-MM-DD) of a FHIR date or dateTime as written: a date stays as it is, a
 * moment with `Z` or an offset is the day it was in Amsterdam (`2026-09-30T22:30:00Z` → 2026-10-01), and a
 * wall-clock time without an offset is Amsterdam time already, so its own date.
 */
export function amsterdamDayOf(value: string): string {
  // FHIR allows a leap second (`23:59:60Z`), which Date does not parse: it falls on the day of the second before it.
  return value.length > 10 && WITH_ZONE.test(value)
    ? amsterdamDay(new Date(value.replace(/^(.{16}):60/, '$1:59')))
    : value.slice(0, 10);
}
