import type { Db } from '../../kernel/db';

/** One of a practice's events as the practice sees it in the console: ids, type, state and why. */
export interface PracticeEvent {
  id: string;
  eventId: string;
  practice: string;
  eventType: string;
  state: string;
  stateReason: string | null;
  receivedAt: Date;
  updatedAt: Date;
}

/** The newest events of some practices (`*` for all), optionally only those in one state. */
export async function listPracticeEvents(
  db: Db,
  practices: readonly string[],
  f: { state?: string | undefined; limit: number },
): Promise<PracticeEvent[]> {
  return db.query<PracticeEvent>(
    `SELECT id, source_event_id AS "eventId", tenant AS practice, event_type AS "eventType", state,
       state_reason AS "stateReason", received_at AS "receivedAt", updated_at AS "updatedAt"
     FROM inbox WHERE ($1::text[] @> ARRAY['*'] OR tenant = ANY($1::text[])) AND ($2::text IS NULL OR state = $2)
     ORDER BY received_at DESC, id LIMIT $3`,
    [practices, f.state ?? null, f.limit],
  );
}
