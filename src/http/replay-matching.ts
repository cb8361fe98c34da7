import type { AuditActor } from '../audit/audit-events';
import type { PipelineContext } from '../event/context';
import { replayLimitsOf, reviveDeadLetter, type SkipReason } from '../event/replay';
import { replayFeedback } from '../event/feedback';
import { replayTrajectoryEvent } from '../event/trajectory-events';
import {
  countDeadToPractice,
  countMatchingDeadLetters,
  listDeadToPractice,
  type ToPracticeReplayFilter,
  countSkippedDeadLetters,
  listDeadLetters,
  type DeadLetterMatch,
  type OperatorScope,
} from '../reports/dead-letters/dead-letters';

/** What a replay of "all matching" did, for the API's answer and the console's. */
export interface ReplayedMatching {
  /** The dead letters sent again. */
  readonly replayed: string[];
  /** Those it left, by reason: how many, and the oldest `limit` of each. */
  readonly skipped: { reason: SkipReason; count: number; ids: string[] }[];
  /** How many it would send on a next call: the dead letters that still match and that a replay sends. */
  readonly remaining: number;
}

/**
 * Replays the oldest `limit` dead letters a filter matches within the scope, of those a replay can send: the ones it
 * cannot (a withdrawal notice to a format that has none, content retention removed) would fill the `limit` on every
 * call and leave the rest unsent, so they are counted apart, with the reason, and neither sent nor counted as
 * remaining.
 */
export async function replayMatching(
  ctx: PipelineContext,
  filter: DeadLetterMatch & { readonly limit: number },
  scope: OperatorScope,
  actor: AuditActor,
): Promise<ReplayedMatching> {
  const limits = replayLimitsOf(ctx);
  const replayed = await replaySendable(ctx, filter, scope, actor);
  const [skipped, { count: remaining }] = await Promise.all([
    countSkippedDeadLetters(ctx.db, filter, limits, scope),
    countMatchingDeadLetters(ctx.db, { ...filter, replayableUnder: limits }, scope),
  ]);
  return { replayed, skipped, remaining };
}

/**
 * The replay itself, without the counts of what it left (`replayMatching`), for a caller that shows only what it
 * sent (the console's "replay all", whose page counted the rest before the click): the ids sent again.
 */
export async function replaySendable(
  ctx: PipelineContext,
  filter: DeadLetterMatch & { readonly limit: number },
  scope: OperatorScope,
  actor: AuditActor,
): Promise<string[]> {
  const replayed: string[] = [];
  for (const d of await listDeadLetters(ctx.db, { ...filter, replayableUnder: replayLimitsOf(ctx) }, scope)) {
    // Listed under the replay's limits, so a replay carries it. One purged since it was listed is not sent: it is
    // among the skipped `replayMatching` counts.
    if ((await reviveDeadLetter(ctx, d.id, actor)) === 'replayed') {
      replayed.push(d.id);
    }
  }
  return replayed;
}

/** What a batch replay of a practice's dead messages did: the ids sent again, by kind, and how many still match. */
export interface ReplayedToPractice {
  readonly replayed: { readonly statusUpdates: string[]; readonly trajectoryEvents: string[] };
  readonly remaining: number;
}

/**
 * Replays the oldest `limit` dead status updates and trajectory events to one practice within the scope, each as
 * its one-at-a-time replay does (audited per message; a trajectory event is decided again before sending), so a
 * weekend of a HIS being away takes a few calls instead of hundreds of clicks. One another operator replayed in the
 * meantime is not dead any more and is left out.
 */
export async function replayDeadToPractice(
  ctx: PipelineContext,
  filter: ToPracticeReplayFilter,
  scope: OperatorScope,
  actor: AuditActor,
): Promise<ReplayedToPractice> {
  const statusUpdates: string[] = [];
  const trajectoryEvents: string[] = [];
  for (const dead of await listDeadToPractice(ctx.db, filter, scope)) {
    if (dead.kind === 'statusUpdate') {
      if (await replayFeedback(ctx, dead.id, actor)) {
        statusUpdates.push(dead.id);
      }
    } else if (await replayTrajectoryEvent(ctx, dead.id, actor)) {
      trajectoryEvents.push(dead.id);
    }
  }
  const remaining = await countDeadToPractice(ctx.db, filter, scope);
  return { replayed: { statusUpdates, trajectoryEvents }, remaining };
}
