import type { CanonicalEvent } from '../contracts/his-dialect';
import type { Db } from '../kernel/db';
import type { PipelineContext } from './context';
import type { DeliveryWork } from './event-store';
import { getPseudonymiser } from './report-pseudonym';

/** The event type whose resource a correction replaces at a fhir-rest receiver by a conditional update. */
const CONTACT_EVENT = 'contact.recorded';

/**
 * Whether a correction of this contact reached the delivery's destination before it: a `contact.recorded` event
 * received after it (`received_at`, `received_seq`: the practice's order) whose delivery there disclosed the same
 * Encounter (jeugdbrug's deterministic id of the practice's contact id), as `child_disclosure` records each delivered
 * child's event. A fhir-rest receiver replaces its Encounter with whatever arrives last (a conditional update), so an
 * older version sent now (a dead letter replayed, a redelivery, a retry that outlasted its correction) would undo the
 * correction there; a webhook or iSamenleving receiver would get an older version after a newer one. Such a
 * delivery is not sent (deliver.ts). Read by the child's key, so the index of the child's disclosures serves it;
 * a disclosure a withdrawal notice covered is left out (that index's condition), and so is a correction still on its
 * way (pending, or a dead letter that may have arrived): their order is the receiver's (docs/delivery.md).
 */
export async function correctedSince(
  ctx: PipelineContext,
  work: DeliveryWork,
  event: CanonicalEvent,
): Promise<boolean> {
  if (event.eventType !== CONTACT_EVENT) {
    return false;
  }
  const encounters = event.resources.flatMap((r) =>
    r.resourceType === 'Encounter' && r.id ? [`Encounter/${r.id}`] : [],
  );
  if (encounters.length === 0) {
    return false;
  }
  const childKey = getPseudonymiser(ctx.config).inboxChildKey(work.tenant, event.patient.bsn);
  return newerDisclosureOf(ctx.db, work, childKey, encounters);
}

async function newerDisclosureOf(
  db: Db,
  work: DeliveryWork,
  childKey: string,
  encounters: readonly string[],
): Promise<boolean> {
  const rows = await db.query(
    `SELECT 1 FROM child_disclosure cd
       JOIN delivery nd ON nd.id = cd.delivery_id
       JOIN inbox n ON n.id = nd.inbox_id AND n.event_type = $5
       JOIN inbox i ON i.id = $6
      WHERE cd.tenant = $1 AND cd.child_key = $2 AND cd.notice_delivery IS NULL
        AND cd.destination = $3 AND cd.resources @> $4::text[]
        AND (n.received_at, n.received_seq) > (i.received_at, i.received_seq)
      LIMIT 1`,
    [work.tenant, childKey, work.destination, encounters, CONTACT_EVENT, work.inbox_id],
  );
  return rows.length > 0;
}
