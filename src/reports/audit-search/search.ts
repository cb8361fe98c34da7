import type { AuditEvent, Extension } from '@medplum/fhirtypes';
import { consentReferencesSql, IDENTIFIER_SYSTEMS } from '../../audit/audit-events';
import { scopeCondition } from '../audit-scope';
import { and, or, SqlParams } from '../../kernel/sql-params';
import type { Principal } from '../../access/principal';
import type { Db } from '../../kernel/db';
import type { AuditSearch, PageCursor, ReferenceFilter, TokenFilter } from './search-params';
import { dateCondition } from '../fhir-search/date-filter';
import { exactTimeSql } from '../time-id-page';

/**
 * Totals are counted up to here; beyond it `total` is left out rather than making every page slow. Up to it, the page
 * is taken from all the rows that match.
 */
const TOTAL_CAP = 10_000;

/** Where an AuditEvent sits in its chain, added to what the API serves so an auditor can find it in an export. */
const CHAIN_EXTENSION_URL = 'https://jeugdbrug.nl/fhir/StructureDefinition/audit-chain';

export interface AuditRow {
  readonly tenant: string;
  readonly seq: number;
  readonly recorded_key: string;
  readonly patient_bsn: string | null;
  readonly resource: AuditEvent;
  readonly hash: string;
}

// The column holds the canonical text; cast here, where the event is served.
const ROW_COLUMNS = `tenant, seq::float8 AS seq, ${exactTimeSql('recorded')} AS recorded_key, patient_bsn, resource::json AS resource, hash`;

function tokenSql(column: 'type' | 'subtype', t: TokenFilter, q: SqlParams): string {
  const code = `${column} = ${q.add(t.code)}`;
  if (t.system === undefined) {
    return code;
  }
  if (t.system === null) {
    // `|code`: a coding with this code and no system. The type is one Coding, the subtype a list of them.
    return column === 'type'
      ? `${code} AND NOT (resource::json->'type')::jsonb ? 'system'`
      : `${code} AND EXISTS (SELECT 1 FROM jsonb_array_elements((resource::json->'subtype')::jsonb) AS c
           WHERE c->>'code' = ${q.add(t.code)} AND NOT c ? 'system')`;
  }
  // The column holds the code only; the system is checked on the resource itself.
  const coding = JSON.stringify(
    column === 'type' ? { system: t.system, code: t.code } : [{ system: t.system, code: t.code }],
  );
  // The column is the exact hashed text; containment needs jsonb, and is only asked of rows with that code.
  return `${code} AND (resource::json->'${column}')::jsonb @> ${q.add(coding, 'jsonb')}`;
}

/** `Consent/<id>` without a version: a search by it also finds the rows that cite a version of it. */
const UNVERSIONED_CONSENT = /^Consent\/([A-Za-z0-9\-.]{1,64})$/;

function referenceSql(column: 'agents' | 'entities', r: ReferenceFilter, q: SqlParams): string {
  const consentId = r.kind === 'exact' && column === 'entities' ? UNVERSIONED_CONSENT.exec(r.token)?.[1] : undefined;
  if (consentId !== undefined) {
    // Decisions and disclosures cite the version they read (`Consent/<id>/_history/<v>`, migration 087): the
    // reference as it was cited before, or any version the registry has kept, each an exact token the index finds.
    return `${column} && ${consentReferencesSql(q.add(consentId, 'text'))}`;
  }
  if (r.kind === 'exact') {
    return `${column} @> ${q.add([r.token], 'text[]')}`;
  }
  // A bare value matches an identifier of any system: a token of each system the column's identifiers have, which
  // the column's index finds.
  return `${column} && ${q.add(
    IDENTIFIER_SYSTEMS[column].map((system) => `${system}|${r.value}`),
    'text[]',
  )}`;
}

/** The WHERE clause of a search: the caller's scope, the filters, and the moment the first page was asked. */
function whereOf(s: AuditSearch, principal: Principal, asOf: string, q: SqlParams): string {
  return and([
    scopeCondition(principal, q),
    `recorded <= ${q.add(asOf, 'timestamptz')}`,
    ...s.ids.map((ids) => `id = ANY(${q.add(ids, 'uuid[]')})`),
    ...s.patients.map((bsns) => `patient_bsn = ANY(${q.add(bsns, 'text[]')})`),
    ...s.dates.map((d) => dateCondition('recorded', d, q)),
    ...s.types.map((ts) => or(ts.map((t) => tokenSql('type', t, q)))),
    ...s.subtypes.map((ts) => or(ts.map((t) => tokenSql('subtype', t, q)))),
    ...s.outcomes.map((os) => `outcome = ANY(${q.add(os, 'text[]')})`),
    ...s.agents.map((rs) => or(rs.map((r) => referenceSql('agents', r, q)))),
    ...s.entities.map((rs) => or(rs.map((r) => referenceSql('entities', r, q)))),
  ]);
}

export interface SearchPage {
  readonly rows: AuditRow[];
  readonly total?: number | undefined;
  readonly asOf: string;
  /** Cursors for the neighbouring pages, when there are any. */
  readonly next?: PageCursor | undefined;
  readonly previous?: PageCursor | undefined;
}

/**
 * One page of a search, in a stable order (recorded, tenant, seq), by keyset: a page starts after the last row of
 * the one before, so deep pages cost what the first does. Every page of one search is bounded by the moment its
 * first page was asked (`asOf`): the log grows while someone pages through it (each page read is itself audited),
 * and those new rows must not push later pages along forever.
 */
export async function searchAuditEvents(
  db: Db,
  principal: Principal,
  s: AuditSearch,
  now = new Date(),
): Promise<SearchPage> {
  const asOf = s.page?.asOf ?? now.toISOString();
  const q = new SqlParams();
  const where = whereOf(s, principal, asOf, q);
  const backwards = s.page?.direction === 'previous';
  // Going back reads the rows before the cursor in reverse, then turns them around.
  const descending = (s.sort === 'desc') !== backwards;
  const order = descending ? 'DESC' : 'ASC';
  let keyset = 'TRUE';
  if (s.page) {
    const key = `(${q.add(s.page.recorded, 'timestamptz')}, ${q.add(s.page.tenant)}, ${q.add(s.page.seq, 'bigint')})`;
    keyset = `(recorded, tenant, seq) ${descending ? '<' : '>'} ${key}`;
  }
  const total = await countOf(db, principal, s, asOf);
  let rows: AuditRow[] = [];
  let more = false;
  if (s.count > 0) {
    const limit = q.add(s.count + 1, 'int');
    rows = await db.query<AuditRow>(
      total !== undefined && total <= TOTAL_CAP
        ? // Few rows match: take them all through the filters' indexes, then sort. Asked for a page in date order,
          // PostgreSQL may read the trail in that order until the page is full, which for a value few rows hold
          // (an organisation seldom named) means reading all of it: 11 s among 1.6 million rows.
          `WITH hits AS MATERIALIZED (
             SELECT recorded AS r, tenant AS t, seq AS s FROM audit_event WHERE ${where} AND ${keyset}
           ), page AS (SELECT * FROM hits ORDER BY r ${order}, t ${order}, s ${order} LIMIT ${limit})
           SELECT ${ROW_COLUMNS} FROM page JOIN audit_event ON audit_event.tenant = page.t AND audit_event.seq = page.s
           ORDER BY page.r ${order}, page.t ${order}, page.s ${order}`
        : `SELECT ${ROW_COLUMNS} FROM audit_event WHERE ${where} AND ${keyset}
           ORDER BY recorded ${order}, tenant ${order}, seq ${order} LIMIT ${limit}`,
      q.values,
    );
    more = rows.length > s.count;
    rows = rows.slice(0, s.count);
    if (backwards) {
      rows.reverse();
    }
  }
  const cursorAt = (row: AuditRow | undefined, direction: PageCursor['direction']): PageCursor | undefined =>
    row ? { asOf, direction, recorded: row.recorded_key, tenant: row.tenant, seq: row.seq } : undefined;
  // Forward: more rows mean a next page; having come from a cursor means a previous one. Backward: the reverse.
  const hasNext = backwards ? true : more;
  const hasPrevious = backwards ? more : s.page !== undefined;
  return {
    rows,
    total,
    asOf,
    next: hasNext ? cursorAt(rows.at(-1), 'next') : undefined,
    previous: hasPrevious ? cursorAt(rows[0], 'previous') : undefined,
  };
}

async function countOf(db: Db, principal: Principal, s: AuditSearch, asOf: string): Promise<number | undefined> {
  if (s.total === 'none' && s.count > 0) {
    return undefined;
  }
  const q = new SqlParams();
  const where = whereOf(s, principal, asOf, q);
  const capped = s.total !== 'accurate' && s.count > 0;
  const [row] = await db.query<{ n: number }>(
    capped
      ? `SELECT count(*)::int AS n FROM (SELECT 1 FROM audit_event WHERE ${where} LIMIT ${TOTAL_CAP + 1}) capped`
      : `SELECT count(*)::int AS n FROM audit_event WHERE ${where}`,
    q.values,
  );
  const n = row?.n ?? 0;
  return capped && n > TOTAL_CAP ? undefined : n;
}

/**
 * The AuditEvent as served: the stored resource plus where it sits in its chain, and `meta.lastUpdated`, its
 * recorded time: an AuditEvent is never changed once recorded (the table is append-only), so it has no versions.
 */
export function servedResource(row: Pick<AuditRow, 'tenant' | 'seq' | 'hash' | 'resource'>): AuditEvent {
  const chain: Extension = {
    url: CHAIN_EXTENSION_URL,
    extension: [
      { url: 'tenant', valueString: row.tenant },
      { url: 'seq', valueInteger: row.seq },
      { url: 'hash', valueString: row.hash },
    ],
  };
  return {
    ...row.resource,
    meta: { ...row.resource.meta, lastUpdated: row.resource.recorded },
    extension: [...(row.resource.extension ?? []), chain],
  };
}

/** One AuditEvent by id, whatever the caller's scope (the caller decides what to do with one out of scope). */
export async function tryGetAuditRow(
  db: Db,
  id: string,
  principal: Principal,
): Promise<{ row: AuditRow; inScope: boolean } | undefined> {
  const q = new SqlParams();
  const idParam = q.add(id, 'uuid');
  const scope = scopeCondition(principal, q);
  const [row] = await db.query<AuditRow & { in_scope: boolean }>(
    `SELECT ${ROW_COLUMNS}, (${scope}) AS in_scope FROM audit_event WHERE id = ${idParam}`,
    q.values,
  );
  if (!row) {
    return undefined;
  }
  const { in_scope, ...rest } = row;
  return { row: rest, inScope: in_scope };
}
