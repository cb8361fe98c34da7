import { z } from 'zod';
import { isValidBsn } from '../../../src/fhir/identifiers';

/** The generic HIS JSON event (dialect `generic-json`). Documented in README "HIS dialects". */

const bsn = z.string().refine(isValidBsn, 'not a valid BSN (9 digits passing the 11-proef)');
const agb = z.string().regex(/^\d{8}$/, 'an AGB code of 8 digits');
const ura = z.string().regex(/^\d{8}$/, 'a URA number of 8 digits');
const pastDate = z.iso.date().refine((d) => d <= new Date().toISOString().slice(0, 10), 'lies in the future');

export const humanNameSchema = z.object({ given: z.array(z.string()).optional(), family: z.string().optional() }).strict();

export const childSchema = z
  .object({
    id: z.string().min(1),
    bsn,
    birthDate: pastDate,
    municipality: z.string().regex(/^GM\d{4}$/, 'a CBS municipality code such as GM0226'),
    name: humanNameSchema.optional(),
  })
  .strict();

export const guardianSchema = z
  .object({
    id: z.string().min(1),
    bsn: bsn.optional(),
    name: humanNameSchema.optional(),
    relationship: z.enum(['mother', 'father', 'guardian', 'foster-parent', 'other']),
    hasAuthority: z.boolean(),
  })
  .strict();

export const referralSchema = z
  .object({
    id: z.string().min(1),
    target: z.enum(['social-team', 'youth-care-provider', 'ggz']),
    productCategory: z.string().regex(/^\d{2}$/, 'a JZ020 product category of 2 digits'),
    referrerType: z.string().regex(/^\d{2}$/, 'a COD327 referrer type of 2 digits'),
    authoredOn: z.iso.datetime({ offset: true }),
    reasonText: z.string().optional(),
  })
  .strict();

export const genericEventSchema = z
  .object({
    eventId: z.string().min(1).max(128),
    eventType: z.literal('referral.created'),
    occurredAt: z.iso.datetime({ offset: true }),
    practice: z.object({ agb, ura: ura.optional(), name: z.string().optional() }).strict(),
    professional: z
      .object({ agb: agb.optional(), role: z.enum(['poh-jeugd', 'huisarts', 'poh-ggz']), name: z.string().optional() })
      .strict(),
    child: childSchema,
    guardians: z.array(guardianSchema).default([]),
    referral: referralSchema,
  })
  .strict();

export type GenericEvent = z.infer<typeof genericEventSchema>;
