import { createHash, randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { conflict, OperationOutcomeError } from '@medplum/core';
import type { MeasureReport } from '@medplum/fhirtypes';
import { getAdapter } from '../../mappings/municipality/index';
import { reportDisclosure, SYSTEM_WORKER, type AuditActor } from '../audit/audit-events';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import type { Destination } from '../contracts/destination';
import { amsterdamDay } from '../kernel/dutch-time';
import { errorFields } from '../kernel/logger';
import type { Agreement } from '../policy/agreement';
import { agreementsInForceFor } from '../policy/select-agreement';
import { forgetAcceptedSend, rememberAcceptedSend, tryGetAcceptedSend, type AcceptedSend } from './accepted-sends';
import type { PipelineContext } from './context';
import { asDeliveryFailure, finalityOf } from './delivery-failure';
import { recordDestinationFailure, recordDestinationSuccess } from './destination-health';
import { finishDeliveryLogged, logEventStates } from './event-log';
import {
  claimScheduledReportPush,
  decideAndCreateDelivery,
  insertEvent,
  recordAttempt,
  tryGetDeliveryOf,
  type DeliveryRow,
  type DeliveryWork,
} from './event-store';
import { enqueueOrDefer, type DeliverJobData } from './queues';
import { tryGetDestination } from './registry';

/**
 * The municipality's monitoring report as a delivery (`monitoring.report`): stored as an event of its own in the
 * inbox (encrypted, like every event) with one delivery to the municipality's destination, so it takes the same
 * deliver queue, retry policy, dead letters, admin replay and reconciler as a referral. What differs is what is
 * checked before it leaves: the MeasureReport holds suppressed counts and no personal data, so there is no
 * per-child consent decision and no minimisation; an agreement in force with purpose `monitoring` must exist
 * between the municipality and a practice, and every attempt is audited as a disclosure (purpose monitoring).
 */

/** How the report is stored in the inbox (sealed): the MeasureReport as built when it was pushed. */
interface StoredReport {
  readonly municipality: string;
  /** The period's label, `2026-Q3`. */
  readonly period: string;
  readonly version: string;
  readonly report: MeasureReport;
}

/** The inbox's `dialect` column of a report: it came from no HIS. */
const REPORT_SOURCE = 'monitoring-report';

/**
 * Which version of a period's figures this is: a digest of the MeasureReport without the moment it was made. The
 * same figures pushed twice are one version, one event and one idempotency key; late data or changed agreement
 * settings make a new version, a new delivery that replaces the earlier one at the receiver.
 */
export function reportVersionOf(report: MeasureReport): string {
  const withoutDate: MeasureReport = { ...report };
  delete withoutDate.date;
  return createHash('sha256').update(JSON.stringify(withoutDate)).digest('base64url').slice(0, 16);
}

/** The event's id at its source: one per municipality, period and report version. */
function sourceIdOf(r: Pick<StoredReport, 'municipality' | 'period' | 'version'>): string {
  return `${MONITORING_REPORT_EVENT}/${r.municipality}/${r.period}/${r.version}`;
}

/** Stable per (municipality, period, report version, destination): the same on every retry, replay and re-push. */
export function reportIdempotencyKeyOf(
  r: Pick<StoredReport, 'municipality' | 'period' | 'version'>,
  destinationId: string,
): string {
  return createHash('sha256')
    .update(`${sourceIdOf(r)}|${destinationId}`)
    .digest('base64url')
    .slice(0, 32);
}

/** The agreement a report push rests on: the first in force today with purpose `monitoring`, if any. */
export function tryGetMonitoringAgreement(
  ctx: Pick<PipelineContext, 'registry'>,
  municipality: string,
  now = new Date(),
): Agreement | undefined {
  return agreementsInForceFor(ctx.registry.agreements, municipality, 'monitoring', amsterdamDay(now))[0];
}

/**
 * Where a push goes and what it rests on; a 409 naming what is missing when the municipality has no destination
 * or no agreement in force with purpose monitoring.
 */
export function assertReportCanBePushed(
  ctx: Pick<PipelineContext, 'registry'>,
  municipality: string,
  now = new Date(),
): { destination: Destination; agreement: Agreement } {
  const destination = tryGetDestination(ctx.registry, municipality);
  if (!destination) {
    throw new OperationOutcomeError(conflict(`No destination is configured for municipality ${municipality}`));
  }
  const agreement = tryGetMonitoringAgreement(ctx, municipality, now);
  if (!agreement) {
    throw new OperationOutcomeError(
      conflict(`No agreement with purpose monitoring is in force for municipality ${municipality}`),
    );
  }
  return { destination, agreement };
}

export interface ReportPush {
  readonly inboxId: string;
  readonly delivery: Pick<DeliveryRow, 'id' | 'state' | 'idempotency_key' | 'destination'>;
  /** The same figures were pushed before: the earlier delivery is answered, nothing new is sent. */
  readonly duplicate: boolean;
  readonly version: string;
}

/** Thrown inside the storing transaction when the schedule's claim was taken: rolls the new event back. */
class ClaimTakenError extends Error {
  override readonly name = 'ClaimTakenError';
}

/**
 * Stores a built MeasureReport as a `monitoring.report` event with its delivery to the municipality's destination
 * (one transaction), and enqueues it. `tenant` is the audit chain its disclosure goes into. With `scheduled`, the
 * push is also claimed for the municipality and period (monitoring_push_claim): undefined when it was claimed
 * before, by this process or another.
 */
export async function storeReportPush(
  ctx: PipelineContext,
  p: {
    readonly tenant: string;
    readonly municipality: string;
    readonly period: string;
    readonly report: MeasureReport;
    readonly actor: AuditActor;
    readonly traceId: string;
    readonly scheduled?: boolean;
  },
): Promise<ReportPush | undefined> {
  const { destination } = assertReportCanBePushed(ctx, p.municipality);
  const stored: StoredReport = {
    municipality: p.municipality,
    period: p.period,
    version: reportVersionOf(p.report),
    report: p.report,
  };
  const sealed = ctx.cipher.encrypt(stored);
  const idempotencyKey = reportIdempotencyKeyOf(stored, destination.id);
  let result: { inboxId: string; delivery: DeliveryRow; duplicate: boolean };
  try {
    result = await ctx.db.transaction(async (tx) => {
      const event = await insertEvent(tx, {
        id: randomUUID(),
        tenant: p.tenant,
        sourceEventId: sourceIdOf(stored),
        dialect: REPORT_SOURCE,
        eventType: MONITORING_REPORT_EVENT,
        municipality: p.municipality,
        // The report is the event's content both as "sent" and as mapped: one sealed copy serves both columns.
        payload: sealed.data,
        payloadKeyId: sealed.keyId,
        canonical: sealed.data,
        canonicalKeyId: sealed.keyId,
        traceId: p.traceId,
      });
      if (
        p.scheduled &&
        !(await claimScheduledReportPush(tx, { municipality: p.municipality, period: p.period, inboxId: event.id }))
      ) {
        throw new ClaimTakenError();
      }
      const delivery = event.duplicate
        ? await tryGetDeliveryOf(tx, event.id, destination.id)
        : await decideAndCreateDelivery(tx, {
            id: randomUUID(),
            inboxId: event.id,
            destination: destination.id,
            idempotencyKey,
            reason: `monitoring report ${p.period} pushed by ${p.actor.userId}`,
            passing: [],
          });
      if (!delivery) {
        throw new OperationOutcomeError(
          conflict(`This report was pushed before to another destination than ${destination.id}`),
        );
      }
      return { inboxId: event.id, delivery, duplicate: event.duplicate };
    });
  } catch (err) {
    if (err instanceof ClaimTakenError) {
      return undefined;
    }
    throw err;
  }
  if (!result.duplicate) {
    logEventStates(ctx.log, {
      eventId: result.inboxId,
      traceId: p.traceId,
      stage: 'receive',
      states: ['received', 'decided'],
      reason: `monitoring report ${p.period}`,
    });
    await enqueueOrDefer(ctx.log, ctx.queues.enqueueDeliver(result.delivery, p.traceId), {
      deliveryId: result.delivery.id,
    });
  }
  return { ...result, version: stored.version };
}

/** The receiver accepted the report but recording that failed: retried as a recording, never as a send. */
class ReportSentNotRecordedError extends Error {
  static readonly NAME = 'ReportSentNotRecordedError';
  override readonly name = ReportSentNotRecordedError.NAME;
  constructor(cause: unknown) {
    super(`accepted by the receiver, not yet recorded: ${(cause as Error | undefined)?.message ?? String(cause)}`, {
      cause,
    });
  }
}

/**
 * Deliver stage for a `monitoring.report` (called by processDeliverJob): check the agreement, send the stored
 * MeasureReport through the destination's adapter, audit the disclosure, record the outcome. Failures are retried
 * and end in a dead letter exactly as a referral's do; "sent once means sent once" holds the same way.
 */
export async function processReportDelivery(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
): Promise<string> {
  try {
    return await deliverReportOnce(ctx, job, work);
  } catch (err) {
    if ((err as Error | undefined)?.name === ReportSentNotRecordedError.NAME) {
      throw err;
    }
    // Anything that failed outside the send still ends the delivery on its last chance (see processDeliverJob).
    const failure = asDeliveryFailure(err);
    const { final, reason } = finalityOf(failure, job, work.destination);
    if (final) {
      await finishing(
        ctx,
        job,
      )({
        deliveryId: work.id,
        inboxId: work.inbox_id,
        deliveryState: 'dead',
        step: 'deadLetter',
        reason,
        error: failure.message,
        countsAsAttempt: false,
      }).catch((e: Error) =>
        ctx.log.error({ deliveryId: work.id, ...errorFields(e) }, 'could not record a dead letter'),
      );
    }
    throw err;
  }
}

async function deliverReportOnce(ctx: PipelineContext, job: Job<DeliverJobData>, work: DeliveryWork): Promise<string> {
  const stored = openReport(ctx, work);
  const accepted = await tryGetAcceptedSend(ctx.queues, work.idempotency_key);
  if (accepted) {
    return recordReportSent(ctx, job, work, stored, accepted);
  }
  const destination = ctx.registry.destinations.find((d) => d.id === work.destination);
  if (!destination) {
    throw new PermanentDeliveryError(`destination ${work.destination} is no longer configured`);
  }
  // Checked again right before sending, as a referral's consent is: the agreement may have ended since the push.
  const agreement = tryGetMonitoringAgreement(ctx, stored.municipality);
  if (!agreement) {
    throw new PermanentDeliveryError(
      `no agreement with purpose monitoring is in force for municipality ${stored.municipality}`,
    );
  }
  const audit = auditOf(work, stored, { id: agreement.id, version: agreement.version });
  let receipt;
  try {
    receipt = await getAdapter(destination.adapter).deliver(destination, [stored.report], {
      idempotencyKey: work.idempotency_key,
      traceId: job.data.traceId,
      eventType: MONITORING_REPORT_EVENT,
      defaultTimeoutMs: ctx.config.DELIVERY_TIMEOUT_MS,
    });
  } catch (err) {
    const failure = asDeliveryFailure(err);
    await recordDestinationFailure(ctx, destination, failure).catch((e: Error) =>
      ctx.log.warn({ destination: destination.id, ...errorFields(e) }, 'could not count the failure'),
    );
    const { final, reason } = finalityOf(failure, job, destination.id);
    if (!final) {
      await recordAttempt(ctx.db, 'delivery', work.id, {
        state: 'pending',
        status: failure.status,
        error: failure.message,
        responseBody: failure.responseBody,
      });
      throw failure;
    }
    // Audit first: an outcome is never recorded without its audit trail.
    await ctx.audit.append(work.tenant, reportDisclosure({ ...audit, outcome: '8', outcomeDesc: reason }));
    await finishing(
      ctx,
      job,
    )({
      deliveryId: work.id,
      inboxId: work.inbox_id,
      deliveryState: 'dead',
      step: 'deadLetter',
      reason,
      status: failure.status,
      error: failure.message,
      responseBody: failure.responseBody,
    });
    throw failure.name === 'PermanentDeliveryError'
      ? failure
      : new PermanentDeliveryError(reason, failure.status, failure.responseBody);
  }
  const sent: AcceptedSend = {
    status: receipt.status,
    at: new Date().toISOString(),
    purpose: 'monitoring',
    resources: [audit.report.reference],
    agreement: audit.agreement,
    consentIds: [],
    audited: false,
  };
  await rememberAcceptedSend(ctx.queues, work.idempotency_key, sent).catch((err: Error) =>
    ctx.log.warn({ deliveryId: work.id, ...errorFields(err) }, 'could not note an accepted send in Redis'),
  );
  try {
    return await recordReportSent(ctx, job, work, stored, sent, receipt.body);
  } catch (err) {
    throw new ReportSentNotRecordedError(err);
  }
}

/** Audits the disclosure (once), then records the delivery and its event as delivered. */
async function recordReportSent(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  stored: StoredReport,
  sent: AcceptedSend,
  responseBody?: string,
): Promise<string> {
  if (!sent.audited) {
    await ctx.audit.append(work.tenant, reportDisclosure({ ...auditOf(work, stored, sent.agreement), outcome: '0' }));
    await rememberAcceptedSend(ctx.queues, work.idempotency_key, { ...sent, audited: true }).catch((err: Error) =>
      ctx.log.warn({ deliveryId: work.id, ...errorFields(err) }, 'could not note the audit in Redis'),
    );
  }
  await finishing(
    ctx,
    job,
  )({
    deliveryId: work.id,
    inboxId: work.inbox_id,
    deliveryState: 'delivered',
    step: 'delivered',
    reason: `${work.destination}: HTTP ${sent.status}`,
    status: sent.status,
    responseBody,
  });
  await forgetAcceptedSend(ctx.queues, work.idempotency_key).catch((err: Error) =>
    ctx.log.warn({ deliveryId: work.id, ...errorFields(err) }, 'could not drop the accepted-send note; it expires'),
  );
  await recordDestinationSuccess(ctx, work.destination).catch((err: Error) =>
    ctx.log.warn({ destination: work.destination, ...errorFields(err) }, 'could not reset the failure count'),
  );
  return 'delivered';
}

function auditOf(work: DeliveryWork, stored: StoredReport, agreement: { id: string; version: number } | undefined) {
  return {
    actor: SYSTEM_WORKER,
    inboxId: work.inbox_id,
    municipality: stored.municipality,
    destination: work.destination,
    report: {
      reference: `MeasureReport/${stored.report.id ?? ''}`,
      description: `period ${stored.period}, version ${stored.version}`,
    },
    agreement,
  };
}

/** The stored report; a pending delivery's content is never purged, so failing to read it is permanent. */
function openReport(ctx: PipelineContext, work: DeliveryWork): StoredReport {
  if (!work.canonical || !work.canonical_key_id) {
    throw new PermanentDeliveryError('the stored report is gone');
  }
  try {
    return ctx.cipher.decrypt(work.canonical_key_id, work.canonical) as StoredReport;
  } catch (err) {
    throw new PermanentDeliveryError(`the stored report cannot be read: ${(err as Error).message}`);
  }
}

/** Ends the delivery (see finishDelivery) and logs the state its event enters, under the job's trace id. */
function finishing(ctx: PipelineContext, job: Job<DeliverJobData>) {
  return (d: Parameters<typeof finishDeliveryLogged>[2]) =>
    finishDeliveryLogged(ctx, { traceId: job.data.traceId, stage: 'deliver' }, d);
}
