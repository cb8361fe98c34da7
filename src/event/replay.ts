import { operatorAction, type AuditActor } from '../audit/audit-events';
import { transition } from './inbox-store';
import type { PipelineContext } from './context';

/**
 * Gives a dead letter a new round: the delivery is pending again with a fresh job id, and the event is `decided`
 * again. It is decided once more before sending, so a replay never bypasses a withdrawal. Returns false when the
 * delivery is not dead (already replayed, delivered or unknown).
 */
export async function replayDelivery(ctx: PipelineContext, deliveryId: string, actor: AuditActor): Promise<boolean> {
  const replayed = await ctx.db.transaction(async (tx) => {
    const [d] = await tx.query<{ id: string; inbox_id: string; destination: string; round: number; tenant: string }>(
      `UPDATE delivery SET state = 'pending', round = round + 1, attempts = 0, updated_at = now()
       FROM inbox WHERE delivery.id = $1 AND delivery.state = 'dead' AND inbox.id = delivery.inbox_id
       RETURNING delivery.id, delivery.inbox_id, delivery.destination, delivery.round, inbox.tenant`,
      [deliveryId],
    );
    if (!d) {
      return undefined;
    }
    await transition(tx, d.inbox_id, 'decided', { from: ['dead'], reason: `replayed by ${actor.userId}` });
    return d;
  });
  if (!replayed) {
    return false;
  }
  await ctx.audit.append(
    replayed.tenant,
    operatorAction({ actor, action: 'replay', target: `inbox/${replayed.inbox_id}` }),
  );
  await ctx.queues.enqueueDeliver(replayed, `replay-${replayed.id}-${replayed.round}`);
  await ctx.queues.removeFailedRound('deliver', replayed);
  return true;
}
