/**
 * The life of an event, in one table. Every state change anywhere in the pipeline names one of these steps; the
 * event store moves the row only when it is in one of the step's `from` states, so two workers (or a worker and an
 * operator) can never undo each other's work. The diagram is in src/event/README.md.
 */

/** Inbox states. `received → mapped → decided → delivered`, or one of the other endings. */
export const EVENT_STATES = [
  'received',
  'mapped',
  'decided',
  'delivered',
  'completed',
  'denied',
  'failed',
  'dead',
] as const;
export type EventState = (typeof EVENT_STATES)[number];

/** States no worker moves on from by itself (a replay or a new decision can). `completed`: nothing to send. */
export const TERMINAL_STATES: readonly EventState[] = ['delivered', 'completed', 'denied', 'failed', 'dead'];

/** States the map stage still has to work on: the reconciler re-enqueues these. */
export const TO_MAP: readonly EventState[] = ['received', 'mapped'];

export interface Step {
  readonly from: readonly EventState[];
  readonly to: EventState;
}

/** Every allowed transition, by the name of the step that takes it. */
export const STEPS = {
  /** Map stage: the mapped event fails FHIR validation; a fixed mapping plus replay can help, a retry cannot. */
  mappingFailed: { from: TO_MAP, to: 'failed' },
  /** Map stage: a consent event, recorded in the registry at receipt: nothing is sent. */
  completed: { from: TO_MAP, to: 'completed' },
  /** Map stage: the policy engine denies sharing. */
  denied: { from: TO_MAP, to: 'denied' },
  /** Map stage: permitted, but no destination serves the municipality. */
  noDestination: { from: TO_MAP, to: 'failed' },
  /** Map stage: permitted, and a delivery is created in the same statement. */
  decided: { from: TO_MAP, to: 'decided' },
  /** Deliver stage: the receiver accepted it. */
  delivered: { from: ['decided'], to: 'delivered' },
  /** Deliver stage: decided again right before sending, and now denied (e.g. a withdrawn consent). */
  deniedAtDelivery: { from: ['decided'], to: 'denied' },
  /** Deliver stage: the practice cancelled the referral before it was sent: nothing of it is disclosed. */
  cancelledByPractice: { from: ['decided'], to: 'completed' },
  /** Deliver stage: a cancellation of a referral that never went out to this destination: nothing to cancel. */
  nothingToCancel: { from: ['decided'], to: 'completed' },
  /** Deliver stage: refused for good, or retries exhausted: a dead letter an operator can replay. */
  deadLetter: { from: ['decided'], to: 'dead' },
  /** Decided again and now permitted (a consent arrived, or an operator asked): a delivery is created or revived. */
  redecided: { from: ['denied'], to: 'decided' },
  /** Operator: a dead letter gets a new round. */
  replayed: { from: ['dead'], to: 'decided' },
  /** Any stage: the encrypted event was removed by retention before it was finished; nothing can be sent. */
  payloadPurged: { from: ['received', 'mapped', 'decided', 'dead'], to: 'failed' },
} as const satisfies Record<string, Step>;

export type StepName = keyof typeof STEPS;

/** The reason recorded when a referral is not sent because the practice cancelled it (`STEPS.cancelledByPractice`). */
export const CANCELLED_BY_PRACTICE = 'cancelled by the practice before it was sent';

/** The reason recorded when a cancellation is not sent because its referral never was (`STEPS.nothingToCancel`). */
export const NOTHING_TO_CANCEL = 'not sent: the referral it cancels never reached the municipality';

/** The reason recorded when an event's encrypted payload is gone (see `STEPS.payloadPurged`). */
export const PAYLOAD_PURGED = 'payload purged after retention';
