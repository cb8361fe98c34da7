import { createHash, randomUUID } from 'node:crypto';
import { conflict, OperationOutcomeError } from '@medplum/core';
import { conflictField } from '../kernel/fhir/outcomes';
import type { MeasureReport } from '@medplum/fhirtypes';
import { reportDisclosure, SYSTEM_WORKER, type AuditActor, type AuditedAgreementRef } from '../audit/audit-events';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import type { Destination } from '../contracts/destination';
import type { Agreement } from '../policy/agreement';
import { agreementsInForceDuring } from '../policy/select-agreement';
import type { PipelineContext } from './context';
import { contentDigest } from './stored-event';
import { logEventStates } from './event-log';
import type { DeliveryKind, DisclosureAudit } from './delivery-kind';
import {
  claimScheduledReportPush,
  decideAndCreateDelivery,
  insertEvent,
  tryGetDeliveryOf,
  type DeliveryRow,
  type DeliveryWork,
} from './event-store';
import { enqueueOrDefer } from './queues';
import { agreementDigest, tryGetDestination } from './registry';

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

/** The days a report covers, both included (a ReportPeriod, or a MeasureReport's period). */
export interface ReportDays {
  readonly start: string;
  readonly end: string;
}

/**
 * The agreement a report of these days rests on: the first with purpose `monitoring` between the municipality (and,
 * when given, that practice) in force on at least one of them. Not necessarily today: an agreement that has ended
 * still has the quarters it was in force to report, and one that runs today says nothing of a year it did not.
 */
export function tryGetMonitoringAgreement(
  ctx: Pick<PipelineContext, 'registry'>,
  scope: { readonly municipality: string; readonly practice?: string | undefined },
  days: ReportDays,
): Agreement | undefined {
  return agreementsInForceDuring(ctx.registry.agreements, scope.municipality, 'monitoring', days.start, days.end).find(
    (a) => scope.practice === undefined || a.practice.agb === scope.practice,
  );
}

/** As tryGetMonitoringAgreement, or a 409 saying that no agreement with purpose monitoring was in force then. */
export function getMonitoringAgreement(
  ctx: Pick<PipelineContext, 'registry'>,
  scope: { readonly municipality: string; readonly practice?: string | undefined },
  days: ReportDays,
): Agreement {
  const agreement = tryGetMonitoringAgreement(ctx, scope, days);
  if (!agreement) {
    const between = scope.practice === undefined ? ' and any of its practices' : ` and practice ${scope.practice}`;
    // Named `period`: it is the period asked for that no agreement covers.
    throw new OperationOutcomeError(
      conflictField(
        `No agreement with purpose monitoring between municipality ${scope.municipality}${between} is in force ` +
          `on any day from ${days.start} to ${days.end}`,
        'period',
      ),
    );
  }
  return agreement;
}

/**
 * Where a push of a period's report goes and what it rests on; a 409 naming what is missing when the municipality
 * has no destination, or no agreement with purpose monitoring in force on at least one day of the period.
 */
export function assertReportCanBePushed(
  ctx: Pick<PipelineContext, 'registry'>,
  municipality: string,
  period: ReportDays,
): { destination: Destination; agreement: Agreement } {
  const destination = tryGetDestination(ctx.registry, municipality);
  if (!destination) {
    throw new OperationOutcomeError(conflict(`No destination is configured for municipality ${municipality}`));
  }
  return { destination, agreement: getMonitoringAgreement(ctx, { municipality }, period) };
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
 * (one transaction), and enqueues it; the caller has checked that it may be pushed (`assertReportCanBePushed`).
 * `tenant` is the audit chain its disclosure goes into. With `scheduled`, the push is also claimed for the
 * municipality and period (monitoring_push_claim): undefined when it was claimed before, by this process or another.
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
    /** Where it goes, as `assertReportCanBePushed` found it for this push. */
    readonly destination: Destination;
  },
): Promise<ReportPush | undefined> {
  const { destination } = p;
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
        // The event id is made from the report's version, so the same id never comes with other content.
        contentDigest: contentDigest(stored),
        recordsObjection: false,
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
    await enqueueOrDefer(ctx, ctx.queues.enqueueDeliver(result.delivery, p.traceId), {
      deliveryId: result.delivery.id,
    });
  }
  return { ...result, version: stored.version };
}

/**
 * The deliver stage's part for a `monitoring.report` (see processDeliverJob): the agreement checked again right
 * before sending, as a referral's consent is (the configuration may no longer hold one for the report's period), and
 * the stored MeasureReport as what leaves. Retries, dead letters and "sent once means sent once" are the deliver
 * stage's, as for a referral.
 */
export const reportDelivery: DeliveryKind = {
  auditOf: (ctx, work) => {
    const stored = openReport(ctx, work);
    return reportAudit(work, stored, coveredAgreements(ctx, stored));
  },
  prepare(ctx, _job, work) {
    const stored = openReport(ctx, work);
    // The report's own period, as at the push: the configuration may have lost the agreement since.
    const covered = coveredAgreements(ctx, stored);
    const agreement = covered[0];
    if (!agreement) {
      throw new PermanentDeliveryError(
        `no agreement with purpose monitoring is in force for municipality ${stored.municipality} ` +
          `in the report's period ${stored.period}`,
      );
    }
    return Promise.resolve({
      resources: [stored.report],
      eventType: MONITORING_REPORT_EVENT,
      note: {
        purpose: 'monitoring',
        resources: [reportReference(stored)],
        agreement,
        consentIds: [],
      },
      audit: reportAudit(work, stored, covered),
    });
  },
};

/**
 * Every agreement with purpose monitoring between the municipality and one of its practices in force on a day of
 * the report's period: the report counts each practice's trajectories, so its disclosure rests on all of them.
 */
function coveredAgreements(ctx: Pick<PipelineContext, 'registry'>, stored: StoredReport): AuditedAgreementRef[] {
  const { start = '', end = '' } = stored.report.period;
  return agreementsInForceDuring(ctx.registry.agreements, stored.municipality, 'monitoring', start, end).map((a) => ({
    id: a.id,
    version: a.version,
    digest: agreementDigest(a),
  }));
}

function reportReference(stored: StoredReport): string {
  return `MeasureReport/${stored.report.id ?? ''}`;
}

function reportAudit(work: DeliveryWork, stored: StoredReport, covered: AuditedAgreementRef[]): DisclosureAudit {
  return (note, outcome, outcomeDesc) =>
    reportDisclosure({
      actor: SYSTEM_WORKER,
      inboxId: work.inbox_id,
      municipality: stored.municipality,
      destination: work.destination,
      report: { reference: reportReference(stored), description: `period ${stored.period}, version ${stored.version}` },
      // The one the send noted first (an accepted send recorded before a restart may name it alone), then the rest.
      agreements: [
        ...(note.agreement ? [note.agreement] : []),
        ...covered.filter((a) => a.id !== note.agreement?.id || a.version !== note.agreement.version),
      ],
      outcome,
      outcomeDesc,
    });
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
