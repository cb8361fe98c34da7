import { badRequest, OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { expressionOf } from '../../../src/kernel/zod-outcome';
import { toCanonicalEvent } from '../shared/canonical-event';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { parseOrThrow } from '../../../src/kernel/zod-outcome';
import { bundleSchema } from './schema';
import { fromBundle } from './to-his-event';

function isBundle(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { resourceType?: unknown }).resourceType === 'Bundle';
}

/** `Bundle.entry[2].resource.birthDate`, or `[1].Bundle.entry[2]…` for the second Bundle of an array. */
function bundleExpressionOf(location: string): ExpressionOf {
  const root = location ? `${location}.Bundle` : 'Bundle';
  return (path) => expressionOf(root, path);
}

/**
 * Dialect `fhir-bundle`: a FHIR R4 transaction or collection Bundle from a FHIR-capable HIS, one Bundle per event,
 * or a JSON array of such Bundles. Normalised to the same CanonicalEvent as the other dialects.
 */
export const fhirBundleDialect: HisDialect = {
  name: 'fhir-bundle',
  contentTypes: ['application/fhir+json', 'application/json'],
  claims: (body) => isBundle(body) || (Array.isArray(body) && body.length > 0 && isBundle(body[0])),
  split(body: unknown): RawRecord[] {
    if (isBundle(body)) {
      return [{ value: body, location: '' }];
    }
    if (Array.isArray(body)) {
      return (body as unknown[]).map((value, i) => ({ value, location: `[${i}]` }));
    }
    throw new OperationOutcomeError(badRequest('Expected a FHIR Bundle or an array of Bundles', 'body'));
  },
  map(record) {
    const at = bundleExpressionOf(record.location);
    return toCanonicalEvent(fromBundle(parseOrThrow(bundleSchema, record.value, at), at));
  },
  jsonSchema: () => z.toJSONSchema(bundleSchema, { io: 'input' }),
};
