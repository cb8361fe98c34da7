import { z } from 'zod';

/**
 * Where a municipality receives what is shared with it. One JSON file per destination under
 * `$CONFIG_DIR/destinations/`, validated at start-up. Each destination has its own `deliver` queue.
 */
export const destinationSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]{1,48}$/, 'lower-case letters, digits and dashes'),
    municipality: z.string().regex(/^GM\d{4}$/, 'a CBS municipality code such as GM0226'),
    adapter: z.enum(['fhir-rest']),
    baseUrl: z.url({ protocol: /^https?$/ }),
    auth: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('none') }),
        /** The token itself comes from the environment variable named here, never from the file. */
        z.object({ type: z.literal('bearer'), tokenEnv: z.string().min(1) }),
      ])
      .default({ type: 'none' }),
    timeoutMs: z.number().int().min(100).optional(),
  })
  .strict();

export type Destination = z.infer<typeof destinationSchema>;
