import { z } from 'zod';
import { DATA_CLASSES, PURPOSES } from '../contracts/sharing';

/**
 * A processing agreement (verwerkersovereenkomst / gegevensdelingsovereenkomst) between one practice and one
 * municipality: the only thing that lets data leave. Stored as versioned JSON files under
 * `$CONFIG_DIR/agreements/`, validated at start-up.
 */

export const LEGAL_BASES = ['consent', 'legal-obligation', 'public-task', 'vital-interest', 'contract'] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

const isoDate = z.iso.date();

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
    dataClasses: z.partialRecord(z.enum(DATA_CLASSES), z.object({ fields: z.array(z.string().min(1)) }).strict()),
  })
  .strict()
  .refine((a) => !a.validTo || a.validTo >= a.validFrom, { message: 'validTo is before validFrom', path: ['validTo'] });

export type Agreement = z.infer<typeof agreementSchema>;
