import type { Identifier } from '@medplum/fhirtypes';
import { amsterdamDateTime } from '../dutch-time';

/** Dutch identifier systems (Nictiz conventions) and their checks. */
export const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
export const AGB_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/agb-z';
export const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
/** No official FHIR URI exists for CBS gemeentecodes; this one is ours and documented in the README. */
export const MUNICIPALITY_CODE_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode';

/** The form of a BSN, an AGB code, a URA number and a CBS municipality code: what a JSON Schema can say of them. */
export const BSN_PATTERN = /^\d{9}$/;
export const AGB_PATTERN = /^\d{8}$/;
export const URA_PATTERN = /^\d{8}$/;
export const MUNICIPALITY_CODE_PATTERN = /^GM\d{4}$/;

/** The 11-proef: 9 digits, 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11. */
export function isValidBsn(value: string): boolean {
  if (!BSN_PATTERN.test(value)) {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    sum += (9 - i) * Number(value[i]);
  }
  sum -= Number(value[8]);
  return sum % 11 === 0 && value !== '000000000';
}

/** AGB code (Vektis): 8 digits, for care providers and practices. There is no check digit. */
export function isValidAgb(value: string): boolean {
  return AGB_PATTERN.test(value);
}

/** URA number (UZI register): 8 digits, for organisations. */
export function isValidUra(value: string): boolean {
  return URA_PATTERN.test(value);
}

/** CBS gemeentecode, written `GM0226`. */
export function isValidMunicipalityCode(value: string): boolean {
  return MUNICIPALITY_CODE_PATTERN.test(value);
}

/**
 * `GM0226` from the ways spreadsheets write it (`GM0226`, `gm0226`, `0226`, `226`); undefined when it is none of
 * them. Leading zeros get lost when a spreadsheet treats the code as a number, hence the padding.
 */
export function tryNormaliseMunicipalityCode(value: string): string | undefined {
  const m = /^(?:GM)?(\d{1,4})$/i.exec(value.trim());
  return m?.[1] ? `GM${m[1].padStart(4, '0')}` : undefined;
}

/** A BSN identifier in the Nictiz system. */
export function bsnIdentifier(bsn: string): Identifier {
  return { system: BSN_SYSTEM, value: bsn };
}

/** An AGB identifier in the Nictiz system. */
export function agbIdentifier(agb: string): Identifier {
  return { system: AGB_SYSTEM, value: agb };
}

/** A municipality identifier (`GM0226`) in our CBS gemeentecode system. */
export function municipalityIdentifier(code: string): Identifier {
  return { system: MUNICIPALITY_CODE_SYSTEM, value: code };
}

/**
 * The identifier system for a practice's own record ids (`urn:agb:12345678:referral`): source ids are only unique
 * within one practice, so the practice is part of the system.
 */
export function sourceIdSystem(practiceAgb: string, kind: string): string {
  return `urn:agb:${practiceAgb}:${kind}`;
}

// Dates. FHIR's own patterns (as @medplum/core checks them) plus a calendar check: the patterns alone accept
// 2023-02-30, and zod's ISO checks accept year 0000 and offsets beyond ±14:00, both of which FHIR rejects.

export const FHIR_DATE = /^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
export const FHIR_DATE_TIME =
  /^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;

function isCalendarDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/** A full calendar date `YYYY-MM-DD` that exists (no 2023-02-29) and FHIR accepts. */
export function isValidIsoDate(value: string): boolean {
  if (!FHIR_DATE.test(value)) {
    return false;
  }
  const [y, m, d] = value.split('-').map(Number);
  return isCalendarDate(y ?? 0, m ?? 0, d ?? 0);
}

/** A FHIR instant-like dateTime: date, time with seconds, and a time zone (`2025-03-10T14:00:00+01:00`). */
export function isValidDateTime(value: string): boolean {
  return FHIR_DATE_TIME.test(value) && isValidIsoDate(value.slice(0, 10));
}

/**
 * Whether a date is not after today. "Today" is taken generously (UTC+14, the earliest time zone) so that a
 * child born today is never rejected because the server runs in UTC.
 */
export function isNotInFuture(isoDate: string, now?: Date): boolean {
  return isoDate <= latestTodayAt((now === undefined ? Date.now() : now.getTime()) + 14 * 3600_000);
}

const DAY_MS = 86_400_000;

// Every date field of every mapped record asks: the UTC date of an instant depends on its day alone, so the last
// day's text is kept rather than made anew with two Dates each time.
let lastDay = Number.NaN;
let lastDate = '';

function latestTodayAt(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== lastDay) {
    // An invalid moment (NaN) never equals lastDay and throws here, as it always did.
    lastDate = new Date(ms).toISOString().slice(0, 10);
    lastDay = day;
  }
  return lastDate;
}

/**
 * How far an instant may lie ahead of this server's clock and still count as "now": a HIS's clock that runs a
 * little fast must not get its fresh events refused, while a typing error of a day or a year still is.
 */
export const INSTANT_CLOCK_SKEW_MS = 5 * 60_000;

/** Whether a dateTime with time zone lies no further ahead than the allowed clock skew. */
export function isInstantNotInFuture(dateTime: string, now?: Date): boolean {
  return Date.parse(dateTime) <= (now === undefined ? Date.now() : now.getTime()) + INSTANT_CLOCK_SKEW_MS;
}

/** `YYYY-MM-DD` from `YYYY-MM-DD` or the Dutch `DD-MM-YYYY` / `D-M-YYYY`; undefined when it is not a real date. */
export function tryNormaliseDate(value: string): string | undefined {
  const v = value.trim();
  if (isValidIsoDate(v)) {
    return v;
  }
  const m = /^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/.exec(v);
  if (!m) {
    return undefined;
  }
  const iso = `${m[3]}-${(m[2] ?? '').padStart(2, '0')}-${(m[1] ?? '').padStart(2, '0')}`;
  return isValidIsoDate(iso) ? iso : undefined;
}

/**
 * A dateTime with offset from what a Dutch spreadsheet holds: an ISO dateTime with offset is kept; a local
 * `YYYY-MM-DD HH:MM[:SS]` or `DD-MM-YYYY HH:MM` (or a date alone, read as midnight) is read as Amsterdam time,
 * which is what the practice meant. Undefined when it is neither.
 */
export function tryNormaliseDateTime(value: string): string | undefined {
  const v = value.trim();
  if (isValidDateTime(v)) {
    return v;
  }
  const m = /^(\S+?)(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(v);
  const date = m?.[1] ? tryNormaliseDate(m[1]) : undefined;
  if (!m || !date) {
    return undefined;
  }
  const [hh, mm, ss] = [Number(m[2] ?? 0), Number(m[3] ?? 0), Number(m[4] ?? 0)];
  if (hh > 23 || mm > 59 || ss > 59) {
    return undefined;
  }
  return amsterdamDateTime(date, hh, mm, ss);
}
