import type { ServiceRequest } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../contracts/his-dialect';
import type { Db } from '../kernel/db';
import { insertReferralIdentifiers } from './event-store';

/**
 * Makes new referrals addressable by what the municipality receives: the business identifier of each one's
 * ServiceRequest (the HIS's own referral id), which every outgoing format carries. Called at receipt, in the inbox
 * transaction, for the events of one request at once (one statement).
 */
export async function recordReferralIdentifiers(
  db: Db,
  events: readonly { inboxId: string; event: CanonicalEvent }[],
): Promise<void> {
  await insertReferralIdentifiers(
    db,
    events.flatMap(({ inboxId, event }) => {
      if (event.eventType !== 'referral.created') {
        return [];
      }
      const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
      const identifier = request?.identifier?.[0];
      return identifier?.system && identifier.value
        ? [{ inboxId, tenant: event.practice.agb, system: identifier.system, value: identifier.value }]
        : [];
    }),
  );
}
