import type { Consent } from '@medplum/fhirtypes';
import { z } from 'zod';
import { and, or, SqlParams } from '../../kernel/sql-params';
import { BSN_SYSTEM, bsnIdentifier, isValidBsn } from '../../kernel/fhir/identifiers';
import { ALL, assertRole, CONSENT_READERS, type Principal } from '../../access/principal';
import type { Db } from '../../kernel/db';
import { dateCondition, parseDateFilter } from '../fhir-search/date-filter';
import { decodePageToken, encodePageToken, tokenMoment } from '../fhir-search/page-token';
import { exactTimeSql } from '../time-id-page';
import { alternativesOf, failParameter, parameterOf, type FhirSearch } from '../fhir-search/parse-search';
import type {
  FhirResourceProvider,
  ReadResult,
  ResourceSearchSpec,
  SearchPage,
  VersionHistory,
} from '../fhir-search/resource-provider';

/** What `GET /fhir/Consent` understands. */
export const CONSENT_SEARCH: ResourceSearchSpec = {
  resourceType: 'Consent',
  documentation:
    'The consent registry: consents and objections the practices recorded, within the caller’s practices. ' +
    'A withdrawn consent keeps its content with status inactive. Not for municipalities. Newest first by default.',
  params: [
    { code: '_id', documentation: 'Consent ids' },
    {
      code: 'patient',
      modifiers: ['identifier'],
      documentation: `the child: a BSN (<bsn>, ${BSN_SYSTEM}|<bsn>) or, without modifier, also Patient/<id>`,
    },
    { code: 'status', documentation: 'active, inactive (withdrawn), rejected, ...' },
    { code: 'date', documentation: 'Consent.dateTime; eq, ge, gt, le, lt; dates without time are Dutch days' },
  ],
  sorts: ['date'],
};

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const STATUSES = ['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'];
/** Consents without a dateTime sort as the oldest. */
const SORT_TIME = `COALESCE(date_time, '-infinity'::timestamptz)`;

/** Keyset of a page: after (or, going back, before) this (dateTime, id). */
const cursorSchema = z
  .object({
    d: z.enum(['n', 'p']),
    t: z.union([z.literal('-infinity'), tokenMoment({ precision: 6 })]),
    i: z.string().regex(ID),
  })
  .strict();
type Cursor = z.infer<typeof cursorSchema>;

interface ConsentRow {
  readonly id: string;
  readonly tenant: string;
  readonly patient_bsn: string;
  readonly sort_time: string;
  readonly resource: Consent;
  /** Which version of the consent it is: 1, 2, ... (migration 087), the served `meta.versionId`. */
  readonly version_id: string;
  /** When this version was stored. */
  readonly updated_at: Date;
}

/** The columns a served Consent is made of. */
const SERVED_COLUMNS = 'tenant, patient_bsn, resource, version_id::text AS version_id, updated_at';
/** The same, of a kept version (`consent_history`, migration 087). */
const VERSION_COLUMNS = 'tenant, patient_bsn, resource, version_id::text AS version_id, recorded_at AS updated_at';

/**
 * The Consent as served: the stored one (or a kept version of it) with this server's version and the time that
 * version was stored in `meta` (a practice's own `meta.versionId`, if it sent one, is its HIS's, not a version here).
 * Its references to the child (`patient`, and `performer` when the child consented) also carry the child's BSN: the
 * Patient they name is in the practice's Bundles, not served here, and a logical reference lets a client find the
 * child all the same.
 */
function servedConsent(row: Pick<ConsentRow, 'resource' | 'version_id' | 'updated_at' | 'patient_bsn'>): Consent {
  const child = row.resource.patient?.reference;
  const bsn = bsnIdentifier(row.patient_bsn);
  const performer = row.resource.performer?.map((p) =>
    child !== undefined && p.reference === child ? { ...p, identifier: bsn } : p,
  );
  return {
    ...row.resource,
    meta: { ...row.resource.meta, versionId: row.version_id, lastUpdated: row.updated_at.toISOString() },
    patient: { ...row.resource.patient, identifier: bsn },
    ...(performer ? { performer } : {}),
  };
}

/** A child as a BSN (any of the token forms) or, for plain `patient`, a Patient reference. */
function patientCondition(value: string, name: string, q: SqlParams): string {
  if (name === 'patient' && /^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(value)) {
    return `resource->'patient'->>'reference' = ${q.add(value)}`;
  }
  const bar = value.indexOf('|');
  const system = bar >= 0 ? value.slice(0, bar) : '';
  const bsn = bar >= 0 ? value.slice(bar + 1) : value;
  if ((system !== '' && system !== BSN_SYSTEM) || !isValidBsn(bsn)) {
    failParameter(`Give ${name}=${BSN_SYSTEM}|<BSN> (or <BSN>) with a valid BSN`, name);
  }
  return `patient_bsn = ${q.add(bsn)}`;
}

/** The consents of the practices the caller may read, as an SQL condition. */
function practiceScope(principal: Principal, q: SqlParams): string {
  return principal.practices.includes(ALL) ? 'TRUE' : `tenant = ANY(${q.add([...principal.practices], 'text[]')})`;
}

function whereOf(search: FhirSearch, principal: Principal, q: SqlParams): string {
  const conditions = [practiceScope(principal, q)];
  for (const f of search.filters) {
    const name = parameterOf(CONSENT_SEARCH, f);
    const values = alternativesOf(f);
    switch (f.code) {
      case '_id':
        values.forEach((v) => ID.test(v) || failParameter('_id: a FHIR id', name));
        conditions.push(`id = ANY(${q.add(values, 'text[]')})`);
        break;
      case 'patient':
        conditions.push(or(values.map((v) => patientCondition(v, name, q))));
        break;
      case 'status':
        values.forEach((v) => STATUSES.includes(v) || failParameter(`status: one of ${STATUSES.join(', ')}`, name));
        conditions.push(`status = ANY(${q.add(values, 'text[]')})`);
        break;
      case 'date':
        if (values.length > 1) {
          failParameter('date: give one value per parameter; repeat the parameter for a range', name);
        }
        conditions.push(dateCondition('date_time', parseDateFilter(`${f.operator}${f.value.trim()}`), q));
        break;
      default:
        failParameter(`Unknown search parameter '${name}' for Consent`, name);
    }
  }
  return and(conditions);
}

/** The one child a search named, when it named exactly one by BSN: the read is recorded against that child. */
function onlyPatientOf(search: FhirSearch): string | undefined {
  const patients = search.filters.filter((f) => f.code === 'patient').flatMap(alternativesOf);
  const only = patients.length === 1 ? patients[0] : undefined;
  const bsn = only?.slice(only.indexOf('|') + 1);
  return bsn && isValidBsn(bsn) ? bsn : undefined;
}

/** Searches the consent registry, by keyset in (dateTime, id) order, so deep pages cost what the first does. */
export async function searchConsents(db: Db, principal: Principal, search: FhirSearch): Promise<SearchPage<Consent>> {
  const q = new SqlParams();
  const where = whereOf(search, principal, q);
  const cursor: Cursor | undefined = search.page === undefined ? undefined : decodePageToken(search.page, cursorSchema);
  const backwards = cursor?.d === 'p';
  const newestFirst = search.sort ? search.sort.descending : true;
  const descending = newestFirst !== backwards;
  const order = descending ? 'DESC' : 'ASC';
  let rows: ConsentRow[] = [];
  let more = false;
  if (search.count > 0) {
    const keyset = cursor
      ? `(${SORT_TIME}, id) ${descending ? '<' : '>'} (${q.add(cursor.t, 'timestamptz')}, ${q.add(cursor.i)})`
      : 'TRUE';
    rows = await db.query<ConsentRow>(
      `SELECT id, ${SERVED_COLUMNS}, COALESCE(${exactTimeSql('date_time')}, '-infinity') AS sort_time FROM consent
       WHERE ${where} AND ${keyset} ORDER BY ${SORT_TIME} ${order}, id ${order} LIMIT ${q.add(search.count + 1, 'int')}`,
      q.values,
    );
    more = rows.length > search.count;
    rows = rows.slice(0, search.count);
    if (backwards) {
      rows.reverse();
    }
  }
  let total: number | undefined;
  if (search.total !== 'none' || search.count === 0) {
    const cq = new SqlParams();
    const [row] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM consent WHERE ${whereOf(search, principal, cq)}`,
      cq.values,
    );
    total = row?.n ?? 0;
  }
  const tokenAt = (row: ConsentRow | undefined, d: Cursor['d']): string | undefined =>
    row ? encodePageToken({ d, t: row.sort_time, i: row.id } satisfies Cursor) : undefined;
  return {
    resources: rows.map(servedConsent),
    total,
    next: backwards || more ? tokenAt(rows.at(-1), 'n') : undefined,
    previous: (backwards ? more : cursor !== undefined) ? tokenAt(rows[0], 'p') : undefined,
    tenants: rows.map((r) => r.tenant),
    patientBsn: onlyPatientOf(search),
  };
}

type ServedRow = Omit<ConsentRow, 'id' | 'sort_time'>;

/** Whether the principal's practices hold the consent's. */
const inScopeOf = (principal: Principal, tenant: string): boolean =>
  principal.practices.includes(ALL) || principal.practices.includes(tenant);

/** A stored row as a read's answer: the Consent, and whose it is for the read's audit and the caller's scope. */
function readResult(principal: Principal, row: ServedRow): ReadResult<Consent> {
  return {
    resource: servedConsent(row),
    tenant: row.tenant,
    patientBsn: row.patient_bsn,
    inScope: inScopeOf(principal, row.tenant),
  };
}

/**
 * Every version of a consent, kept by the database on every write that changes it (migration 087): a decision or
 * disclosure cites the version it read (`Consent/<id>/_history/<v>`), which reads the same after a withdrawal.
 */
function consentHistory(db: Db): VersionHistory<Consent> {
  return {
    async tryReadVersion(principal, id, versionId) {
      const [row] = await db.query<ServedRow>(
        `SELECT ${VERSION_COLUMNS} FROM consent_history WHERE id = $1 AND version_id = $2`,
        [id, versionId],
      );
      return row && readResult(principal, row);
    },
    async tryHistory(principal, id, page) {
      // A page by the history's key, newest first; how many there are beside it. A consent has a few versions.
      const rows = await db.query<ServedRow & { total: number }>(
        `SELECT ${VERSION_COLUMNS}, (SELECT count(*)::int FROM consent_history t
           WHERE t.id = $1 AND ($2::timestamptz IS NULL OR t.recorded_at >= $2)) AS total
         FROM consent_history WHERE id = $1 AND ($2::timestamptz IS NULL OR recorded_at >= $2)
           AND ($3::int IS NULL OR version_id < $3)
         ORDER BY version_id DESC LIMIT $4`,
        [id, page.since ?? null, page.below ?? null, page.count + 1],
      );
      // Whose it is, for the scope and the audit, also when the page holds no version.
      const [newest] =
        rows.length > 0
          ? rows
          : await db.query<ServedRow>(
              `SELECT ${VERSION_COLUMNS} FROM consent_history WHERE id = $1 ORDER BY version_id DESC LIMIT 1`,
              [id],
            );
      if (!newest) {
        return undefined;
      }
      const versions = rows.slice(0, page.count);
      return {
        versions: versions.map(servedConsent),
        total: rows[0]?.total ?? 0,
        nextBelow: page.count > 0 && rows.length > page.count ? Number(versions.at(-1)?.version_id) : undefined,
        tenant: newest.tenant,
        patientBsn: newest.patient_bsn,
        inScope: inScopeOf(principal, newest.tenant),
      };
    },
  };
}

/** `/fhir/Consent` on the shared search machinery, with vread and history. */
export function consentProvider(db: Db): FhirResourceProvider<Consent> {
  return {
    spec: CONSENT_SEARCH,
    versioning: 'versioned',
    isId: (id) => ID.test(id),
    assertMayRead(principal) {
      assertRole(principal, ...CONSENT_READERS);
    },
    search: (principal, search) => searchConsents(db, principal, search),
    async tryRead(principal, id): Promise<ReadResult<Consent> | undefined> {
      const [row] = await db.query<ServedRow>(`SELECT ${SERVED_COLUMNS} FROM consent WHERE id = $1`, [id]);
      return row && readResult(principal, row);
    },
    history: consentHistory(db),
  };
}

/**
 * The consents of one child as the registry holds them now, by id, of the practices the caller may read (none for a
 * caller without a practice in scope): the child's hand-over names each consent it cites in words.
 */
export async function consentsOfChild(db: Db, principal: Principal, bsn: string): Promise<Map<string, Consent>> {
  if (principal.practices.length === 0) {
    return new Map();
  }
  const q = new SqlParams();
  const rows = await db.query<{ id: string; resource: Consent }>(
    `SELECT id, resource FROM consent WHERE patient_bsn = ${q.add(bsn)} AND ${practiceScope(principal, q)}`,
    q.values,
  );
  return new Map(rows.map((r) => [r.id, r.resource]));
}
