import type { Db } from './db';

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'cancelled';

export interface DeliveryRow {
  id: string;
  inbox_id: string;
  destination: string;
  idempotency_key: string;
  state: DeliveryState;
  round: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  response_body: string | null;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

/** Creates the delivery of an event to a destination once; a second call returns the existing row. */
export async function ensureDelivery(
  db: Db,
  d: { id: string; inboxId: string; destination: string; idempotencyKey: string },
): Promise<DeliveryRow> {
  await db.query(
    `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state) VALUES ($1, $2, $3, $4, 'pending')
     ON CONFLICT (inbox_id, destination) DO NOTHING`,
    [d.id, d.inboxId, d.destination, d.idempotencyKey],
  );
  const [row] = await db.query<DeliveryRow>('SELECT * FROM delivery WHERE inbox_id = $1 AND destination = $2', [
    d.inboxId,
    d.destination,
  ]);
  if (!row) {
    throw new Error(`delivery for ${d.inboxId} vanished`);
  }
  return row;
}

export async function tryGetDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow>('SELECT * FROM delivery WHERE id = $1', [id]);
  return row;
}

/** Records the outcome of one attempt; moves state only from `pending` so a late worker cannot undo another's. */
export async function recordAttempt(
  db: Db,
  id: string,
  a: {
    state: DeliveryState;
    status?: number | undefined;
    error?: string | undefined;
    responseBody?: string | undefined;
  },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE delivery SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
       response_body = $5, updated_at = now(), delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
     WHERE id = $1 AND state = 'pending' RETURNING id`,
    [id, a.state, a.status ?? null, a.error ?? null, a.responseBody?.slice(0, 4000) ?? null],
  );
  return rows.length > 0;
}
