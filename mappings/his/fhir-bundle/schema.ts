import { z } from 'zod';
import {
  AGB_PATTERN,
  AGB_SYSTEM,
  BSN_PATTERN,
  BSN_SYSTEM,
  FHIR_DATE,
  FHIR_DATE_TIME,
  isValidDateTime,
  isValidIsoDate,
  MUNICIPALITY_CODE_PATTERN,
  MUNICIPALITY_CODE_SYSTEM,
  URA_PATTERN,
  URA_SYSTEM,
} from '../../../src/kernel/fhir/identifiers';
import { JZ020_SYSTEM } from '../../../src/kernel/fhir/systems';
import { codesOf, EXTENSION } from '../../../src/kernel/fhir/terminology';
import { isoDate, pastDate, pastDateTime, sourceId, text } from '../../../src/kernel/fhir/fields';

/**
 * The parts of a FHIR R4 Bundle the `fhir-bundle` dialect reads. Objects are loose: elements the dialect does not
 * read are ignored and never copied (the output is rebuilt from what was read). Codes, identifiers and references
 * are checked afterwards in to-his-event.ts, where the tables and the other entries are at hand.
 *
 * Of those later checks, the ones JSON Schema can say are said to the readers of the served schema with `meta`
 * (`contains`, `if`/`then`): one Organization and one Patient, the Patient's BSN identifier and municipality, a
 * guardian's parental authority, the JZ020 code of a referral. tests/integration/dialect-schemas.test.ts holds the
 * served schema and the endpoint to the same answers.
 */

/** JSON Schema for "an array holding `min` to `max` items like `item`". */
function holds(item: object, min = 1, max?: number): Record<string, unknown> {
  return { type: 'array', contains: item, minContains: min, ...(max === undefined ? {} : { maxContains: max }) };
}

/** JSON Schema for an object whose `key` is `value`. */
function whose(key: string, value: unknown): Record<string, unknown> {
  return { type: 'object', properties: { [key]: { const: value } }, required: [key] };
}

/** JSON Schema for a list of extensions holding one of `url`. */
const extensionsHolding = (url: string): Record<string, unknown> => holds(whose('url', url));

const uri = z.string().max(500);
const coding = z
  .object({ system: uri.optional(), code: z.string().max(100).optional(), display: z.string().optional() })
  .loose();
const concept = z.object({ coding: z.array(coding).max(20).optional() }).loose();
/** JSON Schema: an identifier in one of these systems has a value of its form (its check digit aside). */
const IDENTIFIER_FORMS: readonly (readonly [string, RegExp])[] = [
  [BSN_SYSTEM, BSN_PATTERN],
  [AGB_SYSTEM, AGB_PATTERN],
  [URA_SYSTEM, URA_PATTERN],
  [MUNICIPALITY_CODE_SYSTEM, MUNICIPALITY_CODE_PATTERN],
];
const identifier = z
  .object({ system: uri.optional(), value: z.string().max(200).optional() })
  .loose()
  .meta({
    allOf: IDENTIFIER_FORMS.map(([system, pattern]) => ({
      if: whose('system', system),
      then: { type: 'object', required: ['value'], properties: { value: { type: 'string', pattern: pattern.source } } },
    })),
  });
const reference = z
  .object({
    reference: z.string().max(500).optional(),
    identifier: identifier.optional(),
    display: text(200).optional(),
  })
  .loose();
const extension = z
  .object({
    url: uri,
    valueBoolean: z.boolean().optional(),
    valueCoding: coding.optional(),
    valueIdentifier: identifier.optional(),
  })
  .loose();
const extensions = z.array(extension).max(20).optional();
const humanName = z.object({ given: z.array(text(100)).max(5).optional(), family: text(200).optional() }).loose();
/** FHIR Period.start/end are dateTimes, which may be plain dates; the dialect works with the date. */
const dateOrDateTime = z
  .string()
  .regex(new RegExp(`${FHIR_DATE.source}|${FHIR_DATE_TIME.source}`), {
    message: 'a date YYYY-MM-DD or a dateTime with time zone',
    abort: true,
  })
  .refine((v) => isValidIsoDate(v) || isValidDateTime(v), 'a date YYYY-MM-DD or a dateTime with time zone');

/** The child. */
const patientSchema = z
  .object({
    resourceType: z.literal('Patient'),
    id: sourceId.optional(),
    identifier: z
      .array(identifier)
      .min(1)
      .max(10)
      .meta({ description: 'the BSN identifier', ...holds(whose('system', BSN_SYSTEM)) }),
    name: z.array(humanName).max(5).optional(),
    birthDate: pastDate,
    address: z
      .array(z.object({ extension: extensions }).loose())
      .min(1)
      .max(5)
      .meta({
        description: 'the municipality of residence as an extension of an address',
        ...holds({ type: 'object', properties: { extension: extensionsHolding(EXTENSION.municipality) } }),
      }),
  })
  .loose();

/** A parent or guardian. */
const relatedPersonSchema = z
  .object({
    resourceType: z.literal('RelatedPerson'),
    id: sourceId.optional(),
    extension: extensions,
    identifier: z.array(identifier).max(10).optional(),
    patient: reference,
    relationship: z.array(concept).max(5).optional(),
    name: z.array(humanName).max(5).optional(),
  })
  .loose()
  .meta({
    description: 'whether they hold parental authority: the extension, with valueBoolean',
    allOf: [
      {
        type: 'object',
        required: ['extension'],
        properties: { extension: extensionsHolding(EXTENSION.parentalAuthority) },
      },
    ],
  });

/** The sending practice. */
const organizationSchema = z
  .object({
    resourceType: z.literal('Organization'),
    id: sourceId.optional(),
    identifier: z.array(identifier).min(1).max(10),
  })
  .loose();

/** A contact. */
const encounterSchema = z
  .object({
    resourceType: z.literal('Encounter'),
    id: sourceId.optional(),
    status: z.literal('finished'),
    type: z.array(concept).min(1).max(12),
    subject: reference,
    episodeOfCare: z.array(reference).length(1, 'exactly one EpisodeOfCare (the trajectory)'),
    participant: z
      .array(z.object({ type: z.array(concept).max(5).optional(), individual: reference.optional() }).loose())
      .max(1, 'at most one participant: the professional')
      .optional(),
    period: z.object({ start: pastDateTime, end: pastDateTime.optional() }).loose(),
    length: z
      .object({ value: z.number().int().min(1).max(480), code: z.literal('min') })
      .loose()
      .optional(),
    reasonCode: z.array(concept).max(5).optional(),
  })
  .loose();

/** A trajectory. */
const episodeOfCareSchema = z
  .object({
    resourceType: z.literal('EpisodeOfCare'),
    id: sourceId.optional(),
    extension: extensions,
    status: z.enum(['active', 'finished']),
    type: z.array(concept).max(5).optional(),
    patient: reference,
    period: z.object({ start: dateOrDateTime, end: dateOrDateTime.optional() }).loose(),
  })
  .loose();

/** JSON Schema: a JZ020 coding holds a known code; an active referral has one in `category`. */
function jz020Rules(): Record<string, unknown> {
  const jz020Coding = whose('system', JZ020_SYSTEM);
  const knownCodes = {
    if: jz020Coding,
    then: { type: 'object', properties: { code: { enum: codesOf(JZ020_SYSTEM) } } },
  };
  const concept = (coding: object) => ({ type: 'object', properties: { coding: { type: 'array', ...coding } } });
  return {
    allOf: [
      { type: 'object', properties: { category: { type: 'array', items: concept({ items: knownCodes }) } } },
      {
        if: whose('status', 'active'),
        then: { type: 'object', required: ['category'], properties: { category: holds(concept(holds(jz020Coding))) } },
      },
    ],
  };
}

/** A referral. */
const serviceRequestSchema = z
  .object({
    resourceType: z.literal('ServiceRequest'),
    id: sourceId.optional(),
    identifier: z
      .array(identifier)
      .max(10)
      .optional()
      .meta({ description: 'the HIS’s own business identifiers of the referral, forwarded with it' }),
    extension: extensions,
    status: z.enum(['active', 'revoked']),
    intent: z.literal('order'),
    category: z.array(concept).max(5).optional(),
    subject: reference,
    authoredOn: pastDateTime.optional(),
    requester: reference.optional(),
    performerType: concept.optional(),
    reasonCode: z.array(concept).max(5).optional(),
    note: z
      .array(z.object({ text: text(2000) }).loose())
      .max(1, 'at most one note: the reason')
      .optional(),
  })
  .loose()
  .meta({ description: 'a referral: an active one names its JZ020 product category', ...jz020Rules() });

const provisionPeriod = z.object({ start: isoDate, end: isoDate.optional() }).loose();
const provisionRule = {
  type: z.enum(['permit', 'deny']),
  period: provisionPeriod.optional(),
  purpose: z.array(coding).max(10).optional(),
  class: z.array(coding).max(10).optional(),
};

/** A consent, objection or withdrawal. */
const consentSchema = z
  .object({
    resourceType: z.literal('Consent'),
    id: sourceId.optional(),
    status: z.enum(['active', 'inactive', 'entered-in-error']),
    scope: concept,
    patient: reference,
    dateTime: pastDateTime,
    performer: z.array(reference).max(5).optional(),
    provision: z
      .object({
        ...provisionRule,
        actor: z
          .array(z.object({ role: concept, reference }).loose())
          .max(5)
          .optional(),
        provision: z
          .array(
            z
              .object({
                ...provisionRule,
                provision: z.array(z.unknown()).max(0, 'one level of exceptions only').optional(),
              })
              .loose(),
          )
          .max(10)
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** Any resource an entry may hold, told apart by resourceType. */
export const entryResourceSchema = z.discriminatedUnion('resourceType', [
  patientSchema,
  relatedPersonSchema,
  organizationSchema,
  encounterSchema,
  episodeOfCareSchema,
  serviceRequestSchema,
  consentSchema,
]);

/** The Bundle: one event. */
export const bundleSchema = z
  .object({
    resourceType: z.literal('Bundle'),
    type: z.enum(['transaction', 'collection']),
    identifier: z.object({ system: uri.optional(), value: sourceId }).loose(),
    timestamp: pastDateTime,
    entry: z
      .array(z.object({ fullUrl: uri.optional(), resource: entryResourceSchema }).loose())
      .min(1)
      .max(50)
      .meta({
        description: 'exactly one Organization (the sending practice) and exactly one Patient (the child)',
        allOf: ['Organization', 'Patient'].map((type) => ({
          ...holds({ type: 'object', properties: { resource: whose('resourceType', type) } }, 1, 1),
        })),
      }),
  })
  .loose();

/** A parsed Bundle and its parts. */
export type FhirBundle = z.infer<typeof bundleSchema>;
export type EntryResource = z.infer<typeof entryResourceSchema>;
export type BundleConcept = z.infer<typeof concept>;
export type BundleReference = z.infer<typeof reference>;
export type BundleExtension = z.infer<typeof extension>;
export type BundleIdentifier = z.infer<typeof identifier>;
