import type { z } from 'zod';
import type { practiceEndpointSchema } from '../../mappings/municipality/index';
import type { Endpoint } from '../contracts/destination';

/** A practice's HIS endpoint for status updates (`$CONFIG_DIR/practices/*.json`). */
export type PracticeEndpoint = z.infer<typeof practiceEndpointSchema>;

/** The endpoint as the delivery adapters see it; its id names it in logs and errors. */
export function practiceEndpointOf(p: PracticeEndpoint): Endpoint {
  return { id: `practice-${p.agb}`, adapter: p.adapter, baseUrl: p.baseUrl, auth: p.auth, timeoutMs: p.timeoutMs };
}
