import { OperationOutcomeError } from '@medplum/core';
import { conflictField } from '../kernel/fhir/outcomes';
import { operatorAction, type AuditActor } from '../audit/audit-events';
import type { PipelineContext } from './context';
import { logEventStates } from './event-log';
import { eventStatesOf, finishDeliveries, recordEndedWhileOthersWait } from './event-store';
import { destinationRemovedReason } from './states';

/**
 * An operator's end of the pending deliveries to a destination taken out of the configuration (`CONFIG_DIR`) while
 * they waited. No queue or worker exists for it, so they would wait for good: start-up, `config:check`,
 * `jeugdbrug_unconfigured_destination_pending_deliveries` and its alert name them, and until now only configuring the
 * destination again ended them. Each one ends `cancelled`, not sent, and its event `failed` with a reason the
 * practice reads (`STEPS.destinationRemoved`): the practice learns that its message did not go out, rather than
 * seeing it wait. An event with another delivery still waiting (to a destination that is configured, or one not
 * ended yet) stays `decided` with that reason (`STEPS.destinationRemovedOthersWait`): the delivery still under way
 * moves it on when it finishes, as the deliver stage does, so one that reaches its receiver makes it `delivered`.
 * Each is audited in its practice's chain with the operator's reason; the destination's own chain records the count.
 * The log says ids and counts, never the reason (an operator's free text).
 */

/** A pending delivery to end: its id, its event and the event's practice (the chain that records it). */
export interface PendingToEnd {
  readonly id: string;
  readonly inboxId: string;
  readonly tenant: string;
  readonly traceId: string;
}

/**
 * Refuses a destination that is configured (409 naming `id`, the route's): its deliveries are sent (or wait for it to
 * be resumed).
 */
export function assertNotConfigured(ctx: Pick<PipelineContext, 'registry'>, destination: string): void {
  if (ctx.registry.destinations.some((d) => d.id === destination)) {
    throw new OperationOutcomeError(
      conflictField(
        `destination ${destination} is configured: its pending deliveries are sent by its workers; ` +
          'only those of a destination no longer configured can be ended (pause it to hold them)',
        'id',
      ),
    );
  }
}

/**
 * Ends `deliveries` (pending ones to `destination`, which the caller found within the operator's scope) and audits
 * each; returns the ids of those it ended (one finished meanwhile is left out). Throws a 409 when the destination is
 * configured (in this process: the check is against the configuration it runs with).
 */
export async function endPendingToRemovedDestination(
  ctx: PipelineContext,
  destination: string,
  deliveries: readonly PendingToEnd[],
  actor: AuditActor,
  reason: string,
): Promise<string[]> {
  assertNotConfigured(ctx, destination);
  const stateReason = destinationRemovedReason(destination);
  const { ended, got } = await ctx.db.transaction(async (tx) => {
    // An event with another delivery still pending stays `decided` (finishDeliveries, which locks the events' rows
    // and reads their other deliveries as last committed, so two ends or a send at once cannot both find the other
    // pending); its history then says why this one ended.
    const finished = await finishDeliveries(
      tx,
      'destinationRemoved',
      deliveries.map((d) => ({
        deliveryId: d.id,
        inboxId: d.inboxId,
        deliveryState: 'cancelled',
        step: 'destinationRemoved',
        reason: stateReason,
        error: stateReason,
        countsAsAttempt: false,
      })),
    );
    const events = deliveries.filter((d) => finished.has(d.id)).map((d) => d.inboxId);
    await recordEndedWhileOthersWait(tx, events, stateReason);
    // What each event got, for its log line: `failed`, `decided` (another delivery waits), or `dead` when another of
    // its deliveries is a dead letter (`STEPS.anotherDeadLetter`, that delivery's reason).
    return { ended: finished, got: await eventStatesOf(tx, events) };
  });
  const done = deliveries.filter((d) => ended.has(d.id));
  // Appended together, so that the writer commits them in groups rather than one commit after another (up to 1,000).
  await Promise.all(
    done.map((d) =>
      ctx.audit.append(
        d.tenant,
        operatorAction({
          actor,
          action: 'end-pending',
          target: `inbox/${d.inboxId}`,
          description: `delivery ${d.id} to ${destination}, no longer configured: ended, not sent; reason: ${reason}`,
        }),
      ),
    ),
  );
  for (const d of done) {
    const event = got.get(d.inboxId);
    if (event) {
      logEventStates(ctx.log, {
        eventId: d.inboxId,
        traceId: d.traceId,
        stage: 'end-pending',
        states: [event.state],
        reason: event.reason ?? undefined,
      });
    }
  }
  if (done.length > 0) {
    await ctx.audit.append(
      `destination/${destination}`,
      operatorAction({
        actor,
        action: 'end-pending',
        target: `destination/${destination}`,
        description: `${done.length} pending deliveries ended, not sent: no longer configured; reason: ${reason}`,
      }),
    );
  }
  ctx.log.info(
    { destination, ended: done.length, principal: actor.userId },
    'pending deliveries to a destination no longer configured ended',
  );
  return done.map((d) => d.id);
}
