/**
 * The life of an event, in one table. Every state change anywhere in the pipeline names one of these steps; the
 * event store moves the row only when it is in one of the step's `from` states, so two workers (or a worker and an
 * operator) can never undo each other's work. The diagram is in src/event/README.md.
 */

/**
 * Inbox states. `received → mapped → decided → delivered`, or one of the other endings. `unacknowledged`: stored, but
 * its receipt was never recorded, so the practice was not told it was accepted; it waits for the practice to send it
 * again.
 */
export const EVENT_STATES = [
  'received',
  'unacknowledged',
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

/** States the map stage still has to work on: the reconciler re-enqueues these (held when without their receipt). */
export const TO_MAP: readonly EventState[] = ['received', 'mapped'];

export interface Step {
  readonly from: readonly EventState[];
  readonly to: EventState;
}

/** Every allowed transition, by the name of the step that takes it. */
export const STEPS = {
  /**
   * Reconciler: an event without a map job, stored but without its receipt (the request failed after the insert, so
   * the practice was answered 503 or not at all): held instead of processed, until the practice sends it again.
   */
  unacknowledged: { from: TO_MAP, to: 'unacknowledged' },
  /**
   * Map stage: a held event whose receipt is recorded now goes on as received. Its map job is queued only after that
   * (by the practice's resend, the reconciler, or a first request whose receipt committed just after it was held).
   */
  acknowledged: { from: ['unacknowledged'], to: 'received' },
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
  /**
   * Deliver stage: the practice cancelled the referral before it was sent, or sent again after an attempt that may
   * have reached the receiver (then its cancellation goes out): not sent (again).
   */
  cancelledByPractice: { from: ['decided'], to: 'completed' },
  /** A resend (redelivery) of a referral the municipality received, stopped by the practice's cancellation. */
  resendCancelledByPractice: { from: ['decided'], to: 'delivered' },
  /** Deliver stage: a cancellation of a referral that never went out to this destination: nothing to cancel. */
  nothingToCancel: { from: ['decided'], to: 'completed' },
  /** Deliver stage: the practice sent the referral again after this cancellation: the referral stands, not sent. */
  resentByPractice: { from: ['decided'], to: 'completed' },
  /**
   * Deliver stage: a contact whose correction (a later event of the practice's same contact id) reached this
   * destination first: not sent, so the receiver keeps the newer version (contact-versions.ts).
   */
  supersededByCorrection: { from: ['decided'], to: 'completed' },
  /** The same for a resend (a redelivery) of a contact the municipality received: it stays delivered. */
  resendSupersededByCorrection: { from: ['decided'], to: 'delivered' },
  /** Deliver stage: refused for good, or retries exhausted: a dead letter an operator can replay. */
  deadLetter: { from: ['decided'], to: 'dead' },
  /**
   * Deliver stage (or an operator's `destinationRemoved`): the last of an event's deliveries to finish, while another
   * of them is a dead letter: whatever this one's own step, the event is `dead`, with that delivery's reason
   * (`<destination>: <its error>`), for an operator to replay it. An event's delivery that finishes while another
   * still waits leaves it `decided`, under way: the last to finish moves it (event-store.ts `finishDeliveries`).
   */
  anotherDeadLetter: { from: ['decided'], to: 'dead' },
  /** Decided again and now permitted (a consent arrived, or an operator asked): a delivery is created or revived. */
  redecided: { from: ['denied'], to: 'decided' },
  /**
   * Operator: decided again on request and denied again. The state stays `denied`; the step records the new decision
   * and its reason (`decided again: …`) in the history, so the event's timeline shows that it was asked and answered.
   * A consent's decision again that denies for another reason records the same entry without this step, so that it
   * leaves `updated_at` as it was (event-store.ts `restateDenial`).
   */
  deniedAgain: { from: ['denied'], to: 'denied' },
  /**
   * Operator: a failed event is mapped again from its stored record (a dialect fixed since), and goes through the map
   * stage as if new (remap.ts).
   */
  remapped: { from: ['failed'], to: 'received' },
  /**
   * Deliver or map stage: a consent event whose map stage had ended gets a withdrawal notice after all, for data a
   * delivery in flight disclosed while the consent event's own search ran (withdrawal-notice.ts).
   */
  withdrawalNoticeLater: { from: ['completed', 'delivered', 'dead'], to: 'decided' },
  /** Operator: a dead letter gets a new round. */
  replayed: { from: ['dead'], to: 'decided' },
  /**
   * Operator: a delivered delivery gets a new round, because the receiver lost what it accepted (a restore from
   * backup); decided again first (redeliver.ts). An event with another delivery under way stays where it is. A resend
   * the receiver does not accept ends as any round does (`deadLetter`); the delivery keeps when it was delivered.
   */
  redelivered: { from: ['delivered'], to: 'decided' },
  /**
   * Operator: asked to redeliver, decided again and denied: nothing is sent. The state stays `delivered` (it was);
   * the step records the decision (`not redelivered …: decided again: …`), as `deniedAgain` does for a denied event.
   */
  redeliveryDenied: { from: ['delivered'], to: 'delivered' },
  /**
   * Operator: the delivery's destination was taken out of the configuration while it waited, so no worker would ever
   * send it; an operator ended it (`end-removed-destination.ts`). Not sent; the practice sees why.
   */
  destinationRemoved: { from: ['decided'], to: 'failed' },
  /**
   * The same while another delivery of the event still waits (a consent event's withdrawal notices to two
   * destinations): the event stays `decided`, under way, and that delivery's finish moves it on. The step records why
   * the one delivery ended, in the history and the state's reason.
   */
  destinationRemovedOthersWait: { from: ['decided'], to: 'decided' },
  /**
   * Intake: the practice sends an event again (the same eventId and content) after an operator ended its delivery
   * (`destinationRemoved`): it goes through the map stage as if new, decided and sent to the destinations configured
   * now; the ended delivery stays `cancelled` (`resendAfterEnded`, event-store.ts).
   */
  resentAfterEnded: { from: ['failed'], to: 'received' },
  /** Any stage: the encrypted event was removed by retention before it was finished; nothing can be sent. */
  payloadPurged: { from: ['received', 'mapped', 'decided', 'dead'], to: 'failed' },
} as const satisfies Record<string, Step>;

export type StepName = keyof typeof STEPS;

/**
 * A municipality's status update on its way to the practice (`feedback.state`): `pending`, `delivered`, `dead`
 * (delivery gave up), or `superseded`: never sent, because a later update of its referral reached the practice (or
 * is on its way) before it, and this older status would set the referral back there.
 */
export const FEEDBACK_STATES = ['pending', 'delivered', 'dead', 'superseded'] as const;

export type FeedbackState = (typeof FEEDBACK_STATES)[number];

/**
 * A municipality's trajectory event (`trajectory_event.state`): `pending` delivery to the practice on permit, `denied`
 * (at receipt or before sending), `delivered`, `dead` (delivery gave up). `unacknowledged`: stored, but its receipt
 * was never recorded, so the municipality was not told it was accepted; it waits for the municipality to send it again.
 */
export const TRAJECTORY_EVENT_STATES = ['pending', 'unacknowledged', 'denied', 'delivered', 'dead'] as const;

export type TrajectoryEventState = (typeof TRAJECTORY_EVENT_STATES)[number];

/** A trajectory event's moves for want of its receipt, as the inbox's `unacknowledged` and `acknowledged`. */
export const TRAJECTORY_STEPS = {
  /** Reconciler: a pending event without a job, stored but without its receipt: held instead of delivered. */
  unacknowledged: { from: ['pending'], to: 'unacknowledged' },
  /**
   * The municipality's resend, or a delivery job (queued only once the receipt is recorded): a held event whose
   * receipt is on record now goes on.
   */
  acknowledged: { from: ['unacknowledged'], to: 'pending' },
} as const satisfies Record<string, { from: readonly TrajectoryEventState[]; to: TrajectoryEventState }>;

export type TrajectoryStepName = keyof typeof TRAJECTORY_STEPS;

/** The reason recorded when a referral is not sent because the practice cancelled it (`STEPS.cancelledByPractice`). */
export const CANCELLED_BY_PRACTICE = 'cancelled by the practice before it was sent';

/**
 * The reason recorded instead when an attempt before the cancellation may have reached the receiver (no answer in
 * time, a 5xx): the referral is not sent again, and its cancellation goes out.
 */
export const CANCELLED_AFTER_POSSIBLE_RECEIPT =
  'cancelled by the practice before it was sent again; an earlier attempt may have reached the municipality';

/**
 * The reason recorded when the practice cancels a referral the municipality received while it is being sent again (a
 * redelivery): the resend stops, the referral stays delivered, and its cancellation goes out
 * (`STEPS.resendCancelledByPractice`).
 */
export const RESEND_CANCELLED_BY_PRACTICE =
  'not sent again: the practice cancelled the referral, which the municipality had received; its cancellation goes out';

/** The reason recorded when a cancellation is not sent because its referral never was (`STEPS.nothingToCancel`). */
export const NOTHING_TO_CANCEL = 'not sent: the referral it cancels never reached the municipality';

/**
 * The end of the reason recorded when a cancellation of a referral that only possibly reached the receiver is answered
 * 404 or 410 with an OperationOutcome (`<destination>: HTTP 404; …`, `STEPS.nothingToCancel`): the receiver's FHIR
 * server holds no such referral, so there is nothing to cancel; retried, it would end as a dead letter.
 */
export const NOT_HELD_BY_RECEIVER =
  'nothing to cancel: the municipality does not hold the referral, which only possibly reached it';

/**
 * The reason recorded when a cancellation is not sent because the practice sent the referral again after it
 * (`STEPS.resentByPractice`).
 */
export const RESENT_BY_PRACTICE = 'not sent: the practice sent the referral again after cancelling it';

/** The reason recorded when the reconciler holds an event stored without its receipt (`STEPS.unacknowledged`). */
export const NOT_ACKNOWLEDGED = 'not acknowledged: stored, but its receipt was not recorded; awaiting resend';

/** The reason recorded when a held event's receipt is recorded (`STEPS.acknowledged`). */
export const RECEIPT_RECORDED = 'receipt recorded';

/**
 * The reason recorded when an operator ends a delivery to a destination no longer configured
 * (`STEPS.destinationRemoved`); the operator's own reason is in the practice's audit chain, not here.
 */
export const destinationRemovedReason = (destination: string): string =>
  `not sent: destination ${destination} is no longer configured; ended by operator`;

/** The reason recorded when the practice sends an event again after its delivery was ended (`STEPS.resentAfterEnded`). */
export const RESENT_AFTER_ENDED = 'sent again by the practice after its delivery was ended';

/** The reason recorded when an event's encrypted payload is gone (see `STEPS.payloadPurged`). */
export const PAYLOAD_PURGED = 'payload purged after retention';

/** The reason recorded when an operator redelivers a delivered event (`STEPS.redelivered`): who asked. */
export const redeliveredBy = (who: string): string => `redelivered by ${who}`;

/** The start of the reason recorded when a redelivery is decided again and denied (`STEPS.redeliveryDenied`). */
export const notRedeliveredAskedBy = (who: string): string => `not redelivered (asked by ${who}): `;

/**
 * What a dead letter's reason ends in when the receiver had accepted the delivery before (a redelivery, or its replay,
 * that failed), followed by when it last did (ISO 8601): the municipality has it.
 */
export const SENT_AGAIN_AFTER = '; sent again after the receiver accepted it at ';

/**
 * The reason recorded when a contact is not sent because a correction of it (a later event with the practice's same
 * contact id) reached the destination first (`STEPS.supersededByCorrection`, `STEPS.resendSupersededByCorrection`).
 */
export const SUPERSEDED_BY_CORRECTION =
  'not sent: a correction of this contact, received after it, already reached the municipality';
