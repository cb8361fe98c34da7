import type { Db } from '../kernel/db';
import { transitionParams, transitionSql, type InboxState } from './inbox-store';

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'cancelled';

/** The columns a `delivery` and a `feedback` row share: one outgoing message, its attempts and their outcome. */
export interface AttemptColumns<S extends string> {
  idempotency_key: string;
  state: S;
  round: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  response_body: string | null;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

export interface DeliveryRow extends AttemptColumns<DeliveryState> {
  id: string;
  inbox_id: string;
  destination: string;
}

/**
 * Marks a permitted event `decided` (recording the states it passed on the way) and creates its delivery, in one
 * atomic statement. A second call for the same event and destination returns the existing delivery.
 */
export async function decideAndCreateDelivery(
  db: Db,
  d: {
    id: string;
    inboxId: string;
    destination: string;
    idempotencyKey: string;
    reason: string;
    passing: readonly InboxState[];
  },
): Promise<DeliveryRow> {
  const params = transitionParams(d.inboxId, 'decided', {
    from: ['received', 'mapped'],
    reason: d.reason,
    passing: d.passing,
  });
  const [created] = await db.query<DeliveryRow>(
    transitionSql(
      `, created AS (
        INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
        SELECT $6, moved.id, $7, $8, 'pending' FROM moved
        ON CONFLICT (inbox_id, destination) DO NOTHING RETURNING *
      )`,
      'SELECT * FROM created',
    ),
    [...params, d.id, d.destination, d.idempotencyKey],
  );
  if (created) {
    return created;
  }
  const [existing] = await db.query<DeliveryRow>('SELECT * FROM delivery WHERE inbox_id = $1 AND destination = $2', [
    d.inboxId,
    d.destination,
  ]);
  if (!existing) {
    throw new Error(`event ${d.inboxId} was not in a state to be decided`);
  }
  return existing;
}

export async function tryGetDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow>('SELECT * FROM delivery WHERE id = $1', [id]);
  return row;
}

/** What one delivery attempt ended in, as recorded on the delivery or feedback row. */
export interface AttemptOutcome<S extends string> {
  state: S;
  status?: number | undefined;
  error?: string | undefined;
  responseBody?: string | undefined;
}

/**
 * Records the outcome of one attempt on a `delivery` or `feedback` row (they share these columns); moves state
 * only from `pending`, so a late worker cannot undo another's.
 */
export async function recordAttemptOn(
  db: Db,
  table: 'delivery' | 'feedback',
  id: string,
  a: AttemptOutcome<string>,
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE ${table} SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
       response_body = $5, updated_at = now(), delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
     WHERE id = $1 AND state = 'pending' RETURNING id`,
    [id, a.state, a.status ?? null, a.error ?? null, a.responseBody?.slice(0, 4000) ?? null],
  );
  return rows.length > 0;
}

/** Records the outcome of one delivery attempt (see `recordAttemptOn`). */
export function recordAttempt(db: Db, id: string, a: AttemptOutcome<DeliveryState>): Promise<boolean> {
  return recordAttemptOn(db, 'delivery', id, a);
}

/**
 * Ends a pending delivery and moves its event on, in one atomic statement: the delivery only from `pending`, the
 * event only from `decided`. Returns false when the delivery was no longer pending (another worker finished it).
 */
export async function finishDelivery(
  db: Db,
  d: {
    deliveryId: string;
    inboxId: string;
    deliveryState: Exclude<DeliveryState, 'pending'>;
    inboxState: InboxState;
    reason: string;
    status?: number | undefined;
    error?: string | undefined;
    responseBody?: string | undefined;
  },
): Promise<boolean> {
  const params = transitionParams(d.inboxId, d.inboxState, { from: ['decided'], reason: d.reason });
  const rows = await db.query(
    transitionSql(
      `, attempt AS (
        UPDATE delivery SET state = $7::text, attempts = attempts + 1, last_status = $8, last_error = $9,
          response_body = $10, updated_at = now(), delivered_at = CASE WHEN $7::text = 'delivered' THEN now() END
        WHERE id = $6 AND state = 'pending' RETURNING id
      )`,
      'SELECT id FROM attempt',
    ),
    [
      ...params,
      d.deliveryId,
      d.deliveryState,
      d.status ?? null,
      d.error ?? null,
      d.responseBody?.slice(0, 4000) ?? null,
    ],
  );
  return rows.length > 0;
}
