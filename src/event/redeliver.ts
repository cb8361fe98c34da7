import { operatorAction, type AuditActor } from '../audit/audit-events';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import { decisionText } from '../policy/reason-words';
import { dropAcceptedSend } from './accepted-sends';
import type { PipelineContext } from './context';
import { decideAndRecord, purposeOf, reasonText } from './decide';
import { logEventStates, moveEventLogged } from './event-log';
import {
  NEW_ROUND,
  reviveDelivery,
  tryGetDeliveryWork,
  tryGetSealedEvent,
  type DeliveryWork,
  type EventRow,
  type SealedEvent,
} from './event-store';
import { isUuid } from '../kernel/fhir/ids';
import { enqueueOrDefer } from './queues';
import { unreplayableReason } from './replay';
import { notRedeliveredAskedBy, redeliveredBy } from './states';
import { openEvent } from './stored-event';
import { CONSENT_EVENT_TYPES } from './withdrawal-notice';

/**
 * An operator's redelivery: a municipality's system accepted deliveries (2xx) and then lost them (a crash before its
 * commit, a restore from backup), and asks for them again. A delivered delivery gets a new round, as a replayed dead
 * letter does: pending again, attempts from zero, the same idempotency key (a receiver that still has it drops the
 * repeat), its event `decided` (`STEPS.redelivered`). Every redelivery is a disclosure again, so a child's event is
 * decided again first, now (audited, stage `redeliver`): a denial sends nothing and says so; the deliver stage
 * decides once more right before sending, as for every delivery. A withdrawal notice (a consent event's delivery,
 * follow-ups included) is sent again without a decision: it discloses nothing new, and the receiver lost it too. A
 * monitoring report is checked by the deliver stage as at its push. Each request is audited (who, why, which
 * delivery, what came of it), the refused ones as refused.
 */

/** What came of one delivery asked to be sent again. */
export type RedeliveryResult =
  | { readonly result: 'redelivered' }
  /** Decided again and denied (a consent withdrawn, an agreement ended): not sent. `reasons`: the reason codes. */
  | { readonly result: 'denied'; readonly reasons: string }
  /** Not delivered (pending, dead, cancelled): `state` says which. A dead letter is replayed instead. */
  | { readonly result: 'not-delivered'; readonly state: string }
  /** Retention removed its event's content: nothing can be sent again. */
  | { readonly result: 'purged' }
  /** A withdrawal notice to a destination whose format, as configured now, has no message for one. */
  | { readonly result: 'not-carried'; readonly reason: string }
  /** A referral the practice cancelled after it was delivered: the deliver stage would not send it. */
  | { readonly result: 'cancelled' }
  /** A cancellation the practice took back by sending the referral again: the deliver stage would not send it. */
  | { readonly result: 'resent' }
  /** Its destination is no longer configured. */
  | { readonly result: 'no-destination' };

/** The words an operator reads for a delivery that was not sent again (the answer's 409, the audit's outcome). */
export function notRedeliveredText(r: Refused): string {
  switch (r.result) {
    case 'not-delivered':
      return `This delivery is ${r.state}, not delivered: only a delivered one is redelivered${
        r.state === 'dead' ? ' (replay a dead letter)' : ''
      }`;
    case 'purged':
      return 'payload purged after retention: this delivery can no longer be sent again';
    case 'not-carried':
      return `${r.reason}: a redelivery would fail the same way`;
    case 'cancelled':
      return 'the practice cancelled this referral after it was delivered: it is not sent again';
    case 'resent':
      return 'the practice sent this referral again after this cancellation: it is not sent again';
    case 'no-destination':
      return 'its destination is no longer configured';
  }
}

/** A result that sent nothing, for a reason other than a decision. */
type Refused = Exclude<RedeliveryResult, { result: 'redelivered' | 'denied' }>;

/** Why a delivered delivery cannot go out again, before anything is decided; undefined when it can. */
function refusalOf(ctx: PipelineContext, work: DeliveryWork): Refused | undefined {
  if (work.state !== 'delivered') {
    return { result: 'not-delivered', state: work.state };
  }
  if (!ctx.registry.destinations.some((d) => d.id === work.destination)) {
    return { result: 'no-destination' };
  }
  const notCarried = unreplayableReason(ctx, { destination: work.destination, eventType: work.event_type });
  if (notCarried !== undefined) {
    return { result: 'not-carried', reason: notCarried };
  }
  if (work.cancelled_by_practice) {
    return { result: 'cancelled' };
  }
  if (work.resent_by_practice) {
    return { result: 'resent' };
  }
  if (!work.canonical && !work.payload) {
    return { result: 'purged' };
  }
  return undefined;
}

/** A delivery as a redelivery reads it, with its event (for the caller's scope check); undefined for an unknown id. */
export async function tryGetRedeliveryTarget(
  ctx: Pick<PipelineContext, 'db'>,
  deliveryId: string,
): Promise<{ target: DeliveryWork; event: EventRow & SealedEvent } | undefined> {
  const target = isUuid(deliveryId) ? await tryGetDeliveryWork(ctx.db, deliveryId) : undefined;
  const event = target && (await tryGetSealedEvent(ctx.db, target.inbox_id));
  return target && event ? { target, event } : undefined;
}

/**
 * A child's event decided again for its redelivery (audited); the reason codes of a denial, which is also recorded in
 * the event's history (`redeliveryDenied`), or undefined for a permit. Withdrawal notices and monitoring reports are
 * not decided here (see above).
 */
async function deniedNow(ctx: PipelineContext, t: DeliveryWork, actor: AuditActor): Promise<string | undefined> {
  if (CONSENT_EVENT_TYPES.has(t.event_type) || t.event_type === MONITORING_REPORT_EVENT) {
    return undefined;
  }
  const event = openEvent(ctx.cipher, t);
  const row = { id: t.inbox_id, tenant: t.tenant };
  const decision = await decideAndRecord(ctx, row, event, purposeOf(event.eventType) ?? 'referral', 'redeliver');
  if (decision.effect === 'permit') {
    return undefined;
  }
  const trace = { eventId: t.inbox_id, traceId: t.trace_id, stage: 'redeliver' } as const;
  await moveEventLogged(ctx, trace, 'redeliveryDenied', {
    reason: `${notRedeliveredAskedBy(actor.userId)}decided again: ${decisionText(decision)}`,
  });
  return reasonText(decision);
}

/**
 * Sends one delivery again on an operator's request (`reason`: why, kept in the audit with who asked and what came
 * of it), when it is delivered and may still go out. The caller has checked the operator's scope.
 */
export async function redeliver(
  ctx: PipelineContext,
  t: DeliveryWork,
  actor: AuditActor,
  reason: string,
): Promise<RedeliveryResult> {
  const result = refusalOf(ctx, t) ?? (await decideAndRevive(ctx, t, actor));
  const outcome =
    result.result === 'redelivered'
      ? 'redelivered'
      : result.result === 'denied'
        ? `decided again and denied (${result.reasons}): not sent`
        : `refused: ${notRedeliveredText(result)}`;
  await ctx.audit.append(
    t.tenant,
    operatorAction({
      actor,
      action: 'redeliver',
      target: `inbox/${t.inbox_id}`,
      description: `delivery ${t.id} to ${t.destination}: ${outcome}; reason: ${reason}`,
      outcome: result.result === 'redelivered' ? '0' : '4',
    }),
  );
  if (result.result === 'redelivered') {
    logEventStates(ctx.log, { ...result.trace, states: ['decided'], reason: redeliveredBy(actor.userId) });
    // The event keeps its trace id; a job that cannot be queued now is queued by the reconciler.
    await enqueueOrDefer(ctx, ctx.queues.enqueueDeliver(result.round, result.trace.traceId), { deliveryId: t.id });
    return { result: 'redelivered' };
  }
  return result;
}

/** Decides a child's event again and, permitted, gives the delivery its new round (queued by the caller). */
async function decideAndRevive(
  ctx: PipelineContext,
  t: DeliveryWork,
  actor: AuditActor,
): Promise<
  | Exclude<RedeliveryResult, { result: 'redelivered' }>
  | {
      result: 'redelivered';
      round: { id: string; destination: string; round: number };
      trace: { eventId: string; traceId: string; stage: 'redeliver' };
    }
> {
  const reasons = await deniedNow(ctx, t, actor);
  if (reasons !== undefined) {
    return { result: 'denied', reasons };
  }
  // The note of its first send goes before the new round starts: found, it would make the round record, not send.
  await dropAcceptedSend(ctx.queues, t.idempotency_key);
  const revived = await reviveDelivery(ctx.db, t.id, redeliveredBy(actor.userId), NEW_ROUND.redelivery);
  if (revived === 'purged') {
    return { result: 'purged' };
  }
  if (revived === undefined) {
    // Another request took it first (it is under way again), or it changed meanwhile.
    return { result: 'not-delivered', state: 'pending' };
  }
  return {
    result: 'redelivered',
    round: revived,
    trace: { eventId: revived.inbox_id, traceId: revived.trace_id, stage: 'redeliver' },
  };
}
