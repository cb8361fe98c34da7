import { z } from 'zod';
import {
  allowPlainHttpSchema,
  checkPlainHttp,
  destinationFieldsSchema,
  endpointAuthSchema,
  type AuthType,
} from '../../src/contracts/destination';
import { fhirRestFormat } from './fhir-rest/adapter';
import { isamenlevingFormat } from './isamenleving/adapter';
import type { DeliveryAdapter, DestinationFormat } from './shared/adapter';
import { webhookFormat } from './webhook/adapter';

/** Every destination format. Adding one: a folder under mappings/municipality/ and a line here. */
export const FORMATS: readonly DestinationFormat[] = [fhirRestFormat, webhookFormat, isamenlevingFormat];

/** The adapter an endpoint names; configuration is checked against FORMATS at start-up, so this cannot miss. */
export function getAdapter(name: string): DeliveryAdapter {
  const format = FORMATS.find((f) => f.adapter.name === name);
  if (!format) {
    throw new Error(`No destination format ${name}`);
  }
  return format.adapter;
}

/** Whether the adapter's format carries a withdrawal notice (`DestinationFormat.withdrawalNotices`). */
export function carriesWithdrawalNotices(name: string): boolean {
  return FORMATS.find((f) => f.adapter.name === name)?.withdrawalNotices === true;
}

/**
 * The adapter must be one of `formats`: checked on the field itself, so a typo in it is listed beside every other
 * mistake of the file (an object's own refinements run only once all its fields are valid). `params.allowed` lets
 * the configuration check name the allowed values and the one probably meant.
 */
function adapterIn(formats: readonly DestinationFormat[]) {
  const allowed = formats.map((f) => f.adapter.name);
  return z.string().superRefine((name, ctx) => {
    if (!allowed.includes(name)) {
      ctx.addIssue({ code: 'custom', message: `one of ${allowed.join(', ')}`, params: { allowed } });
    }
  });
}

/** The authentication must be one the adapter's format takes. */
function checkFormat(formats: readonly DestinationFormat[]) {
  return (value: { adapter: string; auth: { type: AuthType } }, ctx: z.RefinementCtx): void => {
    const format = formats.find((f) => f.adapter.name === value.adapter);
    if (format && !format.authTypes.includes(value.auth.type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'type'],
        message: `a ${value.adapter} destination takes auth type ${format.authTypes.map((t) => `'${t}'`).join(' or ')}`,
      });
    }
  };
}

/**
 * Where a municipality receives what is shared with it. One JSON file per destination under
 * `$CONFIG_DIR/destinations/`, validated at start-up. Each destination has its own `deliver` queue.
 */
export const destinationSchema = destinationFieldsSchema
  .extend({ adapter: adapterIn(FORMATS) })
  .superRefine(checkFormat(FORMATS))
  .superRefine(checkPlainHttp);

/**
 * Where a practice's HIS receives status updates on its referrals (feedback). One JSON file per practice under
 * `$CONFIG_DIR/practices/`, validated at start-up like agreements and destinations.
 */
export const practiceEndpointSchema = z
  .object({
    agb: z.string().regex(/^\d{8}$/, 'an AGB code of 8 digits'),
    adapter: adapterIn(FORMATS.filter((f) => f.servesPractices)),
    baseUrl: z.url({ protocol: /^https?$/ }),
    /** As a destination's: `true` lets `baseUrl` and an OAuth `auth.tokenUrl` be plain `http://` to a remote host. */
    allowPlainHttp: allowPlainHttpSchema,
    auth: endpointAuthSchema.default({ type: 'none' }),
    timeoutMs: z.number().int().min(100).optional(),
  })
  .strict()
  .superRefine(checkFormat(FORMATS.filter((f) => f.servesPractices)))
  .superRefine(checkPlainHttp);
