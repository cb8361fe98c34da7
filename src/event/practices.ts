import { z } from 'zod';
import { checkHmacPairing, endpointAuthSchema, type Endpoint } from '../contracts/destination';

/**
 * Where a practice's HIS receives status updates on its referrals (feedback). One JSON file per practice under
 * `$CONFIG_DIR/practices/`, validated at start-up like agreements and destinations.
 */
export const practiceEndpointSchema = z
  .object({
    agb: z.string().regex(/^\d{8}$/, 'an AGB code of 8 digits'),
    adapter: z.enum(['fhir-rest', 'webhook']),
    baseUrl: z.url({ protocol: /^https?$/ }),
    auth: endpointAuthSchema.default({ type: 'none' }),
    timeoutMs: z.number().int().min(100).optional(),
  })
  .strict()
  .superRefine(checkHmacPairing);

export type PracticeEndpoint = z.infer<typeof practiceEndpointSchema>;

/** The endpoint as the delivery adapters see it; its id names it in logs and errors. */
export function practiceEndpointOf(p: PracticeEndpoint): Endpoint {
  return { id: `practice-${p.agb}`, adapter: p.adapter, baseUrl: p.baseUrl, auth: p.auth, timeoutMs: p.timeoutMs };
}
