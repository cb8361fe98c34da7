import type { ServiceRequest } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../contracts/his-dialect';

/**
 * What makes a new referral addressable by what the municipality receives: the business identifier of its
 * ServiceRequest (the HIS's own referral id), which every outgoing format carries. Stored at receipt, with the
 * event's row (`insertEvents`); a cancellation's too, so that a status on a cancelled referral can be refused.
 */
export function referralIdentifierOf(event: CanonicalEvent): { system: string; value: string } | undefined {
  if (event.eventType !== 'referral.created' && event.eventType !== 'referral.cancelled') {
    return undefined;
  }
  const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const identifier = request?.identifier?.[0];
  return identifier?.system && identifier.value ? { system: identifier.system, value: identifier.value } : undefined;
}
