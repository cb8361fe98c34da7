import type { ServiceRequest } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../contracts/his-dialect';
import type { Db } from '../kernel/db';
import { insertReferralIdentifier } from './event-store';

/**
 * Makes a new referral addressable by what the municipality receives: the business identifier of its ServiceRequest
 * (the HIS's own referral id), which every outgoing format carries. Called at receipt, in the inbox transaction.
 */
export async function recordReferralIdentifier(db: Db, inboxId: string, event: CanonicalEvent): Promise<void> {
  if (event.eventType !== 'referral.created') {
    return;
  }
  const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const identifier = request?.identifier?.[0];
  if (identifier?.system && identifier.value) {
    await insertReferralIdentifier(db, {
      inboxId,
      tenant: event.practice.agb,
      system: identifier.system,
      value: identifier.value,
    });
  }
}
