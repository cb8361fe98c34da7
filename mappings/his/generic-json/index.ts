import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { expressionOf } from '../../../src/kernel/zod-outcome';
import { toCanonicalEvent } from '../shared/canonical-event';
import { assertSameJsonDialect, isFhirBundle } from '../shared/json-array';
import { oneOrManyJsonSchema } from '../shared/json-schema';
import { parseOrThrow } from '../../../src/kernel/zod-outcome';
import { genericEventSchema } from './schema';
import { fromGenericEvent } from './to-his-event';

/** Dialect `generic-json`: one event object, or an array of them, as `application/json`. */
export const genericJsonDialect: HisDialect = {
  name: 'generic-json',
  contentTypes: ['application/json'],
  // FHIR resources (and arrays of Bundles) belong to the fhir-bundle dialect.
  claims: (body) =>
    !(typeof body === 'object' && body !== null && 'resourceType' in body) &&
    !(Array.isArray(body) && body.length > 0 && isFhirBundle(body[0])),
  split(body: unknown): RawRecord[] {
    if (Array.isArray(body)) {
      return (body as unknown[]).map((value, i) => ({ value, location: `[${i}]` }));
    }
    if (typeof body === 'object' && body !== null) {
      return [{ value: body, location: '' }];
    }
    throw new OperationOutcomeError(badRequest('Expected a JSON event object or an array of events', 'body'));
  },
  map(record) {
    assertSameJsonDialect(record, 'generic-json', 'fhir-bundle', isFhirBundle(record.value));
    const at = (path: readonly PropertyKey[]): string => expressionOf(record.location, path);
    return toCanonicalEvent(fromGenericEvent(parseOrThrow(genericEventSchema, record.value, at), at));
  },
  jsonSchema: () =>
    oneOrManyJsonSchema(
      genericEventSchema,
      'One event of the generic HIS JSON dialect (mappings/his/generic-json/README.md), or a non-empty array of ' +
        'them. Besides what this schema says, POST /his/v1/events checks what JSON Schema cannot: the 11-proef of ' +
        'every BSN; that no date lies in the future; that child.birthDate lies neither after occurredAt nor after ' +
        'trajectory.startDate, contact.start not before trajectory.startDate, trajectory.closedOn and a period end ' +
        'not before their start; that trajectory.closedOn and trajectory.outcome come together; that guardian ids ' +
        'are unique and every guardianId names a guardian of the event.',
    ),
};
