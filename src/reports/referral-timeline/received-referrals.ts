import type { Identifier } from '@medplum/fhirtypes';
import type { PipelineContext } from '../../event/context';
import { canSeeMunicipality, type Principal } from '../../access/principal';
import {
  cancelledReferralIdOf,
  deliveredCancellationIdOf,
  getSealedEvents,
  referralEventsOf,
  tryGetDeliveredCancellation,
  tryGetSealedEvent,
  withdrawalNoticeAtOf,
  type DeliveryState,
  type FeedbackRow,
  type SealedEvent,
} from '../../event/event-store';
import { openEvent, PayloadPurgedError } from '../../event/stored-event';
import { amsterdamDateTime, amsterdamDay, amsterdamDayOf, dayAfter } from '../../kernel/dutch-time';
import { isUuid } from '../../kernel/fhir/ids';
import { and, SqlParams } from '../../kernel/sql-params';
import { decodeTimeIdCursor, encodeTimeIdCursor, exactTimeSql, timeIdKeyset, timeIdPage } from '../time-id-page';
import { tryReferralIdentityOf } from '../../event/feedback';
import { buildTimeline, type ReferralTimeline } from './timeline';
import { referredOnOf } from '../../event/status-dates';

/**
 * The referrals delivered to a municipality's destinations, newest first, a page at a time, each with the
 * identifier the municipality received and uses in its API, and its timeline as `GET
 * /municipality/v1/referrals/{id}/status` gives it (the statuses with their own dates, the waiting days).
 */

export interface ReceivedReferral {
  /** jeugdbrug's id of the event. */
  readonly id: string;
  readonly practice: string;
  readonly eventType: string;
  /** When the municipality first received it (`first_delivered_at`): a redelivery of it does not move this. */
  readonly deliveredAt: Date;
  /** The ServiceRequest's business identifier (the practice's own referral id), when the event carries one. */
  readonly identifier: Identifier | undefined;
  /** For a cancellation the timeline of the referral it cancels, whose day it was written is `referredOn`. */
  readonly timeline: ReferralTimeline;
  /**
   * The Europe/Amsterdam day the practice cancelled the referral (its cancellation's `occurredAt`), for a
   * cancellation and for a referral whose cancellation reached the municipality; undefined otherwise.
   */
  readonly cancelledOn: string | undefined;
  /**
   * Whether the referral itself reached the municipality; false for a cancellation of a referral whose attempts only
   * may have (no answer in time, a 5xx): its status cannot be reported.
   */
  readonly referralReceived: boolean;
  /**
   * When jeugdbrug made a withdrawal notice for what this delivery disclosed (the child's consent withdrawn, recorded
   * in error or met by an objection); undefined while none was made.
   */
  readonly withdrawalNoticeAt: Date | undefined;
}

/** What a case worker looks a referral up by; every criterion given must hold. */
export interface ReceivedReferralFilter {
  /** The practice's referral id (the identifier's value) or its beginning, in any case; or the ServiceRequest id. */
  readonly referral?: string | undefined;
  /** The first and last Europe/Amsterdam day (YYYY-MM-DD) the referral reached the municipality. */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

export interface ReceivedReferralsPage {
  readonly referrals: readonly ReceivedReferral[];
  /** The token of the next (older) page; undefined on the last page. */
  readonly next: string | undefined;
}

interface ListRow {
  /** The delivery's id and moment: what a page is keyed by (`time-id-page.ts`). */
  id: string;
  pageKey: string;
  inboxId: string;
  practice: string;
  eventType: string;
  deliveredAt: Date;
  system: string | null;
  value: string | null;
  /** The cancellation: the event itself, or a referral's delivered cancellation (null when there is none). */
  cancellationId: string | null;
  /** The referral: the event itself, or the referral a cancellation cancels (null when jeugdbrug has none). */
  referralEventId: string | null;
  /** Whether the referral itself reached this destination (a cancellation's may have gone out only possibly). */
  referralReceived: boolean;
  withdrawalNoticeAt: Date | null;
  /** As JSON gives them: `created_at` is text. */
  updates: (Pick<FeedbackRow, 'status' | 'status_date' | 'state'> & { created_at: string })[];
}

/**
 * The destinations whose received referrals `principal` sees: those of the municipalities it acts for. What the
 * console's list and `GET /fhir/ServiceRequest` both show.
 */
export function receivingDestinationsOf(ctx: Pick<PipelineContext, 'registry'>, principal: Principal): string[] {
  return ctx.registry.destinations.filter((d) => canSeeMunicipality(principal, d.municipality)).map((d) => d.id);
}

/**
 * One page of the referrals delivered to `destinations`, the newest first delivery first. A keyset page (after the
 * last row's first delivery moment and id), so a page costs the same however far back it is and rows delivered
 * meanwhile neither repeat nor go missing. A referral is received when a receiver first accepted it
 * (`first_delivered_at`, migration 070), whatever its delivery's state now: a redelivery (under way, done, failed) or
 * the practice's cancellation of it changes neither that it was received nor when, so it neither jumps to the top nor
 * leaves. A search by referral number reads the few deliveries of the referrals it finds (through 069 and the
 * delivery's event index), not every delivery. `page` is a token from an earlier page's `next`; a token not made here
 * is a 400.
 */
export async function listReceivedReferrals(
  ctx: PipelineContext,
  destinations: readonly string[],
  opts: { readonly limit: number; readonly page?: string | undefined; readonly filter?: ReceivedReferralFilter },
): Promise<ReceivedReferralsPage> {
  const after = opts.page === undefined ? undefined : decodeTimeIdCursor(opts.page);
  if (destinations.length === 0) {
    return { referrals: [], next: undefined };
  }
  const q = new SqlParams();
  const keyset = timeIdKeyset(after, { time: 'd.first_delivered_at', id: 'd.id' }, q);
  const filter = opts.filter ?? {};
  const where = [keyset.where];
  if (filter.referral !== undefined) {
    // A prefix of `lower(value)`, which 069 indexes; `starts_with` takes `%`, `_` and `\` as themselves (LIKE would
    // take them for any characters and an escape).
    const byValue = `starts_with(lower(value), lower(${q.add(filter.referral, 'text')}))`;
    const found = isUuid(filter.referral)
      ? `${byValue} OR service_request_id = ${q.add(filter.referral, 'uuid')}`
      : byValue;
    where.push(`d.inbox_id IN (SELECT inbox_id FROM referral_identifier WHERE ${found})`);
  }
  if (filter.from !== undefined) {
    where.push(`d.first_delivered_at >= ${q.add(amsterdamDateTime(filter.from), 'timestamptz')}`);
  }
  if (filter.to !== undefined) {
    where.push(`d.first_delivered_at < ${q.add(amsterdamDateTime(dayAfter(filter.to)), 'timestamptz')}`);
  }
  const read = await ctx.db.query<ListRow>(
    `SELECT d.id, ${exactTimeSql('d.first_delivered_at')} AS "pageKey", i.id AS "inboxId", i.tenant AS practice,
       i.event_type AS "eventType", d.first_delivered_at AS "deliveredAt", r.system, r.value,
       CASE WHEN i.event_type = 'referral.created' THEN ${deliveredCancellationIdOf('d.inbox_id')} ELSE i.id END
         AS "cancellationId",
       CASE WHEN i.event_type = 'referral.cancelled' THEN ${cancelledReferralIdOf('d.inbox_id')} ELSE i.id END
         AS "referralEventId",
       i.event_type = 'referral.created' OR EXISTS (SELECT 1 FROM delivery rd JOIN inbox ri ON ri.id = rd.inbox_id
         WHERE rd.inbox_id IN ${referralEventsOf('i.id')} AND ri.event_type = 'referral.created'
           AND rd.destination = d.destination AND rd.first_delivered_at IS NOT NULL) AS "referralReceived",
       ${withdrawalNoticeAtOf('d.id')} AS "withdrawalNoticeAt",
       COALESCE((SELECT json_agg(json_build_object('status', f.status, 'status_date', f.status_date,
                   'created_at', f.created_at, 'state', f.state) ORDER BY f.created_at, f.id)
                 FROM feedback f WHERE f.inbox_id IN ${referralEventsOf('i.id')}), '[]'::json) AS updates
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id LEFT JOIN referral_identifier r ON r.inbox_id = i.id
     WHERE d.first_delivered_at IS NOT NULL AND d.destination = ANY(${q.add([...destinations], 'text[]')})
       AND i.event_type LIKE 'referral.%' AND ${and(where)}
     ORDER BY ${keyset.orderBy} LIMIT ${q.add(opts.limit + 1, 'int')}`,
    q.values,
  );
  const { rows: page, older } = timeIdPage(read, opts.limit, after);
  // The events themselves, in one statement: for the day each referral was written (the start of its waiting days),
  // and the day it was cancelled.
  const ids = page.flatMap((r) => [r.inboxId, r.referralEventId ?? [], r.cancellationId ?? []].flat());
  const events = new Map((await getSealedEvents(ctx.db, [...new Set(ids)])).map((e) => [e.id, e]));
  const referrals = page.map((r): ReceivedReferral => {
    const event = events.get(r.referralEventId ?? r.inboxId) ?? events.get(r.inboxId);
    const identity = event ? tryReferralIdentityOf(ctx, event) : undefined;
    const cancellation = r.cancellationId === null ? undefined : events.get(r.cancellationId);
    const updates = r.updates.map((u) => ({ ...u, created_at: new Date(u.created_at) }));
    return {
      id: r.inboxId,
      practice: r.practice,
      eventType: r.eventType,
      deliveredAt: r.deliveredAt,
      identifier: r.system && r.value ? { system: r.system, value: r.value } : identity?.identifier,
      timeline: buildTimeline(referredOnOf(identity?.authoredOn, event?.received_at ?? r.deliveredAt), updates),
      cancelledOn: cancellation && cancelledOnOf(ctx, cancellation),
      referralReceived: r.referralReceived,
      withdrawalNoticeAt: r.withdrawalNoticeAt ?? undefined,
    };
  });
  return { referrals, next: older && encodeTimeIdCursor(older) };
}

/**
 * The Europe/Amsterdam day the practice cancelled a referral: its cancellation event's `occurredAt`, or, once
 * retention removed the event's content, the day jeugdbrug received it.
 */
export function cancelledOnOf(
  ctx: Pick<PipelineContext, 'cipher'>,
  cancellation: SealedEvent & { received_at: Date },
): string {
  try {
    return amsterdamDayOf(openEvent(ctx.cipher, cancellation).occurredAt);
  } catch (err) {
    // Only a removed content is shown by the day it came: a lost key or damaged bytes are a fault, not a fallback.
    if (!(err instanceof PayloadPurgedError)) {
      throw err;
    }
    return amsterdamDay(cancellation.received_at);
  }
}

/** A practice's cancellation that reached the municipality: the day the practice cancelled, when it came. */
export interface ReferralCancellation {
  readonly on: string;
  readonly reachedAt: Date;
}

/** The practice's cancellation of referral event `referralId` that reached the municipality: the day, when it came. */
export async function tryGetReferralCancellation(
  ctx: PipelineContext,
  referralId: string,
): Promise<ReferralCancellation | undefined> {
  const cancellation = await tryGetDeliveredCancellation(ctx.db, referralId);
  if (!cancellation) {
    return undefined;
  }
  const event = await tryGetSealedEvent(ctx.db, cancellation.id);
  return {
    on: event ? cancelledOnOf(ctx, event) : amsterdamDay(cancellation.deliveredAt),
    reachedAt: cancellation.deliveredAt,
  };
}

/** A withdrawal notice made for a referral a municipality received: when, and where its delivery is now. */
export interface ReferralWithdrawalNotice {
  readonly madeAt: Date;
  /** The notice's delivery: `dead` where the destination's format carries no notice (isamenleving). */
  readonly noticeState: DeliveryState;
}

/**
 * The withdrawal notice made for the newest version of referral `referralId` that reached one of `destinations`
 * (the version `GET /fhir/ServiceRequest` serves, whose tag `consent-withdrawn` this is); undefined while none was.
 */
export async function tryGetReferralWithdrawalNotice(
  ctx: PipelineContext,
  referralId: string,
  destinations: readonly string[],
): Promise<ReferralWithdrawalNotice | undefined> {
  const [served] = await ctx.db.query<{ madeAt: Date | null; noticeState: DeliveryState | null }>(
    `SELECT n.created_at AS "madeAt", n.state AS "noticeState"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id AND i.event_type = 'referral.created'
       LEFT JOIN child_disclosure cd ON cd.delivery_id = d.id LEFT JOIN delivery n ON n.id = cd.notice_delivery
     WHERE d.inbox_id IN ${referralEventsOf('$1::uuid')} AND d.destination = ANY($2::text[])
       AND d.first_delivered_at IS NOT NULL
     ORDER BY i.received_at DESC, i.received_seq DESC, d.id DESC LIMIT 1`,
    [referralId, destinations],
  );
  return served?.madeAt && served.noticeState ? { madeAt: served.madeAt, noticeState: served.noticeState } : undefined;
}
