import type { AuditEventAgent, ServiceRequest } from '@medplum/fhirtypes';
import { z } from 'zod';
import { assertRole, type Principal } from '../../access/principal';
import { organisationAgent } from '../../audit/audit-events';
import type { PipelineContext } from '../../event/context';
import { getSealedEvents } from '../../event/event-store';
import { tryReferralIdentityOf, type ReferralIdentity } from '../../event/feedback';
import { isUuid } from '../../kernel/fhir/ids';
import { agbIdentifier } from '../../kernel/fhir/identifiers';
import { CONSENT_WITHDRAWN_TAG } from '../../kernel/fhir/systems';
import { and, or, SqlParams } from '../../kernel/sql-params';
import { RESOURCE_ID_SYSTEM } from '../../../mappings/municipality/shared/resource-identifier';
import { dateCondition, parseDateFilter } from '../fhir-search/date-filter';
import { decodePageToken, encodePageToken } from '../fhir-search/page-token';
import { alternativesOf, failParameter, type FhirSearch } from '../fhir-search/parse-search';
import { tagConditions, type ServedTags } from '../fhir-search/tag-filter';
import type {
  FhirResourceProvider,
  ReadResult,
  ResourceSearchSpec,
  SearchPage,
} from '../fhir-search/resource-provider';
import { receivingDestinationsOf } from '../referral-timeline/received-referrals';
import { EXACT_TIME, exactTimeSql } from '../time-id-page';
import {
  receivedSql,
  refreshReceivedServiceRequests,
  servedOnceSql,
  servedRankSql,
  STATUSES,
} from './received-service-requests';

/**
 * `/fhir/ServiceRequest`: the referrals a municipality received, the same ones its console's list of received
 * referrals shows (`listReceivedReferrals`: delivered once to one of its destinations), each once, however often
 * the practice corrected it. Served as a summary of what it received (identifiers, status, child's and practice's
 * ids), never the referral's text: a list of many children is no place for it, and the municipality has it already.
 */
export const SERVICE_REQUEST_SEARCH: ResourceSearchSpec = {
  resourceType: 'ServiceRequest',
  documentation:
    'The referrals delivered to the calling municipality (municipality keys only), each once: its identifiers (the ' +
    'practice’s referral id, jeugdbrug’s resource-id), status, the child (Patient/<id> as received), the practice ' +
    '(requester: the referrer’s AGB as delivered) and authoredOn; meta.lastUpdated is its last change: its delivery, ' +
    'a status you sent, the practice’s cancellation reaching you, or a withdrawal notice made for it (meta.tag ' +
    'consent-withdrawn: the consent no longer covers what you received). Oldest change first (_sort=-_lastUpdated: ' +
    'newest). _total: estimate (the default) counts up to 10,000 and leaves it out beyond, accurate counts every ' +
    'match, none leaves it out. No _include: the child’s details are in the delivery you received.',
  params: [
    { code: '_lastUpdated', documentation: 'the last change, with prefix ge, gt, le, lt or eq; may be repeated' },
    {
      code: 'status',
      documentation:
        'active (received, no end yet), revoked (you rejected it or the practice cancelled it), completed (care ' +
        'ended or closed); commas for more than one',
    },
    {
      code: 'identifier',
      documentation:
        'the identifier received: <system>|<value>, <value> alone, <system>| (every referral of the system), or ' +
        'resource-id|<id>; commas for more than one',
    },
    {
      code: '_tag',
      modifiers: ['not'],
      documentation:
        `a tag it carries (meta.tag): ${CONSENT_WITHDRAWN_TAG.system}|${CONSENT_WITHDRAWN_TAG.code} (a withdrawal ` +
        'notice was made for what you received), as <system>|<code>, <code> or <system>|; commas for more than ' +
        'one; :not for those that carry none of them',
    },
  ],
  sorts: ['_lastUpdated'],
};

/** Keyset of a page: after (`n`) or, going back, before (`p`) this (last change, ServiceRequest id). */
const cursorSchema = z.object({ d: z.enum(['n', 'p']), t: EXACT_TIME, i: z.uuid() }).strict();
type Cursor = z.infer<typeof cursorSchema>;

interface Row {
  id: string;
  inboxId: string;
  practice: string;
  system: string;
  value: string;
  patientId: string | null;
  status: Status;
  /** When a withdrawal notice was made for the version served (its delivery's disclosure); null while none was. */
  consentWithdrawnAt: Date | null;
  lastUpdated: Date;
  pageKey: string;
}

type Status = (typeof STATUSES)[number];

/** The search's filters but `identifier`: the statuses asked for, and conditions on the last change and the tags. */
interface Filtered {
  /** Every status unless `status` narrows them (each `status` parameter given must hold). */
  readonly statuses: readonly Status[];
  /** The `_lastUpdated` and `_tag` conditions on the row given. */
  readonly conditions: readonly string[];
}

/**
 * The tags a served ServiceRequest carries (`servedServiceRequest`), each set with its condition on a row `s` of
 * `receivedSql`'s columns: `consent-withdrawn` once a withdrawal notice was made for it, else none.
 */
const servedTagsOf = (s: string): ServedTags[] => [
  { tags: [], sql: `${s}."consentWithdrawnAt" IS NULL` },
  { tags: [CONSENT_WITHDRAWN_TAG], sql: `${s}."consentWithdrawnAt" IS NOT NULL` },
];

/** The search's filters but `identifier`'s, on a row `s` of `receivedSql`'s columns; a 400 naming a value it cannot take. */
function filteredOf(search: FhirSearch, s: string, q: SqlParams): Filtered {
  let statuses: readonly Status[] = STATUSES;
  const conditions = tagConditions('ServiceRequest', search, servedTagsOf(s));
  for (const f of search.filters.filter((f) => f.code !== 'identifier' && f.code !== '_tag')) {
    const values = alternativesOf(f);
    if (f.code === '_lastUpdated') {
      conditions.push(dateCondition(`${s}.last_updated`, parseDateFilter(`${f.operator}${f.value.trim()}`, f.code), q));
      continue;
    }
    if (f.code !== 'status') {
      // A parameter declared in SERVICE_REQUEST_SEARCH.params without a condition here: a fault of this code, not
      // a status to check against STATUSES.
      throw new Error(`ServiceRequest search: no condition for the parameter ${f.code}`);
    }
    const unknown = values.find((v) => !(STATUSES as readonly string[]).includes(v));
    if (unknown !== undefined) {
      failParameter(`status: '${unknown}' is not one of ${STATUSES.join(', ')}`, 'status');
    }
    statuses = statuses.filter((s) => values.includes(s));
  }
  return { statuses, conditions };
}

/**
 * `identifier`'s conditions on each stored version of a referral, before `receivedSql` takes one per referral: its
 * identifiers (tenant, system and value; the ServiceRequest id is made of the tenant and the value) are the same in
 * every version, so a referral is found or not as a whole, and a read or a search by identifier reads the deliveries
 * of the referrals it names (by the indexes of `referral_identifier`), not all those of the municipality.
 */
function identifiedCondition(search: FhirSearch, q: SqlParams): string {
  return and(
    search.filters
      .filter((f) => f.code === 'identifier')
      .map((f) => or(alternativesOf(f).map((v) => identifierCondition(v, q)))),
  );
}

/**
 * `identifier=` on a `referral_identifier` row `r`: `system|value`, `|value` (no system), `value` (any system),
 * `system|` (any value of the system, as a FHIR token search has it: every referral of a practice), or
 * `resource-id|<id>`.
 */
function identifierCondition(token: string, q: SqlParams): string {
  const bar = token.indexOf('|');
  if (bar < 0) {
    return `r.value = ${q.add(token, 'text')}`;
  }
  const system = token.slice(0, bar);
  const value = token.slice(bar + 1);
  if (system === RESOURCE_ID_SYSTEM || system === 'resource-id') {
    return isUuid(value) ? `r.service_request_id = ${q.add(value, 'uuid')}` : 'FALSE';
  }
  if (system === '') {
    return 'FALSE';
  }
  const bySystem = `r.system = ${q.add(system, 'text')}`;
  return value === '' ? bySystem : `${bySystem} AND r.value = ${q.add(value, 'text')}`;
}

/** The ServiceRequest as served: what identifies the referral the municipality received, and its status now. */
function servedServiceRequest(row: Row, identity: ReferralIdentity | undefined): ServiceRequest {
  const authoredOn = identity?.authoredOn;
  return {
    resourceType: 'ServiceRequest',
    id: row.id,
    meta: {
      lastUpdated: new Date(row.lastUpdated).toISOString(),
      ...(row.consentWithdrawnAt ? { tag: [CONSENT_WITHDRAWN_TAG] } : {}),
    },
    identifier: [
      { system: row.system, value: row.value },
      { system: RESOURCE_ID_SYSTEM, value: row.id },
    ],
    status: row.status,
    intent: 'order',
    // The child as the municipality received it (Patient/<id>); the id is unknown only for referrals stored
    // before migration 024, whose child is then named by nothing here.
    subject: row.patientId ? { reference: `Patient/${row.patientId}` } : { display: 'child' },
    ...(authoredOn ? { authoredOn } : {}),
    // Who referred, as the delivery named them (build-service-request.ts: the professional, or the practice when the
    // HIS named nobody); the practice too for a referral whose content and kept identity hold no requester.
    requester: { identifier: identity?.requester ?? agbIdentifier(row.practice) },
  };
}

/** The municipalities the principal acts for, as agents of its reads (the console's list records them too). */
function municipalityAgents(principal: Principal): AuditEventAgent[] {
  return principal.municipalities
    .filter((m) => m !== '*')
    .map((m) => organisationAgent('destination', 'municipality', m));
}

/** The rows as a page: resources, and what the read touched for its AuditEvent. */
async function pageOf(
  ctx: PipelineContext,
  principal: Principal,
  rows: readonly Row[],
): Promise<Pick<SearchPage<ServiceRequest>, 'resources' | 'tenants' | 'patientBsn' | 'related' | 'extraAgents'>> {
  const events = new Map(
    (
      await getSealedEvents(
        ctx.db,
        rows.map((r) => r.inboxId),
      )
    ).map((e) => [e.id, e]),
  );
  const identities = rows.map((r) => {
    const event = events.get(r.inboxId);
    return event ? tryReferralIdentityOf(ctx, event) : undefined;
  });
  const children = new Set(identities.map((i) => i?.patientBsn));
  const [child] = children;
  return {
    resources: rows.map((r, n) => servedServiceRequest(r, identities[n])),
    tenants: [...new Set(rows.map((r) => r.practice))],
    patientBsn: children.size === 1 ? child : undefined,
    related: rows.map((r) => `inbox/${r.inboxId}`),
    extraAgents: municipalityAgents(principal),
  };
}

/**
 * Totals are counted up to here unless `_total=accurate` asks for the exact number; beyond it `total` is left out.
 * Counting reads an index entry per match, so a municipality with many referrals does not pay for all of them on
 * every page.
 */
const TOTAL_CAP = 10_000;

/**
 * The received referrals at `destinations` that match the search's filters, as SQL (rows `s` of `receivedSql`'s
 * columns); for a `page`, those after its keyset. When `identifier` names referrals (`namesReferrals`): computed by
 * `receivedSql` for those (read through the indexes of `referral_identifier`, always as they are now). Otherwise,
 * also for `identifier=<system>|` (every referral of a practice, which no index of `referral_identifier` finds but by
 * reading it whole), alone or beside values in one parameter: read from `received_service_request` (brought up to
 * date by the caller), one range of its index
 * for each destination and status, so a page reads the rows it shows (at most its size from each range, less what a
 * system leaves out) and a count the index entries of the matches, not every referral rebuilt. A referral received at
 * more than one of the destinations is served once, by its latest change, either way.
 */
function matchingSql(
  destinations: readonly string[],
  search: FhirSearch,
  q: SqlParams,
  page?: { readonly keyset: string | undefined; readonly dir: 'ASC' | 'DESC'; readonly limit: string },
): string {
  const after = page?.keyset ?? 'TRUE';
  const { statuses, conditions } = filteredOf(search, 's', q);
  if (namesReferrals(search)) {
    const base = receivedSql(`d.destination = ANY(${q.add(destinations, 'text[]')})`, identifiedCondition(search, q));
    // One row per referral: the first by `servedRankSql`, as the table's rows are served (`servedOnceSql`).
    return `SELECT * FROM (SELECT DISTINCT ON (practice, system, value) * FROM (${base}) b
        ORDER BY practice, system, value, ${servedRankSql('b', 'b')} DESC) s
      WHERE ${and([`s.status = ANY(${q.add(statuses, 'text[]')})`, ...conditions, after])}`;
  }
  const servedOnce = destinations.length > 1 ? [servedOnceSql('s', q.add(destinations, 'text[]'))] : [];
  // `identifier=<system>|` on the table's own columns (`r`, as on `referral_identifier`).
  const identified = identifiedCondition(search, q);
  // Each range read in the page's order and cut at its size, whatever the planner thinks of the table's statistics:
  // the page is taken from at most (ranges × size) rows.
  const range = (where: readonly string[]): string =>
    `(SELECT * FROM (SELECT destination, service_request_id AS id, inbox_id AS "inboxId", tenant AS practice, system,
         value, patient_id AS "patientId", status, consent_withdrawn_at AS "consentWithdrawnAt", last_updated
         FROM received_service_request r WHERE ${identified}) s
       WHERE ${and([...where, ...conditions, after, ...servedOnce])}
       ${page ? `ORDER BY s.last_updated ${page.dir}, s.id ${page.dir} LIMIT ${page.limit}` : ''})`;
  const ranges = destinations.flatMap((destination) => {
    const at = q.add(destination, 'text');
    return statuses.map((status) => range([`s.destination = ${at}`, `s.status = ${q.add(status, 'text')}`]));
  });
  return `SELECT * FROM (${ranges.length > 0 ? ranges.join(' UNION ALL ') : range(['FALSE'])}) s`;
}

/**
 * Whether an `identifier` parameter of the search names referrals, a value for each of its alternatives: then
 * `receivedSql` computes just those (any other `identifier` parameter only narrows them). Not when each names a
 * whole system (`system|`) in one of its alternatives, even beside values (`system|,system|value`): that is every
 * referral of the system, which the table serves by its index; nor without `identifier`.
 */
function namesReferrals(search: FhirSearch): boolean {
  return search.filters.some((f) => f.code === 'identifier' && alternativesOf(f).every((v) => !v.endsWith('|')));
}

/** A page of the referrals the principal's municipalities received, by (last change, id), with its neighbours. */
export async function searchServiceRequests(
  ctx: PipelineContext,
  principal: Principal,
  search: FhirSearch,
): Promise<SearchPage<ServiceRequest>> {
  const cursor = search.page === undefined ? undefined : decodePageToken(search.page, cursorSchema);
  const backwards = cursor?.d === 'p';
  // Forward in the sort's order, or back from a `previous` link (read the other way, then turned around).
  const ascending = (search.sort?.descending ?? false) === backwards;
  const dir = ascending ? 'ASC' : 'DESC';
  const destinations = receivingDestinationsOf(ctx, principal);
  if (!namesReferrals(search)) {
    // What changed since the last search, into the table the page is read from.
    await refreshReceivedServiceRequests(ctx.db);
  }
  const q = new SqlParams();
  const limit = q.add(search.count + 1, 'int');
  const keyset = cursor
    ? `(s.last_updated, s.id) ${ascending ? '>' : '<'} (${q.add(cursor.t, 'timestamptz')}, ${q.add(cursor.i, 'uuid')})`
    : undefined;
  const matching = matchingSql(destinations, search, q, { keyset, dir, limit });
  const c = new SqlParams();
  // `_total`: none leaves it out, estimate (the default) counts up to TOTAL_CAP, accurate counts every match.
  const capped = search.total !== 'accurate';
  const [read, counted] = await Promise.all([
    search.count === 0
      ? Promise.resolve([])
      : ctx.db.query<Row>(
          `SELECT s.*, s.last_updated AS "lastUpdated", ${exactTimeSql('s.last_updated')} AS "pageKey"
           FROM (${matching}) s
           ORDER BY s.last_updated ${dir}, s.id ${dir} LIMIT ${limit}`,
          q.values,
        ),
    search.total === 'none' && search.count > 0
      ? Promise.resolve(undefined)
      : ctx.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM (SELECT 1 FROM (${matchingSql(destinations, search, c)}) s
           ${capped ? `LIMIT ${TOTAL_CAP + 1}` : ''}) matches`,
          c.values,
        ),
  ]);
  const more = read.length > search.count;
  const rows = read.slice(0, search.count);
  if (backwards) {
    rows.reverse();
  }
  const tokenAt = (row: Row | undefined, d: Cursor['d']): string | undefined =>
    row ? encodePageToken({ d, t: row.pageKey, i: row.id } satisfies Cursor) : undefined;
  const total = counted?.[0]?.n;
  return {
    ...(await pageOf(ctx, principal, rows)),
    total: capped && total !== undefined && total > TOTAL_CAP ? undefined : total,
    next: (backwards ? true : more) ? tokenAt(rows.at(-1), 'n') : undefined,
    previous: (backwards ? more : cursor !== undefined) ? tokenAt(rows[0], 'p') : undefined,
  };
}

/**
 * One received referral by its ServiceRequest id. One the caller did not receive is found too, out of scope, for
 * the refusal to be recorded in its practice's chain with the child (then a 404, as for an unknown id).
 */
async function readServiceRequest(
  ctx: PipelineContext,
  principal: Principal,
  id: string,
): Promise<ReadResult<ServiceRequest> | undefined> {
  const q = new SqlParams();
  const byId: FhirSearch = { ...BY_ID, filters: [{ code: 'identifier', operator: 'eq', value: `resource-id|${id}` }] };
  const matching = matchingSql(receivingDestinationsOf(ctx, principal), byId, q);
  const [row] = await ctx.db.query<Row>(
    `SELECT s.*, s.last_updated AS "lastUpdated" FROM (${matching}) s LIMIT 1`,
    q.values,
  );
  if (row) {
    const page = await pageOf(ctx, principal, [row]);
    return { ...page, resource: page.resources[0]!, tenant: row.practice, inScope: true };
  }
  const [other] = await ctx.db.query<{ tenant: string; inbox_id: string }>(
    `SELECT tenant, inbox_id FROM referral_identifier WHERE service_request_id = $1::uuid LIMIT 1`,
    [id],
  );
  if (!other) {
    return undefined;
  }
  const [event] = await getSealedEvents(ctx.db, [other.inbox_id]);
  return {
    resource: { resourceType: 'ServiceRequest', id, status: 'unknown', intent: 'order', subject: {} },
    tenant: other.tenant,
    patientBsn: event && tryReferralIdentityOf(ctx, event)?.patientBsn,
    inScope: false,
    related: [`inbox/${other.inbox_id}`],
  };
}

/** The search of one id (`readServiceRequest`): no other filter, no paging. */
const BY_ID: FhirSearch = {
  resourceType: 'ServiceRequest',
  filters: [],
  count: 1,
  summaryCount: false,
  total: 'none',
  pretty: false,
  applied: new URLSearchParams(),
  ignored: [],
};

/** `/fhir/ServiceRequest` on the shared search machinery: a municipality's received referrals. */
export function serviceRequestProvider(ctx: PipelineContext): FhirResourceProvider<ServiceRequest> {
  return {
    spec: SERVICE_REQUEST_SEARCH,
    // Its status changes without a version kept: the ETag is a hash of the answer, Last-Modified its last change.
    versioning: 'no-version',
    isId: isUuid,
    assertMayRead(principal) {
      // What a municipality received; a practice has its own events (GET /his/v1/events/{id}).
      assertRole(principal, 'municipality');
    },
    search: (principal, search) => searchServiceRequests(ctx, principal, search),
    tryRead: (principal, id) => readServiceRequest(ctx, principal, id),
  };
}
