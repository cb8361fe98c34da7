import type { AuditEventAgent, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { canActForPractice, canSeeMunicipality, type Principal } from '../../access/principal';
import { organisationAgent } from '../../audit/audit-events';
import type { PipelineContext } from '../../event/context';
import {
  getSealedEvents,
  listReferralFeedback,
  tryGetFeedback,
  tryGetSealedEvent,
  type FeedbackRow,
} from '../../event/event-store';
import {
  assertOnePractice,
  feedbackTaskOf,
  findReferrals,
  isOnItsWayTo,
  mayReadStatusesOf,
  newestOfEachReferral,
} from '../../event/feedback';
import { tryGetPatientBsn } from '../../event/stored-event';
import { isUuid } from '../../kernel/fhir/ids';
import { decodePageToken, encodePageToken, tokenMoment } from '../fhir-search/page-token';
import { dateCondition, parseDateFilter } from '../fhir-search/date-filter';
import { and, or, SqlParams } from '../../kernel/sql-params';
import { EXACT_TIME, exactTimeSql } from '../time-id-page';
import { ALL } from '../../access/principal';
import { alternativesOf, failParameter, parameterOf, type FhirSearch } from '../fhir-search/parse-search';
import { tagConditions, type ServedTags } from '../fhir-search/tag-filter';
import type {
  FhirResourceProvider,
  ReadResult,
  ResourceSearchSpec,
  SearchPage,
} from '../fhir-search/resource-provider';

/**
 * `/fhir/Task`: the statuses municipalities sent on referrals (`POST /fhir/Task` or the status route), each the Task
 * jeugdbrug stored and sent on to the practice. Read by id, and searched by the referral (`focus`), whose Tasks are
 * its status history. Who sees them is who sees the referral's statuses: a municipality those of referrals delivered
 * to it (as `GET /municipality/v1/referrals/{identifier}/status`), a practice, its auditors and operators those of
 * the practice's own referrals (as `GET /his/v1/events/{id}` shows them).
 */
export const TASK_SEARCH: ResourceSearchSpec = {
  resourceType: 'Task',
  documentation:
    'Referral statuses the municipalities sent, each the Task stored and sent on to the practice (never changed ' +
    'once stored). A search names one referral by focus and returns its status history, oldest first; a ' +
    'municipality sees the Tasks of referrals delivered to it, a practice (and its auditors and operators) those of ' +
    'its own referrals. A referral the caller may not see gives an empty searchset, as an unknown one. Without ' +
    'focus, _lastUpdated lists the statuses stored on all the referrals of the practices the key names (a ' +
    'practice’s, or an auditor’s or operator’s naming its practices, reasons masked as in any read; a municipality ' +
    'follows its referrals with the ServiceRequest search), for a HIS catching up on missed pushes. A municipality ' +
    'finds the Tasks it sent by its own Task.identifier (identifier, as If-None-Exist on the create matches it).',
  params: [
    {
      code: '_lastUpdated',
      documentation:
        'when the Task was stored (meta.lastUpdated), with prefix ge, gt, le or lt (or eq); may be repeated; ' +
        'without focus: every Task of the practice’s own referrals in that time',
    },
    {
      code: 'focus',
      modifiers: ['identifier'],
      documentation:
        'the referral, one per search: ServiceRequest/<id> (jeugdbrug’s ServiceRequest id, the webhook’s focus ' +
        'URL, or a FHIR HIS’s own ServiceRequest id); with :identifier the ServiceRequest identifier received or ' +
        'sent, <system>|<value> (or <value> alone, resource-id|<id> too): a FHIR HIS’s own identifier as well',
    },
    {
      code: 'identifier',
      documentation:
        'municipality keys: the Tasks it sent carrying this identifier of its own (Task.identifier, as ' +
        'If-None-Exist on the create matches it): <system>|<value>, <value> alone (any system), or <system>| (any ' +
        'value of the system); commas for more than one; not with focus',
    },
    {
      code: '_tag',
      modifiers: ['not'],
      documentation:
        'a tag the Task carries (meta.tag), <system>|<code>, <code> or <system>|, commas for more than one; :not ' +
        'for those that carry none of them. The Tasks stored carry no tags: _tag matches none, _tag:not every one. ' +
        'Beside focus, identifier or _lastUpdated',
    },
  ],
  sorts: ['_lastUpdated'],
  conflict:
    'focus:identifier is a bare value that more than one practice sent: the OperationOutcome (at focus:identifier) ' +
    'names each referral as system|value, to search by instead',
};

/** Keyset of a page of a search by `_lastUpdated` alone: after (or before) this (time stored exactly, id). */
const sinceCursorSchema = z.object({ d: z.enum(['n', 'p']), a: EXACT_TIME, i: z.uuid() }).strict();
type SinceCursor = z.infer<typeof sinceCursorSchema>;

/** A plain `focus`: a reference to the ServiceRequest (relative, the webhook's absolute one), or its bare id. */
const SERVICE_REQUEST_REFERENCE = /^(?:(?:.*\/)?ServiceRequest\/)?[A-Za-z0-9\-.]{1,64}$/;

/** Keyset of a page: after (or, going back, before) this (time stored, id). */
const cursorSchema = z.object({ d: z.enum(['n', 'p']), t: tokenMoment(), i: z.uuid() }).strict();
type Cursor = z.infer<typeof cursorSchema>;

/**
 * The Task as served: as stored (and as the create answered it, and the practice received it), with the moment it
 * was stored as `meta.lastUpdated`; its free-text reason only for those who may read it (`statusTaskShownTo`).
 */
export function servedTask(ctx: Pick<PipelineContext, 'cipher'>, principal: Principal, f: FeedbackRow): Task {
  const task = statusTaskShownTo(ctx, principal, f);
  return { ...task, meta: { ...task.meta, lastUpdated: new Date(f.created_at).toISOString() } };
}

/**
 * Whether the principal reads a status update's free-text reason (Task.statusReason.text, which may name the child):
 * the municipality that wrote it and the practice it is for, who need it. Not auditors and operators: like a payload
 * or a receiver's answer, they see that there is one, not what it says.
 */
export function mayReadStatusReason(principal: Principal, f: Pick<FeedbackRow, 'municipality' | 'tenant'>): boolean {
  switch (principal.role) {
    case 'municipality':
      return canSeeMunicipality(principal, f.municipality);
    case 'practice':
      return canActForPractice(principal, f.tenant);
    case 'auditor':
    case 'operator':
      return false;
  }
}

/** FHIR's way to say a value is left out for privacy: data-absent-reason `masked`, on the primitive's `_text`. */
const MASKED_TEXT = Object.freeze({
  extension: [
    Object.freeze({ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }),
  ],
});

/**
 * A status update's Task as the principal is shown it: as the municipality sent it (`feedbackTaskOf`, the reason
 * decrypted) to those who may read the reason, else with the reason's text left out and marked `masked`, its codes
 * kept. The reason is not decrypted for them.
 */
export function statusTaskShownTo(ctx: Pick<PipelineContext, 'cipher'>, principal: Principal, f: FeedbackRow): Task {
  if (mayReadStatusReason(principal, f)) {
    return feedbackTaskOf(ctx, f);
  }
  // A text an older release stored inside the Task is there in clear; a sealed one is beside it.
  const { text, ...codes } = f.task.statusReason ?? {};
  if (text === undefined && !f.reason_sealed) {
    return f.task;
  }
  return { ...f.task, statusReason: { ...codes, _text: MASKED_TEXT } as Task['statusReason'] };
}

/** The municipalities that sent the Tasks: organisations whose data a read of them is, besides the practice's. */
function sendersOf(tasks: readonly FeedbackRow[]): AuditEventAgent[] {
  return [...new Set(tasks.map((f) => f.municipality))].map((m) => organisationAgent('destination', 'municipality', m));
}

/**
 * The referral a search names, as `findReferrals` takes it, and the parameter that named it (`focus:identifier`); a
 * 400 naming `focus` without exactly one.
 */
function referralKeyOf(search: FhirSearch): { key: string; parameter: string } {
  const [focus, ...more] = search.filters.filter((f) => f.code === 'focus');
  if (!focus) {
    failParameter(
      'focus: the referral whose Tasks to find (focus:identifier=<system>|<value>); a practice may search by ' +
        '_lastUpdated alone instead',
      'focus',
    );
  }
  const name = parameterOf(TASK_SEARCH, focus);
  const values = alternativesOf(focus);
  const [value] = values;
  if (more.length > 0 || values.length !== 1 || value === undefined) {
    failParameter(`${name}: one referral per search`, name);
  }
  if (focus.operator === 'identifier' && value.endsWith('|')) {
    failParameter(
      `${name}: a value is required after '|': one referral per search (GET /fhir/ServiceRequest?identifier=` +
        '<system>| lists every referral of the system)',
      name,
    );
  }
  if (focus.operator !== 'identifier' && !SERVICE_REQUEST_REFERENCE.test(value)) {
    failParameter(
      'focus: ServiceRequest/<id> or the webhook’s focus; the identifier received goes in focus:identifier',
      name,
    );
  }
  return { key: value, parameter: name };
}

/** (time stored, id), as the keyset compares them. */
function compareToCursor(f: FeedbackRow, c: Pick<Cursor, 't' | 'i'>): number {
  const t = new Date(f.created_at).toISOString();
  return t === c.t ? f.id.localeCompare(c.i) : t < c.t ? -1 : 1;
}

/**
 * The Tasks of the referral a search names (`findReferrals`: anything the municipality received that names it, the
 * practice's referral id and a FHIR HIS's own identifier and ServiceRequest id too), when the caller may read its
 * statuses; a page of them in (time stored, id) order.
 * A referral only of others is no match, and is `refused`, for the refusal to be recorded in its practice's chain. A
 * bare value that names the readable referrals of two practices is a 409 naming the parameter.
 */
export async function searchTasks(
  ctx: PipelineContext,
  principal: Principal,
  search: FhirSearch,
): Promise<SearchPage<Task>> {
  const focused = search.filters.some((f) => f.code === 'focus');
  if (search.filters.some((f) => f.code === 'identifier')) {
    if (focused) {
      failParameter('identifier: finds the Tasks you sent by their own identifier; not with focus', 'identifier');
    }
    return searchTasksStored(ctx, principal, search, ownTasksIdentified(principal, search));
  }
  if (!focused && search.filters.some((f) => f.code === '_lastUpdated')) {
    return searchTasksStored(ctx, principal, search, practicesTasks(principal));
  }
  const { key, parameter } = referralKeyOf(search);
  const referrals = await findReferrals(ctx, key, principal);
  const readable = referrals.filter((r) => mayReadStatusesOf(principal, r));
  // A bare value two practices' referrals share names neither: 409, as the status routes answer it.
  assertOnePractice(readable, parameter);
  const events = newestOfEachReferral(readable);
  if (events.length === 0) {
    // A referral still on its way to the caller's municipality is its own (the status route answers 409): no match,
    // but no refusal either. Any other is another party's, its refusal recorded.
    const onItsWay = referrals.some((r) => isOnItsWayTo(principal, r));
    return { resources: [], total: 0, tenants: [], refused: onItsWay ? [] : newestOfEachReferral(referrals) };
  }
  const byId = new Map<string, FeedbackRow>();
  for (const rows of await Promise.all(events.map((e) => listReferralFeedback(ctx.db, e.id)))) {
    rows.forEach((f) => byId.set(f.id, f));
  }
  if (search.filters.some((f) => f.code === '_lastUpdated' || f.code === '_tag')) {
    const q = new SqlParams();
    const ids = q.add([...byId.keys()], 'uuid[]');
    const within = await ctx.db.query<{ id: string }>(
      `SELECT id FROM feedback WHERE id = ANY(${ids}) AND ${storedMatching(search, q)}`,
      q.values,
    );
    const kept = new Set(within.map((r) => r.id));
    [...byId.keys()].filter((id) => !kept.has(id)).forEach((id) => byId.delete(id));
  }
  const descending = search.sort?.descending ?? false;
  const ordered = [...byId.values()].sort(
    (a, b) => (descending ? -1 : 1) * compareToCursor(a, { t: new Date(b.created_at).toISOString(), i: b.id }),
  );
  const cursor = search.page === undefined ? undefined : decodePageToken(search.page, cursorSchema);
  const firstAfter = (c: Cursor, orEqual: boolean): number => {
    const at = ordered.findIndex((f) => {
      const order = (descending ? -1 : 1) * compareToCursor(f, c);
      return orEqual ? order >= 0 : order > 0;
    });
    return at < 0 ? ordered.length : at;
  };
  let start = 0;
  let end = search.count;
  if (cursor?.d === 'n') {
    start = firstAfter(cursor, false);
    end = start + search.count;
  } else if (cursor?.d === 'p') {
    end = firstAfter(cursor, true);
    start = Math.max(0, end - search.count);
  }
  const page = ordered.slice(start, end);
  const tokenAt = (f: FeedbackRow | undefined, d: Cursor['d']): string | undefined =>
    f ? encodePageToken({ d, t: new Date(f.created_at).toISOString(), i: f.id } satisfies Cursor) : undefined;
  const children = new Set(events.map((e) => tryGetPatientBsn(ctx, e)));
  const [child] = children;
  return {
    resources: page.map((f) => servedTask(ctx, principal, f)),
    total: search.total === 'none' && search.count > 0 ? undefined : ordered.length,
    next: end < ordered.length ? tokenAt(page.at(-1), 'n') : undefined,
    previous: start > 0 ? tokenAt(page[0], 'p') : undefined,
    tenants: events.map((e) => e.tenant),
    patientBsn: children.size === 1 ? child : undefined,
    related: events.map((e) => `inbox/${e.id}`),
    extraAgents: sendersOf(page),
  };
}

/**
 * The tags a served Task carries, as a condition on its `feedback` row: none. jeugdbrug builds each Task it stores
 * (`toFeedbackTask`, without `meta`; a municipality's own `meta` is not kept) and serves it with `meta.lastUpdated`
 * only.
 */
const SERVED_TASK_TAGS: readonly ServedTags[] = [{ tags: [], sql: 'TRUE' }];

/**
 * The search's `_lastUpdated` filters as SQL over `feedback.created_at` (when the Task was stored), and its `_tag`
 * filters over the tags the Task is served with.
 */
function storedMatching(search: FhirSearch, q: SqlParams): string {
  return and([
    ...search.filters
      .filter((f) => f.code === '_lastUpdated')
      .map((f) => dateCondition('created_at', parseDateFilter(`${f.operator}${f.value.trim()}`, f.code), q)),
    ...tagConditions('Task', search, SERVED_TASK_TAGS),
  ]);
}

/** Which stored Tasks (`feedback` rows) a search without `focus` reads, as SQL; its values go into `q`. */
type TasksScope = (q: SqlParams) => string;

/**
 * `_lastUpdated` without `focus`: the Tasks of the referrals of the caller's own practices. Bounded by the practices
 * named in the caller's scope (the index `feedback_tenant_created`, migration 083), so a practice's key, or an
 * auditor's or operator's that names its practices, is served. A municipality (which follows its referrals with the
 * ServiceRequest search) and a scope of every practice are a 400: they must name a referral by `focus`.
 */
function practicesTasks(principal: Principal): TasksScope {
  if (principal.role === 'municipality' || principal.practices.includes(ALL)) {
    failParameter(
      'focus: the referral whose Tasks to find; _lastUpdated without focus lists the Tasks of the practices a ' +
        'practice’s key names (a municipality follows its referrals with GET /fhir/ServiceRequest?_lastUpdated)',
      'focus',
    );
  }
  return (q) => `tenant = ANY(${q.add(principal.practices, 'text[]')})`;
}

/**
 * `identifier`: the Tasks the caller's municipalities sent that carry one of the identifiers named, as
 * `If-None-Exist` on the create matches them (`findOwnTasks`: containment in `task->'identifier'`, index 042); a
 * token `system|` is any value of that system, as a FHIR token search has it. The municipality's own identifiers:
 * other roles are a 400 (they find Tasks by the referral, `focus`).
 */
function ownTasksIdentified(principal: Principal, search: FhirSearch): TasksScope {
  if (principal.role !== 'municipality') {
    failParameter(
      'identifier: a municipality finds the Tasks it sent by its own identifier; search by focus',
      'identifier',
    );
  }
  const tokens = search.filters
    .filter((f) => f.code === 'identifier')
    .map((f) => alternativesOf(f).map(taskIdentifierOf));
  return (q) => {
    const municipalities = q.add(principal.municipalities, 'text[]');
    return and([
      `('*' = ANY(${municipalities}) OR municipality = ANY(${municipalities}))`,
      ...tokens.map((any) => or(any.map((i) => `(task->'identifier') @> ${q.add(JSON.stringify([i]), 'jsonb')}`))),
    ]);
  };
}

/** A token `system|value`, `value` or `system|` as the identifier it contains (`@>`): the parts given. */
function taskIdentifierOf(token: string): { system?: string; value?: string } {
  const bar = token.indexOf('|');
  if (bar < 0) {
    return { value: token };
  }
  const system = token.slice(0, bar);
  const value = token.slice(bar + 1);
  if (system === '' && value === '') {
    failParameter("identifier: a system, a value or both around '|'", 'identifier');
  }
  return { ...(system ? { system } : {}), ...(value ? { value } : {}) };
}

/**
 * A search without `focus`: every Task in `scope` stored in the time `_lastUpdated` names (any time without it), a
 * page in (time stored, id) order: for a HIS that missed a push to catch up with one search (`practicesTasks`), or a
 * municipality looking for the Tasks it sent (`ownTasksIdentified`).
 */
async function searchTasksStored(
  ctx: PipelineContext,
  principal: Principal,
  search: FhirSearch,
  scope: TasksScope,
): Promise<SearchPage<Task>> {
  const cursor = search.page === undefined ? undefined : decodePageToken(search.page, sinceCursorSchema);
  const backwards = cursor?.d === 'p';
  const ascending = (search.sort?.descending ?? false) === backwards;
  const dir = ascending ? 'ASC' : 'DESC';
  const matching = (q: SqlParams) => `${scope(q)} AND ${storedMatching(search, q)}`;
  const q = new SqlParams();
  const where = matching(q);
  const keyset = cursor
    ? `(created_at, id) ${ascending ? '>' : '<'} (${q.add(cursor.a, 'timestamptz')}, ${q.add(cursor.i, 'uuid')})`
    : 'TRUE';
  const c = new SqlParams();
  const [read, counted] = await Promise.all([
    search.count === 0
      ? Promise.resolve([])
      : ctx.db.query<FeedbackRow & { page_key: string }>(
          `SELECT *, ${exactTimeSql('created_at')} AS page_key FROM feedback WHERE ${where} AND ${keyset}
           ORDER BY created_at ${dir}, id ${dir} LIMIT ${q.add(search.count + 1, 'int')}`,
          q.values,
        ),
    search.total === 'none' && search.count > 0
      ? Promise.resolve(undefined)
      : ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM feedback WHERE ${matching(c)}`, c.values),
  ]);
  const more = read.length > search.count;
  const page = read.slice(0, search.count);
  if (backwards) {
    page.reverse();
  }
  const tokenAt = (f: (typeof page)[number] | undefined, d: SinceCursor['d']): string | undefined =>
    f ? encodePageToken({ d, a: f.page_key, i: f.id } satisfies SinceCursor) : undefined;
  const events = await getSealedEvents(ctx.db, [...new Set(page.map((f) => f.inbox_id))]);
  const children = new Set(events.map((e) => tryGetPatientBsn(ctx, e)));
  const [child] = children;
  return {
    resources: page.map((f) => servedTask(ctx, principal, f)),
    total: counted?.[0]?.n,
    next: (backwards ? true : more) ? tokenAt(page.at(-1), 'n') : undefined,
    previous: (backwards ? more : cursor !== undefined) ? tokenAt(page[0], 'p') : undefined,
    tenants: [...new Set(page.map((f) => f.tenant))],
    patientBsn: children.size === 1 ? child : undefined,
    related: events.map((e) => `inbox/${e.id}`),
    extraAgents: sendersOf(page),
  };
}

/** One Task by id, whether or not the caller may read its referral's statuses (`mayReadStatusesOf`). */
async function readTask(ctx: PipelineContext, principal: Principal, id: string): Promise<ReadResult<Task> | undefined> {
  const f = await tryGetFeedback(ctx.db, id);
  if (!f) {
    return undefined;
  }
  const referrals = await findReferrals(ctx, f.inbox_id);
  const event = await tryGetSealedEvent(ctx.db, f.inbox_id);
  return {
    resource: servedTask(ctx, principal, f),
    tenant: f.tenant,
    patientBsn: event ? tryGetPatientBsn(ctx, event) : undefined,
    inScope: referrals.some((r) => mayReadStatusesOf(principal, r)),
    related: [`inbox/${f.inbox_id}`],
    extraAgents: sendersOf([f]),
  };
}

/** `/fhir/Task` on the shared search machinery (the create is `fhirTaskRoute`). */
export function taskProvider(ctx: PipelineContext): FhirResourceProvider<Task> {
  return {
    spec: TASK_SEARCH,
    // A stored Task is never changed: like an AuditEvent it has no versions, its ETag a hash of the answer.
    versioning: 'no-version',
    isId: isUuid,
    assertMayRead() {
      // Every role reads the statuses within its scope (`mayReadStatusesOf`); the scope decides, per referral.
    },
    search: (principal, search) => searchTasks(ctx, principal, search),
    tryRead: (principal, id) => readTask(ctx, principal, id),
  };
}
