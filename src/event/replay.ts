import { conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { carriesWithdrawalNotices } from '../../mappings/municipality/index';
import { operatorAction, type AuditActor } from '../audit/audit-events';
import type { PipelineContext } from './context';
import { logEventStates } from './event-log';
import { reviveDelivery, tryGetDeliveryTarget } from './event-store';
import { CONSENT_EVENT_TYPES, noticeNotCarried } from './withdrawal-notice';
import { enqueueOrDefer } from './queues';
import { PAYLOAD_PURGED } from './states';

/**
 * What a replay came to: replayed, not a dead letter (any more), no longer possible (retention), or refused because
 * it could only die again (a withdrawal notice to a format that has no message for one).
 */
export type ReplayResult = 'replayed' | 'not-dead' | 'purged' | 'not-carried';

/** What an operator is told of a replay refused as `not-carried`, after the dead letter's own reason. */
export const REPLAY_NOT_CARRIED = 'a replay would fail the same way';

/**
 * Why a replay of a dead letter to `destination` of an event of `eventType` can only die again, or undefined: a
 * withdrawal notice (a consent event's delivery) to a destination whose format, as configured now, carries none. A
 * destination moved to a format that does carry one is replayed as any other.
 */
export function unreplayableReason(
  ctx: Pick<PipelineContext, 'registry'>,
  target: { destination: string; eventType: string },
): string | undefined {
  if (!CONSENT_EVENT_TYPES.has(target.eventType)) {
    return undefined;
  }
  const adapter = ctx.registry.destinations.find((d) => d.id === target.destination)?.adapter ?? '';
  return carriesWithdrawalNotices(adapter) ? undefined : noticeNotCarried(adapter);
}

/**
 * What a replay cannot send, as the configuration stands (`replayLimitsOf`): a withdrawal notice (a
 * delivery of one of `noticeTypes`) to a destination not among `carryingNotices` would only die again.
 */
export interface ReplayLimits {
  readonly noticeTypes: readonly string[];
  readonly carryingNotices: readonly string[];
}

/** Why a replay leaves a dead letter: a withdrawal notice its format has no message for, or content retention removed. */
export type SkipReason = 'not-carried' | 'purged';

/**
 * What a replay cannot send as the destinations are configured now, for the dead-letter queries: the same judgement
 * as `unreplayableReason`, so "replay all N" counts only what it sends.
 */
export function replayLimitsOf(ctx: Pick<PipelineContext, 'registry'>): ReplayLimits {
  return {
    noticeTypes: [...CONSENT_EVENT_TYPES],
    carryingNotices: ctx.registry.destinations.filter((d) => carriesWithdrawalNotices(d.adapter)).map((d) => d.id),
  };
}

/** Why a bulk replay leaves dead letters of each `SkipReason`, for the API's answer. */
export const SKIP_DETAILS: Record<SkipReason, string> = {
  'not-carried': `withdrawal notices to a format that has no message for one: ${REPLAY_NOT_CARRIED}`,
  purged: `${PAYLOAD_PURGED}: the event's content was removed under the retention period`,
};

/**
 * Gives a dead letter a new round: the delivery is pending again with a fresh job id, and the event is `decided`
 * again. It is decided once more before sending, so a replay never bypasses a withdrawal. A dead letter whose event
 * retention already removed cannot be sent again: it stays dead (`purged`).
 */
export async function replayDelivery(
  ctx: PipelineContext,
  deliveryId: string,
  actor: AuditActor,
): Promise<ReplayResult> {
  const target = await tryGetDeliveryTarget(ctx.db, deliveryId);
  if (target && unreplayableReason(ctx, target) !== undefined) {
    return 'not-carried';
  }
  return reviveDeadLetter(ctx, deliveryId, actor);
}

/**
 * `replayDelivery` of a dead letter its caller knows a replay can carry (checked it, or listed it under the replay's
 * limits): revived, audited and queued, or `purged` / `not-dead`.
 */
export async function reviveDeadLetter(
  ctx: PipelineContext,
  deliveryId: string,
  actor: AuditActor,
): Promise<Exclude<ReplayResult, 'not-carried'>> {
  const replayed = await reviveDelivery(ctx.db, deliveryId, `replayed by ${actor.userId}`);
  if (replayed === undefined) {
    return 'not-dead';
  }
  if (replayed === 'purged') {
    return 'purged';
  }
  await ctx.audit.append(
    replayed.tenant,
    operatorAction({ actor, action: 'replay', target: `inbox/${replayed.inbox_id}` }),
  );
  logEventStates(ctx.log, {
    eventId: replayed.inbox_id,
    traceId: replayed.trace_id,
    stage: 'replay',
    states: ['decided'],
    reason: `replayed by ${actor.userId}`,
  });
  // The event keeps its trace id: its replayed delivery is followed under the same id as the rest of its life.
  await enqueueOrDefer(ctx, ctx.queues.enqueueDeliver(replayed, replayed.trace_id), { deliveryId: replayed.id });
  // The previous round's failed job is gone too, so the queue's failed count says what is still failed.
  await enqueueOrDefer(ctx, ctx.queues.removeFailedRound('deliver', replayed), { deliveryId: replayed.id });
  return 'replayed';
}

/** Replays one dead letter for the admin API: 404 for an unknown delivery, 409 when it cannot be replayed. */
export async function replayOne(ctx: PipelineContext, deliveryId: string, actor: AuditActor): Promise<void> {
  const target = await tryGetDeliveryTarget(ctx.db, deliveryId);
  if (!target) {
    throw new OperationOutcomeError(notFound);
  }
  const notCarried = unreplayableReason(ctx, target);
  if (notCarried !== undefined) {
    throw new OperationOutcomeError(conflict(`${notCarried}: ${REPLAY_NOT_CARRIED}`));
  }
  const result = await reviveDeadLetter(ctx, deliveryId, actor);
  if (result === 'purged') {
    throw new OperationOutcomeError(conflict(`${PAYLOAD_PURGED}: this dead letter can no longer be replayed`));
  }
  if (result === 'not-dead') {
    throw new OperationOutcomeError(conflict('This delivery is not a dead letter (any more)'));
  }
}
