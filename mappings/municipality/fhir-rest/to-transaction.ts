import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';

/**
 * The outgoing mapping for FHIR REST destinations: the (already minimised) resources of one event as a
 * transaction Bundle. Every resource has a deterministic id, so `PUT Type/id` is an idempotent upsert: a replay or
 * a duplicate delivery never creates a second copy at the receiver.
 */
export function toTransactionBundle(resources: readonly Resource[], idempotencyKey: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    identifier: { system: 'https://jeugdbrug.nl/fhir/NamingSystem/delivery', value: idempotencyKey },
    entry: resources.map((resource): BundleEntry => ({
      fullUrl: `urn:uuid:${resource.id ?? ''}`,
      resource,
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` },
    })),
  };
}
