import { z } from 'zod';
import {
  DATA_CLASSES,
  DISCLOSURE_PURPOSES,
  PURPOSES,
  type DataClass,
  type SharingDirection,
} from '../contracts/sharing';

/**
 * A processing agreement (verwerkersovereenkomst / gegevensdelingsovereenkomst) between one practice and one
 * municipality: the only thing that lets data leave. Stored as versioned JSON files under
 * `$CONFIG_DIR/agreements/`, validated at start-up.
 */

export const LEGAL_BASES = ['consent', 'legal-obligation', 'public-task', 'vital-interest', 'contract'] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

const isoDate = z.iso.date();

/**
 * The `monitoring` section: how the municipality's monitoring report counts this practice. `q` and the
 * professional's cost feed the p × q saving estimate; `k` is the smallest count a report may show.
 */
const monitoringSectionSchema = z
  .object({
    /**
     * Whether trajectories count in the aggregate report without the family's consent for purpose `monitoring`.
     * Default false: only what the consent rules permit for `monitoring` is counted. Objections always win.
     */
    aggregateWithoutConsent: z.boolean().default(false),
    /** q: the average cost in EUR of the specialised youth-care trajectory that would otherwise have started. */
    q: z.number().nonnegative().default(0),
    /** What the youth professional costs the municipality, in EUR per `per`; pro-rated to a report's period. */
    professionalCost: z
      .object({ amount: z.number().nonnegative(), per: z.enum(['month', 'quarter', 'year']) })
      .strict()
      .default({ amount: 0, per: 'year' }),
    /** Counts from 1 to k − 1 are withheld from reports (small-cell suppression). */
    k: z.number().int().min(2).max(100).default(5),
  })
  .strict();
export type MonitoringSection = z.infer<typeof monitoringSectionSchema>;

/** Per data class, the allow-list of top-level elements (or extension URLs) that may leave: minimisation. */
const allowListSchema = z.partialRecord(
  z.enum(DATA_CLASSES),
  z.object({ fields: z.array(z.string().min(1)) }).strict(),
);

/**
 * The youth professional the agreement is about: who employs them, and where they register (the system of record).
 * Only when that is the municipality's system does data flow back to the practice (`toPractice`).
 */
const professionalSchema = z
  .object({
    employer: z.enum(['practice', 'municipality', 'social-team']),
    systemOfRecord: z.enum(['his', 'municipality']).default('his'),
  })
  .strict();

/**
 * The reverse direction: trajectory events the municipality registers, going to the practice's HIS. `purpose` is
 * the purpose they are decided and audited under (one of the agreement's purposes, never `monitoring`: they name the
 * child), `dataClasses` their allow-list.
 */
const toPracticeSchema = z
  .object({
    purpose: z
      .enum(DISCLOSURE_PURPOSES, {
        error:
          `one of ${DISCLOSURE_PURPOSES.join(', ')}; ` +
          "monitoring is the anonymised figures, no child's data goes under it",
      })
      .default('contact-registration'),
    dataClasses: allowListSchema,
  })
  .strict();

export const agreementSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9.-]{1,64}$/, 'letters, digits, dots and dashes'),
    version: z.number().int().positive(),
    status: z.enum(['draft', 'active', 'suspended', 'terminated']),
    practice: z
      .object({
        agb: z.string().regex(/^\d{8}$/, 'an AGB code of 8 digits'),
        ura: z
          .string()
          .regex(/^\d{8}$/, 'a URA number of 8 digits')
          .optional(),
        name: z.string().optional(),
      })
      .strict(),
    municipality: z
      .object({
        code: z.string().regex(/^GM\d{4}$/, 'a CBS municipality code such as GM0226'),
        name: z.string().min(1),
        ura: z
          .string()
          .regex(/^\d{8}$/)
          .optional(),
      })
      .strict(),
    validFrom: isoDate,
    validTo: isoDate.optional(),
    purposes: z.array(z.enum(PURPOSES)).min(1),
    legalBasis: z.enum(LEGAL_BASES),
    /** Whether a recorded objection blocks disclosure when the legal basis is not consent. */
    objectionBlocks: z.boolean().default(true),
    /** Which guardians with authority must consent for a child under 16: all of them (default) or any one. */
    guardianRule: z.enum(['all', 'any']).default('all'),
    /** Allowed data classes, each with the allow-list of top-level elements that may leave (minimisation). */
    dataClasses: allowListSchema,
    /** Who employs the youth professional and where they register; absent: the HIS is the system of record. */
    professional: professionalSchema.optional(),
    /** What may go from the municipality to the practice (only with the municipality as system of record). */
    toPractice: toPracticeSchema.optional(),
    /** How the monitoring report counts this practice; absent: defaults (consent needed, k 5, no cost figures). */
    monitoring: monitoringSectionSchema.optional(),
  })
  .strict()
  .refine((a) => !a.validTo || a.validTo >= a.validFrom, {
    message: 'validTo is before validFrom',
    path: ['validTo'],
    // Also beside other problems of the file, so that one run of config:check lists them all.
    when: ({ value }) => {
      const v = value as { validFrom?: unknown; validTo?: unknown } | null;
      return typeof v?.validFrom === 'string' && (v.validTo === undefined || typeof v.validTo === 'string');
    },
  })
  .refine((a) => !a.toPractice || a.purposes.includes(a.toPractice.purpose), {
    message: "must be one of the agreement's purposes",
    path: ['toPractice', 'purpose'],
  })
  .refine((a) => !a.toPractice || a.professional?.systemOfRecord === 'municipality', {
    message: 'data flows to the practice only when professional.systemOfRecord is municipality',
    path: ['toPractice'],
  });

export type Agreement = z.infer<typeof agreementSchema>;

/** Where the professional registers: `his` unless the agreement says otherwise. */
export function systemOfRecordOf(a: Pick<Agreement, 'professional'>): 'his' | 'municipality' {
  return a.professional?.systemOfRecord ?? 'his';
}

/** The allow-list for one direction: `dataClasses` towards the municipality, `toPractice.dataClasses` back. */
export function allowListOf(
  a: Pick<Agreement, 'dataClasses'> & Partial<Pick<Agreement, 'toPractice'>>,
  direction: SharingDirection = 'to-municipality',
): Partial<Record<DataClass, { fields: string[] }>> {
  return direction === 'to-practice' ? (a.toPractice?.dataClasses ?? {}) : a.dataClasses;
}
