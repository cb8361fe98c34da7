import type { Job } from 'bullmq';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import type { AuditOutcome } from '../audit/audit-events';
import type { DeliveryEventType } from '../contracts/delivery-event-type';
import type { AcceptedSend } from './accepted-sends';
import type { PipelineContext } from './context';
import type { DeliveryFinish, DeliveryWork } from './event-store';
import type { DeliverJobData } from './queues';

/** What a send notes for its disclosure's audit (kept in Redis with the accepted send, so no personal data). */
export type SentNote = Pick<
  AcceptedSend,
  'purpose' | 'resources' | 'agreement' | 'agreements' | 'consentIds' | 'consentVersions' | 'consentsSeen'
>;

/** The disclosure's AuditEvent of one delivery, for an outcome: success (0) or a dead letter (8). */
export type DisclosureAudit = (note: SentNote, outcome: AuditOutcome, outcomeDesc?: string) => AuditEvent;

/** What leaves for one delivery, once everything before the send allowed it. */
export interface Shipment {
  readonly resources: Resource[];
  readonly eventType: DeliveryEventType;
  readonly note: SentNote;
  readonly audit: DisclosureAudit;
  /**
   * Whether what the decision read is still so (a child's consents: none withdrawn, objected or added since), asked
   * once more right before the send; false has the deliver stage prepare again. Absent: nothing to ask.
   */
  readonly stillAsDecided?: () => Promise<boolean>;
}

/**
 * One kind of delivery to a municipality's destination (a child's event, or the monitoring report): what is checked
 * and sent, and how its disclosure is audited. The deliver stage (deliver.ts) does the rest the same for every kind:
 * the send, retries, dead letters, "sent once means sent once", the destination's health.
 */
export interface DeliveryKind {
  /**
   * Starts the reads `prepare` will make first, while the deliver stage reads the sent-once note, so that the two
   * round trips overlap. Reads only; `prepare` may find them unused (the note says the send was made already).
   */
  readAhead?(ctx: PipelineContext, work: DeliveryWork): void;
  /**
   * Everything before the send: the shipment, or the job's result when nothing may leave and the delivery was ended
   * here (denied at delivery, payload purged). Throws to fail the attempt.
   */
  prepare(ctx: PipelineContext, job: Job<DeliverJobData>, work: DeliveryWork): Promise<Shipment | string>;
  /** The disclosure's audit for a send a receiver accepted on an earlier try, whose recording failed. */
  auditOf(ctx: PipelineContext, work: DeliveryWork): DisclosureAudit;
  /**
   * Keeps what an accepted send disclosed about a child, before it is recorded as delivered (a child's event: for the
   * withdrawal notices a later consent may call for, withdrawal-notice.ts). Idempotent: a recording retried writes once.
   * May finish the delivery as `delivered` with it (logged, as `finishDeliveryLogged` does): true then, whether or not
   * it was still pending; false leaves the finish to the caller.
   */
  recordDisclosed?(
    ctx: PipelineContext,
    job: Job<DeliverJobData>,
    work: DeliveryWork,
    note: SentNote,
    delivered: DeliveryFinish & { readonly step: 'delivered' },
  ): Promise<boolean>;
}
