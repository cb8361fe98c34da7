import { deliveredCancellationAtOf, referralEventsOf, withdrawalNoticeAtOf } from '../../event/event-store';
import type { Db } from '../../kernel/db';
import { SqlParams } from '../../kernel/sql-params';
import { REFERRAL_STATUSES } from '../../../mappings/practice/referral-status';
import { serviceRequestStatusOf } from '../../../mappings/practice/to-task';

/**
 * What `GET /fhir/ServiceRequest` serves of a received referral, and its table `received_service_request` (migration
 * 085): one row per destination and referral, kept so that a page is a range of an index instead of every referral
 * the municipality ever received, built for each page. The rows are computed here, by `receivedSql`, the one
 * definition; the database only marks a referral stale when something they are computed from is written (085's
 * triggers), and `refreshReceivedServiceRequests` computes the stale ones again.
 */

/** The ServiceRequest statuses served. */
export const STATUSES = ['active', 'revoked', 'completed'] as const;

/** The product's ServiceRequest.status of each municipal status (the ConceptMap), as SQL over `status`. */
const STATUS_SQL = `CASE status ${REFERRAL_STATUSES.map((s) => `WHEN '${s}' THEN '${serviceRequestStatusOf(s)}'`).join(' ')}
  ELSE 'active' END`;

/**
 * Every referral delivered once to a destination of `delivered` (a condition on the delivery `d`), one row for each
 * destination: the practice's newest version of it delivered there, by when jeugdbrug received it (a correction
 * replaces it, a redelivery of an older version does not), with its last change and status: revoked once the
 * practice's cancellation reached a municipality, else what the newest status a municipality sent means for it
 * (`serviceRequestStatusOf`), active without one. A withdrawal notice made for the served version's delivery there
 * (the child's consent withdrawn, recorded in error or met by an objection; notices are per destination) is a change
 * too: FHIR has no status for it, so it is a tag (`servedServiceRequest`), and its time moves `last_updated`, for a
 * municipality that catches up by `_lastUpdated` (or whose format carries no notice) to find it. `identified` is a
 * condition on its `referral_identifier` row `r`.
 */
export function receivedSql(delivered: string, identified: string): string {
  return `WITH received AS (
      SELECT DISTINCT ON (d.destination, r.tenant, r.system, r.value) d.destination, r.service_request_id AS id,
        i.id AS inbox_id, r.tenant, r.system, r.value, r.patient_id, d.delivered_at,
        d.id AS delivery_id, i.received_at, i.received_seq
      FROM delivery d JOIN inbox i ON i.id = d.inbox_id JOIN referral_identifier r ON r.inbox_id = i.id
      WHERE d.first_delivered_at IS NOT NULL AND ${delivered}
        AND i.event_type = 'referral.created'
        AND r.service_request_id IS NOT NULL AND ${identified}
      ORDER BY d.destination, r.tenant, r.system, r.value, i.received_at DESC, i.received_seq DESC, d.id DESC
    ), changed AS (
      SELECT x.*, ${deliveredCancellationAtOf('x.inbox_id')} AS cancelled_at, newest.status, newest.created_at AS status_at,
        ${withdrawalNoticeAtOf('x.delivery_id')} AS withdrawn_at
      FROM received x LEFT JOIN LATERAL (
        SELECT f.status, f.created_at FROM feedback f WHERE f.inbox_id IN ${referralEventsOf('x.inbox_id')}
        ORDER BY f.created_at DESC, f.id DESC LIMIT 1) newest ON TRUE
    )
    SELECT destination, id, inbox_id AS "inboxId", tenant AS practice, system, value, patient_id AS "patientId",
      CASE WHEN cancelled_at IS NOT NULL THEN 'revoked' ELSE ${STATUS_SQL} END AS status,
      withdrawn_at AS "consentWithdrawnAt", greatest(delivered_at, cancelled_at, status_at, withdrawn_at) AS last_updated,
      received_at, received_seq
    FROM changed`;
}

/**
 * Which of a referral's rows at several destinations of one municipality is served, as an SQL row value to compare
 * (greater is served): the newest version (when jeugdbrug received the event, `i` its `inbox` row), then the latest
 * change, then the last destination by name. The newest version first, so that an older version delivered again to
 * one destination (a redelivery) after a correction went to another is not served in the correction's place.
 */
export function servedRankSql(s: string, i: string): string {
  return `(${i}.received_at, ${i}.received_seq, ${s}.last_updated, ${s}.destination)`;
}

/**
 * The condition on a row `s` of `received_service_request` (as `receivedSql` names its columns) that it is the one a
 * municipality with the destinations `destinations` (an SQL array) is served, when it received the referral at more
 * than one of them: the first by `servedRankSql`. Read by `o`, from the table; the events' order by the primary key
 * of `inbox`, only for a referral that has another row.
 */
export function servedOnceSql(s: string, destinations: string): string {
  return `NOT EXISTS (SELECT 1 FROM received_service_request o
    JOIN inbox oi ON oi.id = o.inbox_id JOIN inbox si ON si.id = ${s}."inboxId"
    WHERE o.service_request_id = ${s}.id AND o.tenant = ${s}.practice AND o.system = ${s}.system
      AND o.value = ${s}.value AND o.destination = ANY(${destinations}) AND o.destination <> ${s}.destination
      AND ${servedRankSql('o', 'oi')} > ${servedRankSql(s, 'si')})`;
}

/** How many stale referrals one transaction of `refreshReceivedServiceRequests` computes. */
const REFRESH_BATCH = 500;

/**
 * Computes the rows of `received_service_request` of every referral marked stale, and clears its mark; returns how
 * many referrals it computed. Before each search (a few, or none), and at start-up (after migration 085: all of
 * them). Refreshes take turns (an advisory lock), so one that finds nothing left knows every change committed before
 * it is in the table; a mark held by a write not yet committed is skipped, as its change is not visible yet (the
 * write's commit leaves it for the next refresh).
 */
export async function refreshReceivedServiceRequests(db: Db): Promise<number> {
  let refreshed = 0;
  for (;;) {
    const [pending] = await db.query<{ any: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM received_service_request_stale) AS any',
    );
    if (!pending?.any) {
      return refreshed;
    }
    const n = await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('received_service_request'))`);
      const keys = await tx.query<{ tenant: string; system: string; value: string }>(
        `DELETE FROM received_service_request_stale s
         USING (SELECT tenant, system, value FROM received_service_request_stale LIMIT $1 FOR UPDATE SKIP LOCKED) b
         WHERE s.tenant = b.tenant AND s.system = b.system AND s.value = b.value
         RETURNING s.tenant, s.system, s.value`,
        [REFRESH_BATCH],
      );
      if (keys.length === 0) {
        return 0;
      }
      const q = new SqlParams();
      const column = (name: 'tenant' | 'system' | 'value') =>
        q.add(
          keys.map((k) => k[name]),
          'text[]',
        );
      const stale = `(SELECT * FROM unnest(${column('tenant')}, ${column('system')}, ${column('value')}))`;
      await tx.query(`DELETE FROM received_service_request WHERE (tenant, system, value) IN ${stale}`, q.values);
      await tx.query(
        `INSERT INTO received_service_request
           (destination, tenant, system, value, service_request_id, inbox_id, patient_id, status,
            consent_withdrawn_at, last_updated)
         SELECT destination, practice, system, value, id, "inboxId", "patientId", status, "consentWithdrawnAt",
           last_updated
         FROM (${receivedSql('TRUE', `(r.tenant, r.system, r.value) IN ${stale}`)}) computed`,
        q.values,
      );
      return keys.length;
    });
    refreshed += n;
    if (n === 0) {
      // What is left is marked by writes not yet committed.
      return refreshed;
    }
  }
}
