import type { DefaultJobOptions } from 'bullmq';

/** Queue names and job payloads, in one place. Payloads hold ids and a trace id: never patient data. */
export const MAP_QUEUE = 'map';
export const deliverQueueName = (destinationId: string): string => `deliver.${destinationId}`;

export interface MapJobData {
  readonly inboxId: string;
  readonly traceId: string;
}

export interface DeliverJobData {
  readonly deliveryId: string;
  readonly traceId: string;
}

/** The `feedback` queue: a municipality's status updates on referrals, on their way back to the practice's HIS. */
export const FEEDBACK_QUEUE = 'feedback';

export interface FeedbackJobData {
  readonly feedbackId: string;
  readonly traceId: string;
}

/** Job ids are derived, so the reconciler re-adding a job that still exists is a no-op. */
export const mapJobId = (inboxId: string): string => `map-${inboxId}`;
export const deliverJobId = (deliveryId: string, round: number): string => `deliver-${deliveryId}-${round}`;
export const feedbackJobId = (feedbackId: string, round: number): string => `feedback-${feedbackId}-${round}`;

/**
 * Map jobs: failures here are our own (database or Redis briefly away), not the receiver's. 5 attempts at
 * 1, 2, 4, 8 s: about 15 seconds, after which the reconciler picks the event up again on its next round.
 */
export const MAP_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Deliver jobs, retried with the `delivery` backoff (see deliveryBackoffMs). With the defaults (15 attempts,
 * 30 s doubling to at most 1 h, ±20 % jitter) a receiver may be away for about 8 hours before the delivery
 * becomes a dead letter.
 */
export function deliverJobOptions(maxAttempts: number): DefaultJobOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: 'delivery' },
    removeOnComplete: true,
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** Exponential backoff with ±20 % jitter, capped; a receiver's Retry-After wins when it asks for longer. */
export function deliveryBackoffMs(attemptsMade: number, baseMs: number, maxMs: number, retryAfterMs?: number): number {
  const exp = Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), maxMs);
  const jittered = Math.round(exp * (0.8 + Math.random() * 0.4));
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}
