import type { Logger } from 'pino';
import type { PipelineContext } from './context';
import { transition, type InboxState, type TransitionOptions } from './inbox-store';

/** Which part of the event's life moved it. */
export type EventStage = 'receive' | 'map' | 'deliver' | 'replay';

/**
 * One log line per state an event enters (`event state`), with its id and W3C trace id: an operator can follow one
 * event through every stage by its trace id. Ids, states and reasons only; reasons never hold personal data.
 */
export function logEventStates(
  log: Logger,
  e: {
    eventId: string;
    traceId: string;
    stage: EventStage;
    states: readonly InboxState[];
    reason?: string | undefined;
  },
): void {
  e.states.forEach((state, i) => {
    const last = i === e.states.length - 1;
    log.info(
      {
        eventId: e.eventId,
        traceId: e.traceId,
        stage: e.stage,
        state,
        ...(last && e.reason ? { reason: e.reason } : {}),
      },
      'event state',
    );
  });
}

/** `transition` plus its log lines, written only when the event really moved. */
export async function moveEvent(
  ctx: Pick<PipelineContext, 'db' | 'log'>,
  e: { eventId: string; traceId: string; stage: EventStage },
  to: InboxState,
  opts: TransitionOptions = {},
): Promise<boolean> {
  const moved = await transition(ctx.db, e.eventId, to, opts);
  if (moved) {
    logEventStates(ctx.log, { ...e, states: [...(opts.passing ?? []), to], reason: opts.reason });
  }
  return moved;
}
