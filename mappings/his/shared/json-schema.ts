import { z } from 'zod';

/**
 * The JSON Schema of a JSON dialect's request body as POST /his/v1/events takes it: one record or a non-empty array
 * of them, generated from the zod schema the dialect validates each record with. `description` names the rules the
 * dialect checks that JSON Schema cannot say.
 */
export function oneOrManyJsonSchema(record: z.ZodType, description: string): Record<string, unknown> {
  return z.toJSONSchema(z.union([record, z.array(record).min(1)]).meta({ description }), { io: 'input' });
}
