import type { Principal } from '../../src/access/principal';
import type { PipelineContext } from '../../src/event/context';
import type { Db } from '../../src/kernel/db';
import { encodePageToken } from '../../src/reports/fhir-search/page-token';
import type { FhirSearch } from '../../src/reports/fhir-search/parse-search';

/**
 * Referrals a municipality received, made in bulk for the plans and the time of `GET /fhir/ServiceRequest`
 * (service-request-plan.test.ts, bench/service-request-page.ts): events of practice 01234567, each delivered once
 * to destination `gm1` of municipality GM0001 at a random moment of the last three years, with no status and no
 * cancellation (so its last change is its delivery). Only what the search reads: no payload, no policy.
 */
export const RECEIVED_SYSTEM = 'urn:agb:01234567:referral';

/** A key of municipality GM0001. */
export const RECEIVING_PRINCIPAL: Principal = {
  id: 'api-key:municipality',
  role: 'municipality',
  practices: [],
  municipalities: ['GM0001'],
  via: 'api-key',
};

/** What the search needs of a pipeline: the database, and GM0001's destinations. */
export function receivingContext(db: Db, destinations: readonly string[] = ['gm1']): PipelineContext {
  return {
    db,
    registry: { destinations: destinations.map((id) => ({ id, municipality: 'GM0001' })) },
  } as unknown as PipelineContext;
}

/** Stores `n` referrals (`ref-sr-1` …) delivered to `gm1`, and analyses the tables. */
export async function storeReceivedReferrals(db: Db, n: number): Promise<void> {
  await db.query(
    `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
     SELECT gen_random_uuid(), '01234567', 'sr-' || g, 'generic-json', 'referral.created', 'delivered', 't', '\\x00'
     FROM generate_series(1, $1::int) g`,
    [n],
  );
  await db.query(
    `INSERT INTO referral_identifier (inbox_id, tenant, system, value, service_request_id)
     SELECT id, tenant, $1, 'ref-' || source_event_id, gen_random_uuid() FROM inbox`,
    [RECEIVED_SYSTEM],
  );
  await db.query(`INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
    SELECT gen_random_uuid(), id, 'gm1', gen_random_uuid()::text, 'delivered', now() - random() * interval '3 years'
    FROM inbox`);
  await db.exec('ANALYZE inbox; ANALYZE delivery; ANALYZE referral_identifier');
}

/**
 * The page token of the referral at `offset` in oldest-change-first order at `gm1` (`d`: `n` for the page after it,
 * `p` for the one before), read from the deliveries, as any build computes it.
 */
export async function receivedPageToken(db: Db, offset: number, d: 'n' | 'p'): Promise<string> {
  const [row] = await db.query<{ t: string; i: string }>(
    `SELECT to_char(d.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t,
       r.service_request_id::text AS i
     FROM delivery d JOIN referral_identifier r ON r.inbox_id = d.inbox_id WHERE d.destination = 'gm1'
     ORDER BY d.delivered_at, r.service_request_id OFFSET $1 LIMIT 1`,
    [offset],
  );
  return encodePageToken({ d, t: row!.t, i: row!.i });
}

/** A search of received referrals as `parseFhirSearch` gives it: these filters, a page of `count`, an exact total. */
export function receivedSearch(filters: FhirSearch['filters'], count = 10): FhirSearch {
  return {
    resourceType: 'ServiceRequest',
    filters,
    count,
    summaryCount: false,
    total: 'accurate',
    pretty: false,
    applied: new URLSearchParams(),
    ignored: [],
  };
}
