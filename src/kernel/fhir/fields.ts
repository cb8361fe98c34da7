import { z } from 'zod';
import {
  isNotInFuture,
  isValidAgb,
  isValidBsn,
  isValidDateTime,
  isValidIsoDate,
  isValidMunicipalityCode,
  isValidUra,
} from './identifiers';
import { codesOf, unknownCodeMessage } from './terminology';

/**
 * zod building blocks shared by the dialects. Each says what it expects in its message; none repeats the value
 * for personal data (a BSN must not end up in a logged OperationOutcome), codes are repeated to help the sender.
 */

/** FHIR strings may not hold control characters other than tab, LF and CR (@medplum/core rejects them). */
function hasControlCharacter(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      return true;
    }
  }
  return false;
}

/** Free text of at most `max` characters that FHIR accepts: not blank (FHIR trims), no control characters. */
export function text(max: number): z.ZodString {
  return z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((v) => v.trim() !== '', 'must not be empty')
    .refine((v) => !hasControlCharacter(v), 'contains control characters');
}

/** A HIS's own record id: 1-128 characters, no control characters, no surrounding spaces. */
export const sourceId = text(128).refine((v) => v.trim() === v, 'has leading or trailing spaces');

/** A BSN passing the 11-proef. */
export const bsn = z.string().refine(isValidBsn, 'not a valid BSN (9 digits passing the 11-proef)');
/** An AGB code (8 digits). */
export const agb = z.string().refine(isValidAgb, 'an AGB code of 8 digits');
/** A URA number (8 digits). */
export const ura = z.string().refine(isValidUra, 'a URA number of 8 digits');
/** A CBS municipality code `GM0226`. */
export const municipalityCode = z.string().refine(isValidMunicipalityCode, 'a CBS municipality code such as GM0226');
/** A calendar date `YYYY-MM-DD` that exists. */
export const isoDate = z.string().refine(isValidIsoDate, 'a date YYYY-MM-DD');
/** A date not after today (a birth date, a start date). */
export const pastDate = isoDate.refine((d) => isNotInFuture(d), 'lies in the future');
/** A dateTime with seconds and time zone, as FHIR takes it. */
export const dateTime = z
  .string()
  .refine(isValidDateTime, 'a dateTime with seconds and time zone, such as 2025-03-10T14:30:00+01:00');

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
    error: () => unknownCodeMessage(system, label),
  });
}

/** A (partial) person name. */
export const humanName = z
  .object({ given: z.array(text(100)).max(5).optional(), family: text(200).optional() })
  .strict();
