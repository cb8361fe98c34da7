import type { Logger } from 'pino';
import type { PipelineContext } from './context';
import { moveEvent, type DeliveryFinish, type MoveOptions } from './event-store';
import { stageStatements } from './stage-groups';
import { STEPS, type EventState, type StepName } from './states';

/** Which part of the event's life moved it. */
export type EventStage =
  'receive' | 'map' | 'deliver' | 'replay' | 'remap' | 'reconcile' | 'redecide' | 'redeliver' | 'end-pending';

/** The event a stage works on, and the W3C trace id it carries through every job. */
export interface EventTrace {
  readonly eventId: string;
  readonly traceId: string;
  readonly stage: EventStage;
}

/** A decision's reason: its codes, then who is missing in the practice's own ids (`no consent from the child c-2`). */
const DECISION_REASON = /^((?:denied at delivery: |decided again: )?[a-z]+(?:-[a-z]+)+(?:, [a-z]+(?:-[a-z]+)+)*): /;

/**
 * What of a state's reason goes into the log: a decision's codes only. Its detail names the child and the guardians
 * by the practice's own ids, which a practice can tie to a person: they stay in PostgreSQL (the event's state
 * reason, which the practice and the operator read), like every other identifier of a person.
 */
export function loggedReason(reason: string): string {
  return DECISION_REASON.exec(reason)?.[1] ?? reason;
}

/**
 * One log line per state an event enters (`event state`), with its id and W3C trace id: an operator follows one
 * event through every stage by its trace id. Ids, states and reasons only (`loggedReason`): no personal data.
 */
export function logEventStates(
  log: Logger,
  e: EventTrace & { states: readonly EventState[]; reason?: string | undefined },
): void {
  e.states.forEach((state, i) => {
    const last = i === e.states.length - 1;
    log.info(
      {
        eventId: e.eventId,
        traceId: e.traceId,
        stage: e.stage,
        state,
        ...(last && e.reason ? { reason: loggedReason(e.reason) } : {}),
      },
      'event state',
    );
  });
}

/** The event store's `moveEvent`, plus its log lines when the event really moved. */
export async function moveEventLogged(
  ctx: Pick<PipelineContext, 'db' | 'log'>,
  trace: EventTrace,
  step: StepName,
  opts: MoveOptions = {},
): Promise<boolean> {
  const moved = await moveEvent(ctx.db, trace.eventId, step, opts);
  if (moved) {
    logEventStates(ctx.log, { ...trace, states: [...(opts.passing ?? []), STEPS[step].to], reason: opts.reason });
  }
  return moved;
}

/** The event store's `finishDelivery` (grouped with concurrent ones), plus the log line of the state its event enters. */
export async function finishDeliveryLogged(
  ctx: Pick<PipelineContext, 'db' | 'log'>,
  trace: Omit<EventTrace, 'eventId'>,
  d: DeliveryFinish,
): Promise<boolean> {
  const finished = await stageStatements(ctx.db).finishDelivery(d);
  if (finished) {
    logDeliveryFinished(ctx.log, trace, d);
  }
  return finished;
}

/** The log line of the state a finished delivery's event enters (a delivery finished by another statement too). */
export function logDeliveryFinished(log: Logger, trace: Omit<EventTrace, 'eventId'>, d: DeliveryFinish): void {
  logEventStates(log, { ...trace, eventId: d.inboxId, states: [STEPS[d.step].to], reason: d.reason });
}
