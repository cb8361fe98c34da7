import type { Db } from '../../kernel/db';

/** A referral delivered to a municipality, and the status updates the municipality sent back on it. */
export interface ReferralTimeline {
  id: string;
  practice: string;
  eventType: string;
  destination: string;
  deliveredAt: Date | null;
  updates: { status: string; state: string; at: string }[];
}

/** The newest referrals delivered to any of these destinations, each with its status updates (oldest first). */
export async function listReferralTimelines(
  db: Db,
  destinations: readonly string[],
  limit: number,
): Promise<ReferralTimeline[]> {
  if (destinations.length === 0) {
    return [];
  }
  return db.query<ReferralTimeline>(
    `SELECT i.id, i.tenant AS practice, i.event_type AS "eventType", d.destination, d.delivered_at AS "deliveredAt",
       COALESCE((SELECT json_agg(json_build_object('status', f.status, 'state', f.state, 'at', f.created_at)
                   ORDER BY f.created_at) FROM feedback f WHERE f.inbox_id = i.id), '[]'::json) AS updates
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.state = 'delivered' AND d.destination = ANY($1::text[]) AND i.event_type LIKE 'referral.%'
     ORDER BY d.delivered_at DESC NULLS LAST, i.id LIMIT $2`,
    [destinations, limit],
  );
}
