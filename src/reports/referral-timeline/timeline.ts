import type { ReferralStatus } from '../../../mappings/practice/referral-status';
import { amsterdamDay } from '../../kernel/dutch-time';
import type { PipelineContext } from '../../event/context';
import {
  listReferralFeedback,
  tryGetSealedEvent,
  type EventRow,
  type FeedbackRow,
  type SealedEvent,
} from '../../event/event-store';
import { tryReferralIdentityOf } from '../../event/feedback';
import { referredOnOf } from '../../event/status-dates';

/**
 * A referral's way from the practice to care, as the municipality reported it: each status with the day it took
 * effect, and the waiting times in days that the Dutch monitoring reports ask for (referral → accepted → decision →
 * care started). Shown to the municipality on its status route and to the practice on its event.
 */

export interface TimelineStep {
  readonly status: ReferralStatus;
  /** The day it took effect (YYYY-MM-DD). */
  readonly date: string | null;
  /** When jeugdbrug received it. */
  readonly receivedAt: Date;
  /** Whether it reached the practice's HIS: pending, delivered, dead, or superseded (a later one went first). */
  readonly toPractice: string;
}

export interface WaitingDays {
  readonly referralToAccepted?: number;
  readonly acceptedToDecision?: number;
  readonly decisionToCareStarted?: number;
  readonly referralToDecision?: number;
  readonly referralToCareStarted?: number;
}

export interface ReferralTimeline {
  /** The day the referral was written (ServiceRequest.authoredOn), else the day it was received. */
  readonly referredOn: string;
  readonly current: ReferralStatus | null;
  readonly steps: readonly TimelineStep[];
  readonly waitingDays: WaitingDays;
}

const DAY_MS = 86_400_000;

/** Whole days from one calendar day to another (both YYYY-MM-DD). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/** The timeline of status updates (oldest first). Pure. */
export function buildTimeline(
  referredOn: string,
  updates: readonly Pick<FeedbackRow, 'status' | 'status_date' | 'created_at' | 'state'>[],
): ReferralTimeline {
  const steps = updates.map((u): TimelineStep => ({
    status: u.status,
    date: u.status_date ?? amsterdamDay(new Date(u.created_at)),
    receivedAt: u.created_at,
    toPractice: u.state,
  }));
  const firstOf = (...statuses: ReferralStatus[]): string | undefined =>
    steps.find((s) => statuses.includes(s.status))?.date ?? undefined;
  const accepted = firstOf('accepted');
  const decision = firstOf('decision-issued', 'allocated');
  const careStarted = firstOf('care-started');
  const span = (from: string | undefined, to: string | undefined) => (from && to ? daysBetween(from, to) : undefined);
  const waitingDays = Object.fromEntries(
    Object.entries({
      referralToAccepted: span(referredOn, accepted),
      acceptedToDecision: span(accepted, decision),
      decisionToCareStarted: span(decision, careStarted),
      referralToDecision: span(referredOn, decision),
      referralToCareStarted: span(referredOn, careStarted),
    }).filter(([, v]) => v !== undefined),
  ) as WaitingDays;
  return { referredOn, current: steps.at(-1)?.status ?? null, steps, waitingDays };
}

/** The timeline of the referral that event `row` carries (all its events: the first and the corrections). */
export async function getReferralTimeline(
  ctx: PipelineContext,
  row: EventRow & SealedEvent,
): Promise<ReferralTimeline> {
  const referredOn = referredOnOf(tryReferralIdentityOf(ctx, row)?.authoredOn, row.received_at);
  return buildTimeline(referredOn, await listReferralFeedback(ctx.db, row.id));
}

/** The timeline of the referral event `id`, or undefined when there is no such event. */
export async function referralTimelineOf(ctx: PipelineContext, id: string): Promise<ReferralTimeline | undefined> {
  const row = await tryGetSealedEvent(ctx.db, id);
  return row ? getReferralTimeline(ctx, row) : undefined;
}
