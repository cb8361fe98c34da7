import { z } from 'zod';
import {
  isInstantNotInFuture,
  isNotInFuture,
  tryNormaliseDate,
  tryNormaliseDateTime,
  tryNormaliseMunicipalityCode,
} from '../../../src/kernel/fhir/identifiers';
import { COD327_SYSTEM, ICPC_SYSTEM, NHG_TABLE_14_SYSTEM } from '../../../src/kernel/fhir/systems';
import {
  GUARDIAN_RELATIONSHIP_SYSTEM,
  HELP_QUESTION_CATEGORY_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  INTERVENTION_SYSTEM,
  PROFESSIONAL_ROLE_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
} from '../../../src/kernel/fhir/terminology';
import { agb, bsn, sourceId, tableEnum, text, ura } from '../../../src/kernel/fhir/fields';

/**
 * One CSV row as column → text, validated and normalised. Spreadsheets lose leading zeros and write dates the
 * Dutch way, so the columns accept those forms and normalise them; everything else is as strict as the JSON
 * dialects. An empty cell is an absent value.
 */

/** Puts back one leading zero a spreadsheet dropped by reading the value as a number. */
const zeroPadded = (length: number) => (v: string) => (/^\d+$/.test(v) && v.length === length - 1 ? `0${v}` : v);

const csvDate = z.string().transform((v, ctx) => {
  const d = tryNormaliseDate(v);
  if (!d) {
    ctx.issues.push({ code: 'custom', input: v, message: 'a date DD-MM-YYYY or YYYY-MM-DD' });
    return z.NEVER;
  }
  return d;
});
const csvPastDate = csvDate.refine((d) => isNotInFuture(d), 'lies in the future');
const csvDateTime = z.string().transform((v, ctx) => {
  const d = tryNormaliseDateTime(v);
  if (!d) {
    ctx.issues.push({
      code: 'custom',
      input: v,
      message: 'a date and time DD-MM-YYYY HH:MM (Amsterdam) or ISO with offset',
    });
    return z.NEVER;
  }
  return d;
});
const csvPastDateTime = csvDateTime.refine((d) => isInstantNotInFuture(d), 'lies in the future');
const municipality = z.string().transform((v, ctx) => {
  const m = tryNormaliseMunicipalityCode(v);
  if (!m) {
    ctx.issues.push({ code: 'custom', input: v, message: 'a CBS municipality code such as GM0226' });
    return z.NEVER;
  }
  return m;
});
const yesNo = z.string().transform((v, ctx) => {
  const s = v.trim().toLowerCase();
  if (['ja', 'j', 'yes', 'y', 'true', '1'].includes(s)) {
    return true;
  }
  if (['nee', 'n', 'no', 'false', '0'].includes(s)) {
    return false;
  }
  ctx.issues.push({ code: 'custom', input: v, message: 'ja or nee' });
  return z.NEVER;
});
const upper = (schema: z.ZodType<string, string>) =>
  z
    .string()
    .transform((v) => v.toUpperCase())
    .pipe(schema);
const lower = (schema: z.ZodType<string, string>) =>
  z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(schema);
const minutes = z
  .string()
  .regex(/^\d{1,3}$/, 'whole minutes')
  .transform(Number)
  .pipe(z.number().int().min(1, 'at least 1 minute').max(480, 'at most 480 minutes'));
const list = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((v) =>
      v
        .split('|')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(item).max(10));

const guardianId = sourceId.optional();
const guardianBsn = z.string().transform(zeroPadded(9)).pipe(bsn).optional();
const relationship = lower(tableEnum(GUARDIAN_RELATIONSHIP_SYSTEM, 'relationship')).optional();

/** One row, by column name. */
export const csvRowSchema = z
  .object({
    practice_agb: z.string().transform(zeroPadded(8)).pipe(agb),
    practice_ura: ura.optional(),
    professional_agb: z.string().transform(zeroPadded(8)).pipe(agb).optional(),
    professional_role: lower(tableEnum(PROFESSIONAL_ROLE_SYSTEM, 'professional role')).optional(),
    professional_name: text(200).optional(),
    child_id: sourceId,
    bsn: z.string().transform(zeroPadded(9)).pipe(bsn),
    birth_date: csvPastDate,
    municipality,
    child_given_name: text(100).optional(),
    child_family_name: text(200).optional(),
    trajectory_id: sourceId,
    trajectory_start: csvPastDate,
    icpc: upper(tableEnum(ICPC_SYSTEM, 'ICPC-1NL code')).optional(),
    help_question: list(tableEnum(HELP_QUESTION_CATEGORY_SYSTEM, 'help-question category')).optional(),
    referrer_type: z
      .string()
      .transform(zeroPadded(2))
      .pipe(tableEnum(COD327_SYSTEM, 'COD327 referrer type'))
      .optional(),
    referrer_subtype: lower(tableEnum(REFERRER_SUBTYPE_SYSTEM, 'referrer sub-type')).optional(),
    contact_id: sourceId.optional(),
    contact_start: csvPastDateTime.optional(),
    contact_mode: tableEnum(NHG_TABLE_14_SYSTEM, 'NHG Tabel 14 contact mode').optional(),
    duration_min: minutes.optional(),
    interventions: list(tableEnum(INTERVENTION_SYSTEM, 'intervention')).optional(),
    outcome: lower(tableEnum(TRAJECTORY_OUTCOME_SYSTEM, 'trajectory outcome')).optional(),
    closed_on: csvPastDate.optional(),
    guardian1_id: guardianId,
    guardian1_bsn: guardianBsn,
    guardian1_relationship: relationship,
    guardian1_authority: yesNo.optional(),
    guardian2_id: guardianId,
    guardian2_bsn: guardianBsn,
    guardian2_relationship: relationship,
    guardian2_authority: yesNo.optional(),
  })
  .strict();

/** A validated, normalised row. */
export type CsvRow = z.infer<typeof csvRowSchema>;

/** The shape of a RawRecord's value in this dialect: self-contained, so a stored record can be mapped again. */
export const csvRecordValueSchema = z
  .object({
    header: z.array(z.string()).min(1),
    fields: z.array(z.string()),
    error: z
      .object({ field: z.number().int().min(0), message: z.string() })
      .strict()
      .optional(),
  })
  .strict();

/** A RawRecord value of this dialect. */
export type CsvRecordValue = z.infer<typeof csvRecordValueSchema>;
