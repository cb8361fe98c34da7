import { OperationOutcomeError } from '@medplum/core';
import type { CanonicalEvent } from '../contracts/his-dialect';
import { tryGetDestination } from './registry';
import { logEventStates, moveEventLogged } from './event-log';
import { pendingDeliveriesOf } from './event-store';
import { groupedEnqueueDeliver, stageStatements } from './stage-groups';
import { settledTogether } from './stage-batch';
import { recordMonitoringFacts, removeFactsAfterConsent } from './monitoring-writer';
import type { PipelineContext } from './context';
import { childConsentsOnce, decideAndRecord, purposeOf, reasonText } from './decide';
import { decisionText } from '../policy/reason-words';
import type { MapJobData } from './queues';
import { PAYLOAD_PURGED, RECEIPT_RECORDED, TERMINAL_STATES } from './states';
import { handOnEvent, openEvent, PayloadPurgedError } from './stored-event';
import { newDelivery } from './idempotency-key';
import { deniedForConsent, recheckConsentDenial, redecideForChild } from './redecide';
import {
  INVALID_FHIR,
  invalidFhirIssues,
  mappingFailedReason,
  RECORD_REFUSED,
  valueFreeIssues,
  type MappingIssue,
} from './mapping-failure';
import type { EventTrace } from './event-log';
import { createWithdrawalNotices, noticeDisclosedMeanwhile } from './withdrawal-notice';

/**
 * Map stage: the canonical event (mapped once at receipt) → validated FHIR → route → policy decision (audited) →
 * a delivery, or a recorded stop. Safe to run twice for the same event: each step checks the state it moves from.
 * The reads and writes of concurrent map jobs are grouped into one statement each (stage-groups.ts).
 */
export async function processMapJob(ctx: PipelineContext, data: MapJobData): Promise<string> {
  const statements = stageStatements(ctx.db);
  const row = await statements.sealedEvent(data.inboxId);
  if (!row || TERMINAL_STATES.includes(row.state)) {
    return 'skipped';
  }
  if (row.state === 'decided') {
    // Decided before a crash: make sure the deliver job exists (a no-op when it does).
    for (const d of await pendingDeliveriesOf(ctx.db, row.id)) {
      await ctx.queues.enqueueDeliver(d, data.traceId);
    }
    return 'requeued';
  }
  const trace = { eventId: row.id, traceId: data.traceId, stage: 'map' } as const;
  // Held for want of its receipt: a map job is queued for it only once the receipt is recorded (states.ts).
  const acknowledged = row.state === 'unacknowledged';
  if (acknowledged && !(await moveEventLogged(ctx, trace, 'acknowledged', { reason: RECEIPT_RECORDED }))) {
    return 'skipped';
  }
  let event: CanonicalEvent;
  try {
    event = openEvent(ctx.cipher, row);
  } catch (err) {
    if (err instanceof PayloadPurgedError) {
      await moveEventLogged(ctx, trace, 'payloadPurged', { reason: PAYLOAD_PURGED });
      return 'payload-purged';
    }
    if (err instanceof OperationOutcomeError) {
      // An event stored before its canonical event was, mapped again here: the dialect refuses its record now.
      return failMapping(ctx, trace, row.dialect, RECORD_REFUSED, valueFreeIssues(err));
    }
    throw err;
  }
  const issues = invalidFhirIssues(event.resources);
  if (issues) {
    // A defect of the dialect: retrying cannot help; a fixed dialect and an operator's remap (remap.ts) can.
    return failMapping(ctx, trace, row.dialect, INVALID_FHIR, issues);
  }
  // `mapped` is recorded in the history together with the next state, in one statement.
  const passing = acknowledged || row.state === 'received' ? (['mapped'] as const) : [];
  // The monitoring count and the decision below ask about the same child at the same moment: one read serves both.
  const consents = childConsentsOnce(ctx, event);
  const purpose = purposeOf(event.eventType);
  if (!purpose) {
    await recordMonitoringFacts(ctx, event, consents);
    // Before the move, as below: an objection or a withdrawal takes the child's facts out of the figures (audited).
    await removeFactsAfterConsent(ctx, row, event, consents);
    if (event.eventType === 'consent.recorded') {
      // Before the move, so a failure here retries the job: the child's events denied for lack of consent.
      await redecideForChild(ctx, row.tenant, event.patient.bsn, data.traceId);
    }
    // What a municipality received under a consent this event withdraws or objects to: it is told (withdrawal-notice.ts).
    const { created, searched } = await createWithdrawalNotices(ctx, row, event, consents, passing);
    if (created.length > 0) {
      logEventStates(ctx.log, { ...trace, states: [...passing, 'decided'], reason: 'withdrawal notice' });
      for (const delivery of created) {
        await ctx.queues.enqueueDeliver(delivery, data.traceId);
      }
    } else {
      await moveEventLogged(ctx, trace, 'completed', { passing, reason: 'recorded in the consent registry' });
    }
    // Now that the outcome is committed: what a delivery in flight disclosed after the search above, and left to
    // this consent event because it saw the event's map stage unfinished (withdrawal-notice.ts).
    await noticeDisclosedMeanwhile(ctx, row, event, consents, searched);
    return created.length > 0 ? 'decided' : 'completed';
  }
  // The monitoring count and the decision (with its audit) need nothing of each other: their statements go out
  // together instead of one after the other. Both are durable before the event moves on, as before: a retry of a
  // job whose move was made would not count the event again.
  const [, decision] = await settledTogether(
    recordMonitoringFacts(ctx, event, consents),
    decideAndRecord(ctx, row, event, purpose, 'map', consents),
  );
  if (decision.effect === 'deny') {
    const denied = await moveEventLogged(ctx, trace, 'denied', { passing, reason: decisionText(decision) });
    // A consent recorded since the read above may have searched for the child's denials before this one was
    // committed: read the consents again, now that it is (redecide.ts). Only denials a consent could change.
    if (denied && deniedForConsent(decision)) {
      const again = await recheckConsentDenial(ctx, row, event, await consents(), data.traceId);
      return again === 'permit' ? 'decided' : 'denied';
    }
    return 'denied';
  }
  const destination = tryGetDestination(ctx.registry, event.municipalityCode);
  if (!destination) {
    await moveEventLogged(ctx, trace, 'noDestination', {
      passing,
      reason: `no destination configured for ${event.municipalityCode}`,
    });
    return 'failed';
  }
  const delivery = await statements.decideAndCreateDelivery({
    ...newDelivery(row.id, destination.id),
    reason: decisionText(decision),
    passing,
  });
  logEventStates(ctx.log, { ...trace, states: [...passing, 'decided'], reason: reasonText(decision) });
  // Done with the event: its delivery's job in this process takes it instead of opening the same bytes again.
  handOnEvent(ctx.cipher, row, event);
  await groupedEnqueueDeliver(ctx.queues)({ delivery, traceId: data.traceId });
  return 'decided';
}

/**
 * Ends an event whose mapping failed (`STEPS.mappingFailed`): its reason names the dialect and the validator's issues
 * (codes and element paths, never values), and a warning with them is logged for whoever maintains the dialect.
 */
async function failMapping(
  ctx: PipelineContext,
  trace: EventTrace,
  dialect: string,
  what: string,
  issues: readonly MappingIssue[],
): Promise<'failed'> {
  ctx.log.warn(
    { eventId: trace.eventId, traceId: trace.traceId, stage: trace.stage, dialect, issues },
    `dialect ${what}`,
  );
  await moveEventLogged(ctx, trace, 'mappingFailed', { reason: mappingFailedReason(dialect, what, issues) });
  return 'failed';
}
