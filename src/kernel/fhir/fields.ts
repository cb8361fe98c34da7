import { z } from 'zod';
import {
  AGB_PATTERN,
  BSN_PATTERN,
  FHIR_DATE,
  FHIR_DATE_TIME,
  isInstantNotInFuture,
  isNotInFuture,
  isValidBsn,
  MUNICIPALITY_CODE_PATTERN,
  URA_PATTERN,
} from './identifiers';
import { codesOf, unknownCodeMessage } from './terminology';

/**
 * zod building blocks shared by the dialects. Each says what it expects in its message; none repeats the value
 * for personal data (a BSN must not end up in a logged OperationOutcome), codes are repeated to help the sender.
 *
 * What a JSON Schema can say (a length, a pattern, a format) is a zod check that z.toJSONSchema writes out, so the
 * schemas served at GET /his/v1/schema/{dialect} say it too; a check written with `refine` stays out of them, and
 * its field's description says so (the 11-proef, a date in the future). A pattern check aborts, so that a value
 * of the wrong form gets one message, not also the refinement's.
 */

/** FHIR strings may not hold control characters other than tab, LF and CR (@medplum/core rejects them). */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F]*$/;

/**
 * An identifier holds no control character at all, tab and line breaks included: it is passed on verbatim to
 * municipalities (ServiceRequest.identifier), into their systems, logs and spreadsheets, where a line break in an id
 * splits a record or a header (report-xpen 5). Markup, `|` and the like stay allowed: FHIR's identifier value is a
 * string, and receivers escape what they show.
 */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const NO_CONTROL_CHARACTERS_IN_ID = /^[^\u0000-\u001F\u007F-\u009F]*$/;

/**
 * Free text of at most `max` characters that FHIR accepts: not blank (FHIR trims), no control characters. A blank
 * value or a control character ends the checks, so a rule added after it (sourceId's) does not tell the same fault
 * again.
 */
export function text(max: number): z.ZodString {
  return z
    .string()
    .min(1, { message: 'must not be empty', abort: true })
    .max(max, `at most ${max} characters`)
    .regex(/\S/, { message: 'must not be empty', abort: true })
    .regex(NO_CONTROL_CHARACTERS, { message: 'contains control characters', abort: true });
}

/** A HIS's own record id: 1-128 characters, no control characters, no surrounding spaces. */
export const sourceId = text(128)
  .regex(/^\S(?:[\s\S]*\S)?$/, 'has leading or trailing spaces')
  .regex(NO_CONTROL_CHARACTERS_IN_ID, 'contains control characters (a tab, a line break)');

/** A BSN passing the 11-proef. */
export const bsn = z
  .string()
  .regex(BSN_PATTERN, { message: 'not a valid BSN (9 digits passing the 11-proef)', abort: true })
  .refine(isValidBsn, 'not a valid BSN (9 digits passing the 11-proef)')
  .meta({ description: 'a BSN: 9 digits passing the 11-proef (the 11-proef is checked, not said in this schema)' });
/** An AGB code (8 digits). */
export const agb = z.string().regex(AGB_PATTERN, 'an AGB code of 8 digits');
/** A URA number (8 digits). */
export const ura = z.string().regex(URA_PATTERN, 'a URA number of 8 digits');
/** A CBS municipality code `GM0226`. */
export const municipalityCode = z.string().regex(MUNICIPALITY_CODE_PATTERN, 'a CBS municipality code such as GM0226');
/** A calendar date `YYYY-MM-DD` that exists (zod's pattern knows the days of each month) and FHIR accepts. */
export const isoDate = z.iso
  .date({ error: 'a date YYYY-MM-DD', abort: true })
  .regex(FHIR_DATE, 'a date YYYY-MM-DD')
  .meta({ format: 'date' });
/** A date not after today (a birth date, a start date). */
export const pastDate = isoDate
  .refine((d) => isNotInFuture(d), 'lies in the future')
  .meta({ format: 'date', description: 'a date YYYY-MM-DD not after today (checked, not said in this schema)' });
const DATE_TIME_MESSAGE = 'a dateTime with seconds and time zone, such as 2025-03-10T14:30:00+01:00';
/** A dateTime with seconds and time zone, as FHIR takes it. */
export const dateTime = z.iso
  .datetime({ offset: true, error: DATE_TIME_MESSAGE, abort: true })
  .regex(FHIR_DATE_TIME, DATE_TIME_MESSAGE);
/**
 * A dateTime that has happened: not later than now plus a few minutes of clock skew (INSTANT_CLOCK_SKEW_MS). Every
 * instant a HIS sends (occurredAt, authoredOn, a contact's start, a consent's recordedAt) is of something done.
 */
export const pastDateTime = dateTime
  .refine((v) => isInstantNotInFuture(v), 'lies in the future')
  .meta({
    format: 'date-time',
    description: 'a dateTime with seconds and time zone, not in the future (checked, not said in this schema)',
  });

/**
 * A code the terminology tables know in `system`, as a zod enum built from the table (so the JSON Schema lists
 * the codes too); `label` names the list in the message.
 */
export function tableEnum(system: string, label: string): z.ZodEnum<Record<string, string>> {
  const codes = codesOf(system);
  if (codes.length === 0) {
    throw new Error(`The terminology tables know no codes in ${system}`);
  }
  return z.enum(codes as [string, ...string[]], {
    // No echo of the value sent: a name or a BSN typed in the wrong column would come back in the answer.
    error: (iss) =>
      typeof iss.input === 'string'
        ? unknownCodeMessage(system, label)
        : `a ${label} is a string code, such as "${codes[0]}" (see mappings/terminology)`,
  });
}

/** A (partial) person name. */
export const humanName = z
  .object({ given: z.array(text(100)).max(5).optional(), family: text(200).optional() })
  .strict();
