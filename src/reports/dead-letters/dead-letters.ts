import { z } from 'zod';
import type { Db } from '../../kernel/db';
import { answerSummarySql, type AnswerSummary } from '../../event/receiver-answer';
import { MONITORING_REPORT_EVENT } from '../../contracts/delivery-event-type';
import { FEEDBACK_STATES, TRAJECTORY_EVENT_STATES } from '../../event/states';
import type { ReplayLimits, SkipReason } from '../../event/replay';
import { getDeliveryWorks, type DeliveryWork } from '../../event/event-store';
import { ALL } from '../../access/principal';
import { agb } from '../../kernel/fhir/fields';
import { and, or, SqlParams } from '../../kernel/sql-params';
import { tokenMoment } from '../fhir-search/page-token';
import { exactTimeSql, timeIdKeyset, timeIdPage, type TimeIdCursor, type TimeIdPage } from '../time-id-page';

/** Which dead letters to list or replay: by destination, the receiver's last status, and since when. */
export const deadLetterFilter = z
  .object({
    destination: z
      .string()
      .max(64)
      // Messages to a practice (`practice-<agb>`, as the dead-letter metric labels them) are status updates and
      // trajectory events, not deliveries: this list never holds them, so say where they are instead of answering
      // an empty list while the metric counts them.
      .refine((d) => !d.startsWith('practice-'), {
        message:
          'dead letters to a practice are status updates and trajectory events: list them with ' +
          'GET /admin/v1/feedback and GET /admin/v1/trajectory-events (dead by default) and replay them with ' +
          'POST /admin/v1/feedback/replay, or on the console page "Naar praktijken"',
      })
      .optional(),
    status: z.coerce.number().int().min(100).max(599).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type DeadLetterFilter = z.infer<typeof deadLetterFilter>;

export interface DeadLetter {
  id: string;
  inboxId: string;
  eventId: string;
  /** `referral.created`, `contact.recorded`, …, or `monitoring.report` for a pushed monitoring report. */
  eventType: string;
  /** The practice whose event it is; null for a monitoring report, which is no practice's. */
  practice: string | null;
  destination: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  /** The receiver's last answer as operators see it: type, size, an OperationOutcome's codes; never its text. */
  answer: AnswerSummary | null;
  /** Its event's content was removed under the retention period: it can no longer be replayed. */
  purged: boolean;
  /** Which round died: 0 the first; more after a replay or a redelivery. */
  round: number;
  /**
   * When the receiver last accepted this delivery, for one that died when it was sent again (a redelivery, or its
   * replay): the resend failed, that delivery stands. Null for one never delivered.
   */
  deliveredAt: Date | null;
  updatedAt: Date;
}

/**
 * What an operator may list and act on: the events (and their deliveries, status updates, trajectory events) of the
 * practices in its scope, and the monitoring reports (no practice's) of the municipalities in it. `'*'` is all.
 */
export interface OperatorScope {
  readonly practices: readonly string[];
  readonly municipalities: readonly string[];
}

/** Every practice and municipality: the scope of callers that are not held to one (the default). */
export const EVERY_TENANT: OperatorScope = { practices: [ALL], municipalities: [ALL] };

/** The condition on `inbox i` that keeps an event within the scope; none for `'*'`. */
function eventInScope(scope: OperatorScope, q: SqlParams): string[] {
  const allPractices = scope.practices.includes(ALL);
  const allMunicipalities = scope.municipalities.includes(ALL);
  if (allPractices && allMunicipalities) {
    return [];
  }
  const report = q.add(MONITORING_REPORT_EVENT);
  return [
    or([
      `i.event_type <> ${report}${allPractices ? '' : ` AND i.tenant = ANY(${q.add(scope.practices, 'text[]')})`}`,
      `i.event_type = ${report}${
        allMunicipalities ? '' : ` AND i.municipality = ANY(${q.add(scope.municipalities, 'text[]')})`
      }`,
    ]),
  ];
}

/** The condition on a table with a practice's `tenant` (status updates, trajectory events); none for `'*'`. */
function practiceInScope(scope: OperatorScope, q: SqlParams): string[] {
  return scope.practices.includes(ALL) ? [] : [`tenant = ANY(${q.add(scope.practices, 'text[]')})`];
}

/**
 * The reason a replay leaves a dead letter of `delivery d JOIN inbox i`, or NULL for one it sends: in the order
 * `replayDelivery` judges them.
 */
function skipReasonSql(limits: ReplayLimits, q: SqlParams): string {
  return `CASE
    WHEN i.event_type = ANY(${q.add(limits.noticeTypes, 'text[]')})
      AND NOT d.destination = ANY(${q.add(limits.carryingNotices, 'text[]')}) THEN 'not-carried'
    WHEN i.canonical IS NULL AND i.payload IS NULL THEN 'purged'
  END`;
}

/** What an action on "all N matching" is held to: the filter, and no dead letter newer than the ones counted. */
export type DeadLetterMatch = Omit<DeadLetterFilter, 'limit'> & {
  /** The newest moment counted (`exactTimeSql`): dead letters that arrive after the count are not among the N. */
  readonly until?: string | undefined;
  /** Only the dead letters a replay sends under these limits: what "replay all N" counts and sends. */
  readonly replayableUnder?: ReplayLimits | undefined;
};

/** The conditions of a match on `delivery d JOIN inbox i`, with their parameters added to `q`. */
function deadWhere(f: DeadLetterMatch, scope: OperatorScope, q: SqlParams): string {
  return and([
    `d.state = 'dead'`,
    ...eventInScope(scope, q),
    ...(f.replayableUnder !== undefined ? [`(${skipReasonSql(f.replayableUnder, q)}) IS NULL`] : []),
    ...(f.destination !== undefined ? [`d.destination = ${q.add(f.destination)}`] : []),
    ...(f.status !== undefined ? [`d.last_status = ${q.add(f.status, 'int')}`] : []),
    ...(f.since !== undefined ? [`d.updated_at >= ${q.add(f.since, 'timestamptz')}`] : []),
    ...(f.until !== undefined ? [`d.updated_at <= ${q.add(f.until, 'timestamptz')}`] : []),
  ]);
}

/** What a dead letter shows, from `delivery d JOIN inbox i`. */
function deadLetterColumns(q: SqlParams): string {
  return `d.id, d.inbox_id AS "inboxId", i.source_event_id AS "eventId", i.event_type AS "eventType",
    CASE WHEN i.event_type = ${q.add(MONITORING_REPORT_EVENT)} THEN NULL ELSE i.tenant END AS practice,
    d.destination, d.attempts, d.last_status AS "lastStatus", d.last_error AS "lastError",
    ${answerSummarySql('d.response_summary')} AS answer, (i.canonical IS NULL AND i.payload IS NULL) AS purged, d.round,
    d.delivered_at AS "deliveredAt", d.updated_at AS "updatedAt"`;
}

/** A pending delivery as an operator's end of a removed destination's deliveries takes it. */
export interface PendingDelivery {
  readonly id: string;
  readonly inboxId: string;
  readonly tenant: string;
  readonly traceId: string;
}

/**
 * The oldest `limit` pending deliveries to `destination` whose events are within the scope, and how many of those
 * there are in all: what `POST /admin/v1/destinations/{id}/end-pending` ends (the caller checks that the destination
 * is not configured). Read by `delivery_pending_age` (destination, pending_since).
 */
export async function pendingToDestination(
  db: Db,
  destination: string,
  scope: OperatorScope,
  limit: number,
): Promise<{ deliveries: PendingDelivery[]; total: number }> {
  const whereOf = (q: SqlParams) =>
    and([`d.state = 'pending'`, `d.destination = ${q.add(destination)}`, ...eventInScope(scope, q)]);
  const q = new SqlParams();
  const deliveries = await db.query<PendingDelivery>(
    `SELECT d.id, d.inbox_id AS "inboxId", i.tenant, i.trace_id AS "traceId"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE ${whereOf(q)}
     ORDER BY d.pending_since, d.id LIMIT ${q.add(limit, 'int')}`,
    q.values,
  );
  const c = new SqlParams();
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE ${whereOf(c)}`,
    c.values,
  );
  return { deliveries, total: row?.n ?? 0 };
}

/** Dead deliveries within the scope with the summary of the receiver's last answer, oldest first. */
export async function listDeadLetters(
  db: Db,
  f: DeadLetterFilter & DeadLetterMatch,
  scope: OperatorScope = EVERY_TENANT,
): Promise<DeadLetter[]> {
  const q = new SqlParams();
  return db.query<DeadLetter>(
    `SELECT ${deadLetterColumns(q)} FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE ${deadWhere(f, scope, q)} ORDER BY d.updated_at LIMIT ${q.add(f.limit, 'int')}`,
    q.values,
  );
}

/**
 * One page of the dead letters a filter matches, newest first (the console's list), by keyset on (updated_at, id).
 * Dead letters are few beside all deliveries: the partial index `delivery_dead` holds only them.
 */
export async function pageDeadLetters(
  db: Db,
  f: DeadLetterMatch,
  cursor: TimeIdCursor | undefined,
  size: number,
  scope: OperatorScope = EVERY_TENANT,
): Promise<TimeIdPage<DeadLetter & { pageKey: string }>> {
  const q = new SqlParams();
  const keyset = timeIdKeyset(cursor, { time: 'd.updated_at', id: 'd.id' }, q);
  const rows = await db.query<DeadLetter & { pageKey: string }>(
    `SELECT ${deadLetterColumns(q)}, ${exactTimeSql('d.updated_at')} AS "pageKey"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE ${deadWhere(f, scope, q)} AND ${keyset.where} ORDER BY ${keyset.orderBy} LIMIT ${q.add(size + 1, 'int')}`,
    q.values,
  );
  return timeIdPage(rows, size, cursor);
}

/**
 * How many dead letters a filter matches, and the moment of the newest of them: an action offered on "all N" is
 * then held to those N (`until`), however many die after the page was shown.
 */
export async function countMatchingDeadLetters(
  db: Db,
  f: DeadLetterMatch,
  scope: OperatorScope = EVERY_TENANT,
): Promise<{ count: number; newest: string | undefined }> {
  const q = new SqlParams();
  const where = deadWhere(f, scope, q);
  // The event is read only for a scope short of every tenant or for what a replay sends: the count of all stays on
  // the delivery index alone.
  const from =
    eventInScope(scope, new SqlParams()).length > 0 || f.replayableUnder !== undefined
      ? 'delivery d JOIN inbox i ON i.id = d.inbox_id'
      : 'delivery d';
  const [row] = await db.query<{ count: number; newest: string | null }>(
    `SELECT count(*)::int AS count, ${exactTimeSql('max(d.updated_at)')} AS newest FROM ${from}
     WHERE ${where}`,
    q.values,
  );
  return { count: row?.count ?? 0, newest: row?.newest ?? undefined };
}

/**
 * The dead letters a filter matches that a replay leaves under `limits`, by reason: how many, and the ids of the
 * oldest `limit` of each.
 */
export async function countSkippedDeadLetters(
  db: Db,
  f: DeadLetterMatch & { readonly limit: number },
  limits: ReplayLimits,
  scope: OperatorScope = EVERY_TENANT,
): Promise<{ reason: SkipReason; count: number; ids: string[] }[]> {
  const q = new SqlParams();
  const where = deadWhere({ ...f, replayableUnder: undefined }, scope, q);
  return db.query(
    `SELECT reason, count(*)::int AS count, (array_agg(id ORDER BY updated_at))[1:${q.add(f.limit, 'int')}] AS ids
     FROM (
       SELECT d.id, d.updated_at, ${skipReasonSql(limits, q)} AS reason
       FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE ${where}
     ) matching
     WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason`,
    q.values,
  );
}

/** Why an operator asks for deliveries again (the receiver restored a backup; a ticket): required, kept in the audit. */
export const redeliveryReason = z
  .string()
  .trim()
  .min(1, 'required: why the deliveries are sent again (kept in the audit)')
  .max(500, 'at most 500 characters');

/** Where a page of a redelivery window starts: just after the delivery delivered at `deliveredAt` with `id`. */
export const deliveredAfter = z
  .object({ deliveredAt: tokenMoment({ precision: 6, message: 'the `after` of an earlier answer' }), id: z.uuid() })
  .strict();
export type DeliveredAfter = z.infer<typeof deliveredAfter>;

/**
 * Which delivered deliveries to send again (POST /admin/v1/deliveries/redeliver): those to `destination` delivered
 * from `from` (the receiver's restore point) up to, not including, `to`, oldest first, `limit` at a time.
 */
export const redeliveryWindow = z
  .object({
    destination: z.string().min(1).max(64),
    from: tokenMoment({ offset: true }),
    to: tokenMoment({ offset: true }),
    reason: redeliveryReason,
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: deliveredAfter.optional(),
  })
  .strict();
export type RedeliveryWindow = z.infer<typeof redeliveryWindow>;

/** The conditions of a redelivery window on `delivery d JOIN inbox i`, from `after` on when given. */
function windowWhere(w: Omit<RedeliveryWindow, 'reason' | 'limit'>, scope: OperatorScope, q: SqlParams): string {
  return and([
    `d.state = 'delivered'`,
    `d.destination = ${q.add(w.destination)}`,
    `d.delivered_at >= ${q.add(w.from, 'timestamptz')}`,
    `d.delivered_at < ${q.add(w.to, 'timestamptz')}`,
    ...eventInScope(scope, q),
    ...(w.after
      ? [`(d.delivered_at, d.id) > (${q.add(w.after.deliveredAt, 'timestamptz')}, ${q.add(w.after.id, 'uuid')})`]
      : []),
  ]);
}

/** The delivered deliveries of a window within the scope, oldest first, at most `limit`, each with its `after`. */
export async function listDeliveredInWindow(
  db: Db,
  w: Omit<RedeliveryWindow, 'reason'>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<{ id: string; after: DeliveredAfter }[]> {
  const q = new SqlParams();
  const rows = await db.query<{ id: string; deliveredAt: string }>(
    `SELECT d.id, ${exactTimeSql('d.delivered_at')} AS "deliveredAt" FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE ${windowWhere(w, scope, q)} ORDER BY d.delivered_at, d.id LIMIT ${q.add(w.limit, 'int')}`,
    q.values,
  );
  return rows.map((r) => ({ id: r.id, after: { deliveredAt: r.deliveredAt, id: r.id } }));
}

/**
 * One page of a redelivery window: the deliveries to send again with what a redelivery reads of each and of its event,
 * oldest first, and where the next page starts; in two statements, however long the page. One gone since it was
 * listed is left out.
 */
export async function readRedeliveryPage(
  db: Db,
  window: Omit<RedeliveryWindow, 'reason'>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<{ targets: DeliveryWork[]; after: DeliveredAfter | undefined }> {
  const looked = await listDeliveredInWindow(db, window, scope);
  const ids = looked.map((l) => l.id);
  const works = new Map((await getDeliveryWorks(db, ids)).map((w) => [w.id, w]));
  return {
    targets: looked.flatMap(({ id }) => works.get(id) ?? []),
    after: looked.at(-1)?.after,
  };
}

/** How many delivered deliveries of a window within the scope there are (after `after`, when given). */
export async function countDeliveredInWindow(
  db: Db,
  w: Omit<RedeliveryWindow, 'reason' | 'limit'>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<number> {
  const q = new SqlParams();
  const [row] = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE ${windowWhere(w, scope, q)}`,
    q.values,
  );
  return row?.count ?? 0;
}

/** Which status updates to list: by delivery state (dead letters by default). */
export const feedbackFilter = z
  .object({
    state: z.enum(FEEDBACK_STATES).default('dead'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** What a message to a practice shows (a status update, a trajectory event): ids and outcomes, never content. */
interface ToPracticeLetter {
  id: string;
  practice: string;
  municipality: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  /** The practice's HIS's last answer as operators see it (receiver-answer.ts). */
  answer: AnswerSummary | null;
  updatedAt: Date;
}

export interface FeedbackLetter extends ToPracticeLetter {
  /** The referral event the status is about. */
  inboxId: string;
  status: string;
}

export interface TrajectoryLetter extends ToPracticeLetter {
  /** The municipality's own id of the event, and its type (intake, contact, referral, closure). */
  eventId: string;
  type: string;
  decision: string;
  decisionReason: string;
}

/** Status updates for the practices in scope in one delivery state (by default those that could not be delivered). */
export async function listFeedbackByState(
  db: Db,
  f: z.infer<typeof feedbackFilter>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<FeedbackLetter[]> {
  const q = new SqlParams();
  return db.query<FeedbackLetter>(
    `SELECT id, inbox_id AS "inboxId", tenant AS practice, municipality, status, state, attempts,
       last_status AS "lastStatus", last_error AS "lastError", ${answerSummarySql('response_summary')} AS answer, updated_at AS "updatedAt"
     FROM feedback WHERE ${and([`state = ${q.add(f.state)}`, ...practiceInScope(scope, q)])}
     ORDER BY updated_at LIMIT ${q.add(f.limit, 'int')}`,
    q.values,
  );
}

/** The kinds of message to a practice, each kept in a table of its own: status updates and trajectory events. */
export const TO_PRACTICE_KINDS = ['statusUpdate', 'trajectoryEvent'] as const;
export type ToPracticeKind = (typeof TO_PRACTICE_KINDS)[number];
const TABLE_OF_KIND: Readonly<Record<ToPracticeKind, string>> = {
  statusUpdate: 'feedback',
  trajectoryEvent: 'trajectory_event',
};

/**
 * Which dead messages to a practice a batch replay sends: the practice's status updates and trajectory events that
 * died (after `since`, when given; of one `kind`, when given), the oldest `limit` of them, as a batch replay of
 * deliveries takes its filter.
 */
export const toPracticeReplayFilter = z
  .object({
    practice: agb,
    kind: z.enum(TO_PRACTICE_KINDS).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type ToPracticeReplayFilter = z.infer<typeof toPracticeReplayFilter>;

/** One dead message to a practice: which table holds it (a status update, a trajectory event) and its id. */
export interface DeadToPractice {
  kind: ToPracticeKind;
  id: string;
}

/** The dead status updates and trajectory events (or those of `kind`) to a practice within the scope: its SQL. */
function deadToPracticeSql(f: Omit<ToPracticeReplayFilter, 'limit'>, scope: OperatorScope, q: SqlParams): string {
  const where = and([
    `state = 'dead'`,
    `tenant = ${q.add(f.practice)}`,
    ...(f.since !== undefined ? [`updated_at >= ${q.add(f.since)}::timestamptz`] : []),
    ...practiceInScope(scope, q),
  ]);
  return TO_PRACTICE_KINDS.filter((kind) => f.kind === undefined || f.kind === kind)
    .map((kind) => `SELECT '${kind}'::text AS kind, id, updated_at FROM ${TABLE_OF_KIND[kind]} WHERE ${where}`)
    .join(' UNION ALL ');
}

/** The oldest `limit` dead messages to a practice (status updates and trajectory events together), oldest first. */
export async function listDeadToPractice(
  db: Db,
  f: ToPracticeReplayFilter,
  scope: OperatorScope = EVERY_TENANT,
): Promise<DeadToPractice[]> {
  const q = new SqlParams();
  return db.query<DeadToPractice>(
    `SELECT kind, id FROM (${deadToPracticeSql(f, scope, q)}) dead ORDER BY updated_at, id
     LIMIT ${q.add(f.limit, 'int')}`,
    q.values,
  );
}

/** How many dead messages to a practice match (what a next batch replay would still send). */
export async function countDeadToPractice(
  db: Db,
  f: Omit<ToPracticeReplayFilter, 'limit'>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<number> {
  const q = new SqlParams();
  const [row] = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM (${deadToPracticeSql(f, scope, q)}) dead`,
    q.values,
  );
  return row?.count ?? 0;
}

/** Which trajectory events from municipalities to list: by state (dead letters by default). */
export const trajectoryEventFilter = z
  .object({
    state: z.enum(TRAJECTORY_EVENT_STATES).default('dead'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/**
 * Trajectory events municipalities sent to the practices in scope, in one state; ids and outcomes only, never their
 * content.
 */
export async function listTrajectoryEventsByState(
  db: Db,
  f: z.infer<typeof trajectoryEventFilter>,
  scope: OperatorScope = EVERY_TENANT,
): Promise<TrajectoryLetter[]> {
  const q = new SqlParams();
  return db.query<TrajectoryLetter>(
    `SELECT id, source_event_id AS "eventId", event_type AS type, tenant AS practice, municipality, decision,
       decision_reason AS "decisionReason", state, attempts, last_status AS "lastStatus", last_error AS "lastError",
       ${answerSummarySql('response_summary')} AS answer, updated_at AS "updatedAt"
     FROM trajectory_event WHERE ${and([`state = ${q.add(f.state)}`, ...practiceInScope(scope, q)])}
     ORDER BY updated_at LIMIT ${q.add(f.limit, 'int')}`,
    q.values,
  );
}

/**
 * Dead letters per destination, and per practice those on their way to it (status updates, trajectory events; in
 * `toPracticesByKind` each kind apart), counted in PostgreSQL: for the console and for `jeugdbrug_dead_letters`.
 * BullMQ's `failed` count is not the number an operator acts on: it keeps failed jobs for a month whatever became of
 * them.
 */
export async function countDeadLetters(db: Db): Promise<{
  deliveries: Map<string, number>;
  toPractices: Map<string, number>;
  toPracticesByKind: Map<string, Record<ToPracticeKind, number>>;
}> {
  const rows = await db.query<{ kind: 'destination' | ToPracticeKind; name: string; n: number }>(
    `SELECT 'destination' AS kind, destination AS name, count(*)::int AS n FROM delivery WHERE state = 'dead'
       GROUP BY destination
     UNION ALL
     SELECT 'statusUpdate', tenant, count(*)::int FROM feedback WHERE state = 'dead' GROUP BY tenant
     UNION ALL
     SELECT 'trajectoryEvent', tenant, count(*)::int FROM trajectory_event WHERE state = 'dead' GROUP BY tenant`,
  );
  const deliveries = new Map<string, number>();
  const toPractices = new Map<string, number>();
  const toPracticesByKind = new Map<string, Record<ToPracticeKind, number>>();
  for (const { kind, name, n } of rows) {
    if (kind === 'destination') {
      deliveries.set(name, n);
      continue;
    }
    toPractices.set(name, (toPractices.get(name) ?? 0) + n);
    const byKind = toPracticesByKind.get(name) ?? { statusUpdate: 0, trajectoryEvent: 0 };
    byKind[kind] = n;
    toPracticesByKind.set(name, byKind);
  }
  return { deliveries, toPractices, toPracticesByKind };
}

/** The current state of some deliveries (a replay's progress), by id. */
export async function deliveryStates(
  db: Db,
  ids: readonly string[],
): Promise<
  {
    id: string;
    /** The event's inbox id, its id at the practice and the practice: how the operator knows it. */
    inboxId: string;
    eventId: string;
    practice: string;
    destination: string;
    state: string;
    attempts: number;
    lastStatus: number | null;
  }[]
> {
  if (ids.length === 0) {
    return [];
  }
  return db.query(
    `SELECT d.id, d.inbox_id AS "inboxId", i.source_event_id AS "eventId", i.tenant AS practice, d.destination,
       d.state, d.attempts, d.last_status AS "lastStatus"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE d.id = ANY($1::uuid[])
     ORDER BY d.updated_at`,
    [ids],
  );
}
