import { conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { operatorAction, type AuditActor } from '../audit/audit-events';
import type { PipelineContext } from './context';
import { logEventStates } from './event-log';
import { deliveryExists, reviveDelivery } from './event-store';
import { enqueueOrDefer } from './queues';
import { PAYLOAD_PURGED } from './states';

/** What a replay came to: replayed, not a dead letter (any more), or no longer possible (retention). */
export type ReplayResult = 'replayed' | 'not-dead' | 'purged';

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
  await enqueueOrDefer(ctx.log, ctx.queues.enqueueDeliver(replayed, replayed.trace_id), { deliveryId: replayed.id });
  // The previous round's failed job is gone too, so the queue's failed count says what is still failed.
  await enqueueOrDefer(ctx.log, ctx.queues.removeFailedRound('deliver', replayed), { deliveryId: replayed.id });
  return 'replayed';
}

/** Replays one dead letter for the admin API: 404 for an unknown delivery, 409 when it cannot be replayed. */
export async function replayOne(ctx: PipelineContext, deliveryId: string, actor: AuditActor): Promise<void> {
  if (!(await deliveryExists(ctx.db, deliveryId))) {
    throw new OperationOutcomeError(notFound);
  }
  const result = await replayDelivery(ctx, deliveryId, actor);
  if (result === 'purged') {
    throw new OperationOutcomeError(conflict(`${PAYLOAD_PURGED}: this dead letter can no longer be replayed`));
  }
  if (result === 'not-dead') {
    throw new OperationOutcomeError(conflict('This delivery is not a dead letter (any more)'));
  }
}
