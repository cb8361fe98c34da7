import { badRequest, OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import type { HisDialect, RawRecord } from '../../../src/ingest/dialect';
import { parseWithSchema } from '../../../src/ingest/zod-outcome';
import { mapReferral } from './map-referral';
import { genericEventSchema } from './schema';

/** Dialect `generic-json`: one event object, or an array of them, as `application/json`. */
export const genericJsonDialect: HisDialect = {
  name: 'generic-json',
  contentTypes: ['application/json'],
  claims: (body) => !(typeof body === 'object' && body !== null && 'resourceType' in body),
  split(body: unknown): RawRecord[] {
    if (Array.isArray(body)) {
      return body.map((value, i) => ({ value, location: `[${i}]` }));
    }
    if (typeof body === 'object' && body !== null) {
      return [{ value: body, location: '' }];
    }
    throw new OperationOutcomeError(badRequest('Expected a JSON event object or an array of events', 'body'));
  },
  map(record) {
    return mapReferral(parseWithSchema(genericEventSchema, record));
  },
  jsonSchema: () => z.toJSONSchema(genericEventSchema, { io: 'input' }),
};
