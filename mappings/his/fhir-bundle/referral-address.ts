import type { Identifier } from '@medplum/fhirtypes';
import type { HisReferralAddress, RawRecord } from '../../../src/contracts/his-dialect';

/** A FHIR id (R4 `id` datatype): what may follow `ServiceRequest/` in a URL. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * The HIS's own address of the ServiceRequest in a (valid, already mapped) Bundle: its `resource.id`, and the
 * identifiers it sent with a system and a value. A ServiceRequest known only by a `urn:uuid:` fullUrl has no id the
 * HIS's server knows, and no address without identifiers: undefined, as for a Bundle without a ServiceRequest.
 */
export function referralAddressOf(record: RawRecord): HisReferralAddress | undefined {
  const entries = (record.value as { entry?: unknown } | null)?.entry;
  const request = Array.isArray(entries)
    ? entries
        .map((e) => (e as { resource?: Record<string, unknown> } | null)?.resource)
        .find((r) => r?.resourceType === 'ServiceRequest')
    : undefined;
  if (!request) {
    return undefined;
  }
  const id = typeof request.id === 'string' && FHIR_ID.test(request.id) ? request.id : undefined;
  const identifiers = (Array.isArray(request.identifier) ? (request.identifier as unknown[]) : []).flatMap(
    (i): Identifier[] => {
      const { system, value } = (i ?? {}) as { system?: unknown; value?: unknown };
      return typeof system === 'string' && system && typeof value === 'string' && value ? [{ system, value }] : [];
    },
  );
  return id || identifiers.length ? { ...(id ? { id } : {}), identifiers } : undefined;
}
