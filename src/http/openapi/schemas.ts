import { z } from 'zod';

/**
 * Response shapes for the OpenAPI document. Requests are described by the zod schemas the routes validate with
 * (imported from the routers); responses are not validated at run time, so their shapes are written here once,
 * as loosely as what the handlers promise (FHIR resources by `resourceType`, JSON bodies by their main fields).
 */

export const operationOutcome = z
  .object({
    resourceType: z.literal('OperationOutcome'),
    issue: z
      .array(
        z.looseObject({
          severity: z.enum(['fatal', 'error', 'warning', 'information']),
          code: z.string(),
          details: z.object({ text: z.string() }).optional(),
          expression: z.array(z.string()).optional().meta({ description: 'the field or parameter at fault' }),
        }),
      )
      .min(1),
  })
  .meta({ id: 'OperationOutcome', description: 'FHIR R4 OperationOutcome: every error, 4xx and 5xx' });

const resources = new Map<string, z.ZodType>();
const searchsets = new Map<string, z.ZodType>();

/** A FHIR resource of the given type, as served (its own schema is the FHIR R4 specification's). */
export function fhirResource(type: string): z.ZodType {
  const schema =
    resources.get(type) ??
    z.looseObject({ resourceType: z.literal(type), id: z.string().optional() }).meta({
      id: type,
      description: `FHIR R4 ${type}: https://hl7.org/fhir/R4/${type.toLowerCase()}.html`,
    });
  resources.set(type, schema);
  return schema;
}

export function searchsetOf(type: string): z.ZodType {
  const known = searchsets.get(type);
  if (known) {
    return known;
  }
  const schema = z
    .looseObject({
      resourceType: z.literal('Bundle'),
      type: z.literal('searchset'),
      total: z.number().int().optional().meta({ description: 'left out with _total=none or beyond 10,000 matches' }),
      link: z.array(z.object({ relation: z.enum(['self', 'next', 'previous']), url: z.url() })),
      entry: z
        .array(
          z.object({
            fullUrl: z.url(),
            resource: fhirResource(type),
            search: z.object({ mode: z.literal('match') }),
          }),
        )
        .optional(),
    })
    .meta({ id: `${type}Searchset`, description: `FHIR R4 searchset Bundle of ${type}` });
  searchsets.set(type, schema);
  return schema;
}

export const receipt = z
  .object({
    status: z.enum(['accepted', 'duplicate', 'rejected']),
    location: z.string().meta({ description: 'where the event stood in the request: [3], row 5, or empty' }),
    eventId: z.string().optional(),
    id: z.uuid().optional().meta({ description: 'jeugdbrug’s id: GET /his/v1/events/{id}' }),
    outcome: operationOutcome.optional(),
  })
  .meta({ id: 'Receipt' });

export const eventStatus = z
  .looseObject({
    id: z.uuid(),
    eventId: z.string(),
    practice: z.string(),
    dialect: z.string(),
    eventType: z.string(),
    state: z.string(),
    stateReason: z.string().nullable(),
    history: z.array(z.looseObject({ state: z.string() })),
    deliveries: z.array(z.looseObject({ id: z.uuid(), destination: z.string(), state: z.string() })),
  })
  .meta({ id: 'EventStatus' });

export const jsonSchemaDocument = z.looseObject({}).meta({ description: 'a JSON Schema (draft 2020-12)' });

export const anyJson = z.looseObject({});

export const replayed = z.object({ replayed: z.array(z.uuid()) }).meta({ id: 'Replayed' });

export const destinationChange = z.object({ changed: z.boolean(), status: anyJson });

export const statusUpdateView = z.looseObject({ id: z.uuid(), status: z.string(), state: z.string() });

export const trajectoryEventView = z
  .looseObject({
    id: z.uuid(),
    eventId: z.string().meta({ description: 'the municipality’s own event id' }),
    type: z.enum(['intake', 'contact', 'referral', 'closure']),
    practice: z.string(),
    decision: z.object({ effect: z.enum(['permit', 'deny']), reasons: z.array(z.string()) }),
    delivery: z.looseObject({ state: z.enum(['denied', 'pending', 'delivered', 'dead']), attempts: z.number() }),
  })
  .meta({ id: 'TrajectoryEventView' });

export const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  database: z.boolean(),
  redis: z.boolean(),
});

export const chainVerdict = z
  .looseObject({ ok: z.boolean(), tenant: z.string(), rows: z.number(), headSeq: z.number(), headHash: z.string() })
  .meta({ id: 'ChainVerdict' });
