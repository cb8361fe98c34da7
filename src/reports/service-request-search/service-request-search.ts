import type { AuditEventAgent, ServiceRequest } from '@medplum/fhirtypes';
import { z } from 'zod';
import { assertRole, type Principal } from '../../access/principal';
import { organisationAgent } from '../../audit/audit-events';
import type { PipelineContext } from '../../event/context';
import {
  deliveredCancellationAtOf,
  getSealedEvents,
  referralEventsOf,
  withdrawalNoticeAtOf,
} from '../../event/event-store';
import { tryReferralIdentityOf, type ReferralIdentity } from '../../event/feedback';
import { isUuid } from '../../kernel/fhir/ids';
import { agbIdentifier } from '../../kernel/fhir/identifiers';
import { CONSENT_WITHDRAWN_TAG } from '../../kernel/fhir/systems';
import { and, or, SqlParams } from '../../kernel/sql-params';
import { REFERRAL_STATUSES } from '../../../mappings/practice/referral-status';
import { serviceRequestStatusOf } from '../../../mappings/practice/to-task';
import { RESOURCE_ID_SYSTEM } from '../../../mappings/municipality/shared/resource-identifier';
import { dateCondition, parseDateFilter } from '../fhir-search/date-filter';
import { decodePageToken, encodePageToken } from '../fhir-search/page-token';
import { alternativesOf, failParameter, type FhirSearch } from '../fhir-search/parse-search';
import type {
  FhirResourceProvider,
  ReadResult,
  ResourceSearchSpec,
  SearchPage,
} from '../fhir-search/resource-provider';
import { receivingDestinationsOf } from '../referral-timeline/received-referrals';
import { EXACT_TIME, exactTimeSql } from '../time-id-page';

/**
 * `/fhir/ServiceRequest`: the referrals a municipality received, the same ones its console's list of received
 * referrals shows (`listReceivedReferrals`: delivered once to one of its destinations), each once, however often
 * the practice corrected it. Served as a summary of what it received (identifiers, status, child's and practice's
 * ids), never the referral's text: a list of many children is no place for it, and the municipality has it already.
 */
const STATUSES = ['active', 'revoked', 'completed'] as const;

export const SERVICE_REQUEST_SEARCH: ResourceSearchSpec = {
  resourceType: 'ServiceRequest',
  documentation:
    'The referrals delivered to the calling municipality (municipality keys only), each once: its identifiers (the ' +
    'practice’s referral id, jeugdbrug’s resource-id), status, the child (Patient/<id> as received), the practice ' +
    '(requester: the referrer’s AGB as delivered) and authoredOn; meta.lastUpdated is its last change: its delivery, ' +
    'a status you sent, the practice’s cancellation reaching you, or a withdrawal notice made for it (meta.tag ' +
    'consent-withdrawn: the consent no longer covers what you received). Oldest change first (_sort=-_lastUpdated: newest). No _include: the child’s details ' +
    'are in the delivery you received.',
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
        'the identifier received: <system>|<value>, <value> alone, or resource-id|<id>; commas for more than one',
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
  status: (typeof STATUSES)[number];
  /** When a withdrawal notice was made for the version served (its delivery's disclosure); null while none was. */
  consentWithdrawnAt: Date | null;
  lastUpdated: Date;
  pageKey: string;
}

/** The product's ServiceRequest.status of each municipal status (the ConceptMap), as SQL over `status`. */
const STATUS_SQL = `CASE status ${REFERRAL_STATUSES.map((s) => `WHEN '${s}' THEN '${serviceRequestStatusOf(s)}'`).join(' ')}
  ELSE 'active' END`;

/**
 * Every referral delivered once to `destinations` (the practice's newest version of each, by when jeugdbrug received
 * it: a correction replaces it, a redelivery of an older version does not), with its last change and status: revoked
 * once the practice's cancellation reached a municipality, else what the newest status a municipality sent means for
 * it (`serviceRequestStatusOf`), active without one. A withdrawal notice made for the served version's delivery (the
 * child's consent withdrawn, recorded in error or met by an objection) is a change too: FHIR has no status for it, so
 * it is a tag (`servedServiceRequest`), and its time moves `last_updated`, for a municipality that catches up by
 * `_lastUpdated` (or whose format carries no notice) to find it.
 */
function receivedSql(destinations: string, identified: string): string {
  return `WITH received AS (
      SELECT DISTINCT ON (r.tenant, r.system, r.value) r.service_request_id AS id, i.id AS inbox_id,
        r.tenant, r.system, r.value, r.patient_id, d.delivered_at, d.id AS delivery_id
      FROM delivery d JOIN inbox i ON i.id = d.inbox_id JOIN referral_identifier r ON r.inbox_id = i.id
      WHERE d.first_delivered_at IS NOT NULL AND d.destination = ANY(${destinations})
        AND i.event_type = 'referral.created'
        AND r.service_request_id IS NOT NULL AND ${identified}
      ORDER BY r.tenant, r.system, r.value, i.received_at DESC, i.received_seq DESC, d.id DESC
    ), changed AS (
      SELECT x.*, ${deliveredCancellationAtOf('x.inbox_id')} AS cancelled_at, newest.status, newest.created_at AS status_at,
        ${withdrawalNoticeAtOf('x.delivery_id')} AS withdrawn_at
      FROM received x LEFT JOIN LATERAL (
        SELECT f.status, f.created_at FROM feedback f WHERE f.inbox_id IN ${referralEventsOf('x.inbox_id')}
        ORDER BY f.created_at DESC, f.id DESC LIMIT 1) newest ON TRUE
    )
    SELECT id, inbox_id AS "inboxId", tenant AS practice, system, value, patient_id AS "patientId",
      CASE WHEN cancelled_at IS NOT NULL THEN 'revoked' ELSE ${STATUS_SQL} END AS status,
      withdrawn_at AS "consentWithdrawnAt", greatest(delivered_at, cancelled_at, status_at, withdrawn_at) AS last_updated
    FROM changed`;
}

/**
 * The conditions of the search's filters on the rows of `receivedSql`, but `identifier`'s; a 400 naming a value it
 * cannot take.
 */
function conditionsOf(search: FhirSearch, q: SqlParams): string[] {
  return search.filters
    .filter((f) => f.code !== 'identifier')
    .map((f) => {
      const values = alternativesOf(f);
      if (f.code === '_lastUpdated') {
        return dateCondition('s.last_updated', parseDateFilter(`${f.operator}${f.value.trim()}`, f.code), q);
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
      return `s.status = ANY(${q.add(values, 'text[]')})`;
    });
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

/** The received referrals `principal` sees that match the search's filters, as SQL (rows `s`). */
function matchingSql(ctx: PipelineContext, principal: Principal, search: FhirSearch, q: SqlParams): string {
  const base = receivedSql(q.add(receivingDestinationsOf(ctx, principal), 'text[]'), identifiedCondition(search, q));
  return `SELECT * FROM (${base}) s WHERE ${and(conditionsOf(search, q))}`;
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
  const q = new SqlParams();
  const matching = matchingSql(ctx, principal, search, q);
  const keyset = cursor
    ? `(s.last_updated, s.id) ${ascending ? '>' : '<'} (${q.add(cursor.t, 'timestamptz')}, ${q.add(cursor.i, 'uuid')})`
    : 'TRUE';
  const c = new SqlParams();
  const [read, counted] = await Promise.all([
    search.count === 0
      ? Promise.resolve([])
      : ctx.db.query<Row>(
          `SELECT s.*, s.last_updated AS "lastUpdated", ${exactTimeSql('s.last_updated')} AS "pageKey"
           FROM (${matching}) s WHERE ${keyset}
           ORDER BY s.last_updated ${dir}, s.id ${dir} LIMIT ${q.add(search.count + 1, 'int')}`,
          q.values,
        ),
    search.total === 'none' && search.count > 0
      ? Promise.resolve(undefined)
      : ctx.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM (${matchingSql(ctx, principal, search, c)}) s`,
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
  return {
    ...(await pageOf(ctx, principal, rows)),
    total: counted?.[0]?.n,
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
  const [row] = await ctx.db.query<Row>(
    `SELECT s.*, s.last_updated AS "lastUpdated" FROM (${matchingSql(ctx, principal, byId, q)}) s LIMIT 1`,
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
