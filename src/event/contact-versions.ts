import type { CanonicalEvent } from '../contracts/his-dialect';
import type { Db } from '../kernel/db';
import type { PipelineContext } from './context';
import type { DeliveryWork } from './event-store';
import { getPseudonymiser } from './report-pseudonym';
import { grouped, perResource, type GroupCall } from './stage-batch';

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
  return correctionQuestions(ctx.db)({
    tenant: work.tenant,
    childKey,
    destination: work.destination,
    encounters,
    inboxId: work.inbox_id,
  });
}

/** One delivery's question to `newerDisclosuresOf`: its contact's Encounters at its destination, for its child. */
interface CorrectionQuestion {
  readonly tenant: string;
  readonly childKey: string;
  readonly destination: string;
  readonly encounters: readonly string[];
  readonly inboxId: string;
}

/**
 * `newerDisclosuresOf`, coalesced over the contact deliveries that ask at about the same moment (stage-batch.ts):
 * a delivery asks before its decision and again right before its send, so two statements per contact otherwise.
 */
const correctionQuestions = perResource((db: Db): GroupCall<CorrectionQuestion, boolean> =>
  grouped(
    async (qs) => {
      const found = await newerDisclosuresOf(db, qs);
      return qs.map((_, n) => found.has(n));
    },
    async (q) => (await newerDisclosuresOf(db, [q])).has(0),
    { maxInFlight: 2 },
  ),
);

/**
 * Of the questions, by position, those whose contact's Encounters (all of them, in one disclosure) a newer contact
 * of the same child delivered to the same destination already disclosed. Each question is answered by the child's
 * key, as one alone would be.
 */
async function newerDisclosuresOf(db: Db, qs: readonly CorrectionQuestion[]): Promise<Set<number>> {
  const rows = await db.query<{ n: string }>(
    `SELECT x.n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[]) WITH ORDINALITY
         AS x(tenant, child_key, destination, encounters, inbox_id, n)
      WHERE EXISTS (
        SELECT 1 FROM child_disclosure cd
          JOIN delivery nd ON nd.id = cd.delivery_id
          JOIN inbox n ON n.id = nd.inbox_id AND n.event_type = $6
          JOIN inbox i ON i.id = x.inbox_id
         WHERE cd.tenant = x.tenant AND cd.child_key = x.child_key AND cd.notice_delivery IS NULL
           AND cd.destination = x.destination
           AND cd.resources @> ARRAY(SELECT json_array_elements_text(x.encounters::json))
           AND (n.received_at, n.received_seq) > (i.received_at, i.received_seq))`,
    [
      qs.map((q) => q.tenant),
      qs.map((q) => q.childKey),
      qs.map((q) => q.destination),
      qs.map((q) => JSON.stringify(q.encounters)),
      qs.map((q) => q.inboxId),
      CONTACT_EVENT,
    ],
  );
  return new Set(rows.map((r) => Number(r.n) - 1));
}
