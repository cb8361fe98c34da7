import { SENT_AGAIN_AFTER } from './states';

/**
 * "Dead but delivered before": a dead letter of a delivery the receiver had accepted before (a redelivery, or its
 * replay, that failed). The municipality has it, so the practice is told it was delivered, the failed resend noted,
 * and a HIS polling its dead events does not send it again. Decided here for the three places that show it: a
 * history entry (by its reason), an event with its deliveries, and the list of a practice's events (SQL).
 */

/** A delivery: dead, and accepted by its receiver before (`delivered_at` is never cleared by a later round). */
export function deliveryDeadButDeliveredBefore(d: { state: string; deliveredAt: unknown }): boolean {
  return d.state === 'dead' && d.deliveredAt !== null && d.deliveredAt !== undefined;
}

/**
 * An event: dead, a receiver accepted one of its deliveries, and every dead one of them had been accepted before. A
 * dead delivery to a destination that never received it keeps the event a dead letter, whatever another accepted.
 */
export function eventDeadButDeliveredBefore(
  state: string,
  deliveries: readonly { state: string; deliveredAt: unknown }[],
): boolean {
  return (
    state === 'dead' &&
    deliveries.some((d) => d.deliveredAt !== null && d.deliveredAt !== undefined) &&
    deliveries.every((d) => d.state !== 'dead' || deliveryDeadButDeliveredBefore(d))
  );
}

/** A history entry: its step made the event dead, and its reason says the receiver had accepted it before. */
export function entryDeadButDeliveredBefore(state: string, reason: string | null | undefined): boolean {
  return state === 'dead' && reason?.includes(SENT_AGAIN_AFTER) === true;
}

/**
 * `eventDeadButDeliveredBefore` in SQL, of the inbox row `inbox`: its deliveries read by their index on the event, in
 * a scalar subquery (an EXISTS here may be planned as one hashed read of all of `delivery`).
 */
export const EVENT_DEAD_BUT_DELIVERED_BEFORE_SQL = (inbox: string): string =>
  `(${inbox}.state = 'dead' AND coalesce((SELECT bool_or(d.delivered_at IS NOT NULL)
      AND coalesce(bool_and(d.delivered_at IS NOT NULL) FILTER (WHERE d.state = 'dead'), true)
    FROM delivery d WHERE d.inbox_id = ${inbox}.id), false))`;
