import { amsterdamDay } from '../kernel/dutch-time';

/**
 * Age in whole years on a calendar day, for the WGBO age bands (under 12, 12 to 16, 16 and older) that decide who
 * must consent. Days are Europe/Amsterdam calendar days, see amsterdam-day.ts.
 */

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    return isLeapYear(year) ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function digitsAt(value: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) {
      return Number.NaN;
    }
    n = n * 10 + d;
  }
  return n;
}

/**
 * A real calendar date from YYYY-MM-DD as the number YYYYMMDD, or NaN (partial dates such as `2012` or `2012-03`
 * included). Read by hand into a number rather than with a regular expression into parts: it runs twice per
 * decision.
 */
function dateNumber(value: string): number {
  if (value.length !== 10 || value[4] !== '-' || value[7] !== '-') {
    return Number.NaN;
  }
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  // NaN fails every comparison below, so a non-digit anywhere rejects the date.
  if (!(year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month))) {
    return Number.NaN;
  }
  return year * 10_000 + month * 100 + day;
}

// The day of disclosure is the same for every decision of an hour (amsterdamDay hands back one string), so its
// number is kept with it rather than read again per decision.
let lastDay = '';
let lastDayNumber = Number.NaN;

function dayNumber(day: string): number {
  if (day !== lastDay) {
    lastDayNumber = dateNumber(day);
    lastDay = day;
  }
  return lastDayNumber;
}

/**
 * Whole years between a birth date and a day (both YYYY-MM-DD), or undefined when the birth date is partial,
 * impossible or after the day: a guessed age could ask the wrong person for consent.
 *
 * Our choice for someone born on 29 February: in years without one their birthday is 1 March, because a whole
 * year has only passed once 28 February is over. So on 28 February 2025 a child born on 29 February 2012 is still
 * 12, and on 1 March 2025 they are 13. This also keeps a band change (12, 16) from arriving a day early.
 */
export function ageOnDay(birthDate: string, day: string): number | undefined {
  const birth = dateNumber(birthDate);
  const on = dayNumber(day);
  if (Number.isNaN(birth) || Number.isNaN(on) || birthDate > day) {
    return undefined;
  }
  const onYear = Math.floor(on / 10_000);
  let birthday = birth % 10_000;
  if (birthday === 229 && !isLeapYear(onYear)) {
    birthday = 301;
  }
  const hadBirthday = on % 10_000 >= birthday;
  return onYear - Math.floor(birth / 10_000) - (hadBirthday ? 0 : 1);
}

/** WGBO, also applied to sharing with third parties: from 12 the child speaks too, from 16 the child alone. */
export const CHILD_SPEAKS_FROM = 12;
export const CHILD_ALONE_FROM = 16;

/** Whether a child born on `birthDate` decides alone at `at` (16 or older); false without a birth date. */
export function decidesAloneAt(birthDate: string | undefined, at: Date): boolean {
  return (ageAt(birthDate, at) ?? 0) >= CHILD_ALONE_FROM;
}

/** Age in whole years at a moment, counted on the Europe/Amsterdam calendar day of that moment. */
export function ageAt(birthDate: string | undefined, at: Date): number | undefined {
  return birthDate === undefined ? undefined : ageOnDay(birthDate, amsterdamDay(at));
}
