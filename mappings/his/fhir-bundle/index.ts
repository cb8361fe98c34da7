import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { expressionOf } from '../../../src/kernel/zod-outcome';
import { toCanonicalEvent } from '../shared/canonical-event';
import { assertSameJsonDialect, isFhirBundle, isGenericEvent } from '../shared/json-array';
import { oneOrManyJsonSchema } from '../shared/json-schema';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { parseOrThrow } from '../../../src/kernel/zod-outcome';
import { bundleSchema } from './schema';
import { fromBundle } from './to-his-event';
import { referralAddressOf } from './referral-address';

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
  // An empty array too: sent as application/fhir+json it holds no events, which is said so (naming `body`).
  claims: (body) => isFhirBundle(body) || (Array.isArray(body) && (body.length === 0 || isFhirBundle(body[0]))),
  split(body: unknown): RawRecord[] {
    if (isFhirBundle(body)) {
      return [{ value: body, location: '' }];
    }
    if (Array.isArray(body)) {
      return (body as unknown[]).map((value, i) => ({ value, location: `[${i}]` }));
    }
    throw new OperationOutcomeError(badRequest('Expected a FHIR Bundle or an array of Bundles', 'body'));
  },
  map(record) {
    assertSameJsonDialect(record, 'fhir-bundle', 'generic-json', isGenericEvent(record.value));
    const at = bundleExpressionOf(record.location);
    return toCanonicalEvent(fromBundle(parseOrThrow(bundleSchema, record.value, at), at));
  },
  jsonSchema: () =>
    oneOrManyJsonSchema(
      bundleSchema,
      'One FHIR R4 Bundle of the fhir-bundle dialect (mappings/his/fhir-bundle/README.md), or a non-empty array of ' +
        'them. Besides what this schema says, POST /his/v1/events checks what JSON Schema cannot, or what it reads ' +
        'from codes and identifiers by their system: the 11-proef of every BSN; that every reference resolves to an ' +
        'entry of the Bundle; the codes of each code system against its table (of JZ020 this schema lists them); ' +
        'that no date lies in the future ' +
        'and that dates come in order (birthDate not after Bundle.timestamp nor after the trajectory start, a ' +
        "contact not before it); which resources an event's Bundle holds together.",
    ),
  referralAddressOf,
  consentIdExpressionOf(record) {
    const entries = (record.value as { entry?: unknown } | null)?.entry;
    const at = Array.isArray(entries)
      ? entries.findIndex(
          (e) => (e as { resource?: { resourceType?: unknown } } | null)?.resource?.resourceType === 'Consent',
        )
      : -1;
    return bundleExpressionOf(record.location)(at < 0 ? ['entry'] : ['entry', at, 'resource', 'id']);
  },
  eventIdOf(record) {
    const value = (record.value as { identifier?: { value?: unknown } } | null)?.identifier?.value;
    return typeof value === 'string' ? value : undefined;
  },
};
