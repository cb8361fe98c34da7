import type { Db } from '../../kernel/db';
import { isUuid } from '../../kernel/fhir/ids';
import {
  deliveredDeliveriesOf,
  getHistory,
  listDeliveriesOf,
  tryGetEvent,
  tryGetSealedEvent,
  withdrawalNoticesOf,
  type EventRow,
  type NoticeOfEvent,
  type SealedEvent,
} from '../../event/event-store';
import { reasonCodesOfStateReason } from '../../policy/reason-words';

/** One event's life: its state, every state it passed through, and its deliveries. Ids, codes and times only. */
export interface EventTimeline {
  id: string;
  eventId: string;
  practice: string;
  dialect: string;
  eventType: string;
  municipality: string | null;
  state: string;
  stateReason: string | null;
  /** The policy's reason codes `stateReason` starts with, each documented with its remedy (README); else empty. */
  reasonCodes: string[];
  receivedAt: Date;
  updatedAt: Date;
  history: { state: string; reason: string | null; at: Date }[];
  deliveries: {
    id: string;
    destination: string;
    state: string;
    attempts: number;
    round: number;
    lastStatus: number | null;
    lastError: string | null;
    updatedAt: Date;
    deliveredAt: Date | null;
  }[];
  /**
   * Withdrawal notices that told a destination this event's data is no longer covered by consent (deliveries of the
   * consent event, src/event/withdrawal-notice.ts); empty for an event nothing was withdrawn of.
   */
  withdrawalNotices: NoticeOfEvent[];
}

/** The timeline of an event by its inbox id; undefined when there is no such event. */
export async function tryGetEventTimeline(db: Db, id: string): Promise<EventTimeline | undefined> {
  const row = isUuid(id) ? await tryGetEvent(db, id) : undefined;
  return row && timelineOf(db, row);
}

/**
 * The timeline and the sealed event, from one read of the event: for a read audited with the child the event names
 * (`auditEventRead`), which opens the sealed event for it.
 */
export async function tryGetSealedEventTimeline(
  db: Db,
  id: string,
): Promise<{ sealed: EventRow & SealedEvent; timeline: EventTimeline } | undefined> {
  const sealed = isUuid(id) ? await tryGetSealedEvent(db, id) : undefined;
  return sealed && { sealed, timeline: await timelineOf(db, sealed) };
}

async function timelineOf(db: Db, row: EventRow): Promise<EventTimeline> {
  const deliveries = (await listDeliveriesOf(db, row.id)) as EventTimeline['deliveries'];
  return {
    id: row.id,
    eventId: row.source_event_id,
    practice: row.tenant,
    dialect: row.dialect,
    eventType: row.event_type,
    municipality: row.municipality,
    state: row.state,
    stateReason: row.state_reason,
    reasonCodes: reasonCodesOfStateReason(row.state_reason),
    receivedAt: row.received_at,
    updatedAt: row.updated_at,
    history: await getHistory(db, row.id),
    deliveries,
    withdrawalNotices: await withdrawalNoticesOf(db, row.id),
  };
}

/**
 * What of an event reached a municipality, after minimisation: per delivery that reached its destination, when, for
 * which purpose, under which agreement (id and version), and the data classes (FHIR resource types) it carried, as
 * `child_disclosure` kept them (null for a delivery recorded before migration 047; `agreement` before 061). What the
 * minimisation cut is what the event carried beyond these classes. Ids and codes only, no personal data.
 */
export interface Disclosed {
  destination: string;
  municipality: string | null;
  deliveredAt: Date;
  purpose: string | null;
  agreement: { id: string; version: number } | null;
  dataClasses: string[] | null;
}

export async function disclosedOf(db: Db, id: string): Promise<Disclosed[]> {
  return (await deliveredDeliveriesOf(db, id)).map((d) => ({
    destination: d.destination,
    municipality: d.municipality,
    deliveredAt: d.delivered_at,
    purpose: d.purpose,
    agreement: d.agreement && { id: d.agreement.id, version: d.agreement.version },
    dataClasses: d.data_classes,
  }));
}
