import type { ServiceRequest } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { CanonicalEvent } from '../contracts/his-dialect';

/** What a referral event is found by, and whose referral it is. */
export interface ReferralIdentifier {
  /** The business identifier of its ServiceRequest: the HIS's own referral id (`urn:agb:<agb>:referral|<id>`). */
  readonly system: string;
  readonly value: string;
  /** jeugdbrug's deterministic ServiceRequest id, which each destination format carries as well. */
  readonly serviceRequestId: string | undefined;
  /** jeugdbrug's deterministic id of the child (the ServiceRequest's subject), never the BSN. */
  readonly patientId: string | undefined;
  /**
   * The HIS's own business identifier of the referral (the first of a FHIR HIS's `ServiceRequest.identifier`), which
   * it was sent after the referral id: what the HIS, and the municipality, may name the referral by as well.
   */
  readonly his?: { readonly system: string; readonly value: string } | undefined;
}

/**
 * What makes a new referral addressable by what the municipality receives: the business identifier of its
 * ServiceRequest (the HIS's own referral id), which every outgoing format carries, and the ServiceRequest's own id.
 * Stored at receipt, with the event's row (`insertEvents`); a cancellation's too, so that a status on a cancelled
 * referral can be refused.
 */
export function referralIdentifierOf(event: CanonicalEvent): ReferralIdentifier | undefined {
  if (event.eventType !== 'referral.created' && event.eventType !== 'referral.cancelled') {
    return undefined;
  }
  const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const [identifier, his] = request?.identifier ?? [];
  if (!identifier?.system || !identifier.value) {
    return undefined;
  }
  return {
    system: identifier.system,
    value: identifier.value,
    ...(his?.system && his.value ? { his: { system: his.system, value: his.value } } : {}),
    serviceRequestId: uuidOrUndefined(request?.id),
    patientId: uuidOrUndefined(request?.subject?.reference?.replace(/^Patient\//, '')),
  };
}

const uuid = z.uuid();

/** `id` when it is a UUID (jeugdbrug's own ids are), else undefined. */
export function uuidOrUndefined(id: string | undefined): string | undefined {
  return uuid.safeParse(id).success ? id : undefined;
}
