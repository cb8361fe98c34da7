import type { Db } from '../../kernel/db';

/** Which dead letters to list or replay: by destination, by the receiver's HTTP status, and since when. */
export interface DeadLetterFilter {
  readonly destination?: string | undefined;
  readonly status?: number | undefined;
  readonly since?: string | undefined;
  readonly limit: number;
}

/** A delivery that gave up, with the receiver's last answer. Ids, codes and the receiver's text only. */
export interface DeadLetter {
  id: string;
  inboxId: string;
  eventId: string;
  practice: string;
  destination: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  responseBody: string | null;
  updatedAt: Date;
}

/** Dead letters matching a filter, oldest first. */
export async function listDeadLetters(db: Db, f: DeadLetterFilter): Promise<DeadLetter[]> {
  return db.query<DeadLetter>(
    `SELECT d.id, d.inbox_id AS "inboxId", i.source_event_id AS "eventId", i.tenant AS practice, d.destination,
       d.attempts, d.last_status AS "lastStatus", d.last_error AS "lastError", d.response_body AS "responseBody",
       d.updated_at AS "updatedAt"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.state = 'dead' AND ($1::text IS NULL OR d.destination = $1) AND ($2::int IS NULL OR d.last_status = $2)
       AND ($3::timestamptz IS NULL OR d.updated_at >= $3)
     ORDER BY d.updated_at LIMIT $4`,
    [f.destination ?? null, f.status ?? null, f.since ?? null, f.limit],
  );
}

/**
 * Dead letters per destination, and dead status updates to practices, counted in PostgreSQL. BullMQ's `failed`
 * count keeps a job that was replayed and delivered since, so it is not the number an operator acts on.
 */
export async function countDeadLetters(db: Db): Promise<{ deliveries: Map<string, number>; feedback: number }> {
  const rows = await db.query<{ destination: string; n: number }>(
    `SELECT destination, count(*)::int AS n FROM delivery WHERE state = 'dead' GROUP BY destination`,
  );
  const [fb] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM feedback WHERE state = 'dead'`);
  return { deliveries: new Map(rows.map((r) => [r.destination, r.n])), feedback: fb?.n ?? 0 };
}

/** The current state of some deliveries (a replay's progress), by id. */
export async function deliveryStates(
  db: Db,
  ids: readonly string[],
): Promise<{ id: string; destination: string; state: string; attempts: number; lastStatus: number | null }[]> {
  if (ids.length === 0) {
    return [];
  }
  return db.query(
    `SELECT id, destination, state, attempts, last_status AS "lastStatus" FROM delivery WHERE id = ANY($1::uuid[])
     ORDER BY updated_at`,
    [ids],
  );
}
