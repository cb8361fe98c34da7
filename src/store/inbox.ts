import type { Db } from './db';

/** Inbox states. `received → mapped → decided → delivered`, or one of the other terminal states. */
export const INBOX_STATES = [
  'received',
  'mapped',
  'decided',
  'delivered',
  'completed',
  'denied',
  'failed',
  'dead',
] as const;
export type InboxState = (typeof INBOX_STATES)[number];
/** States no worker will move on from by itself (a replay can). `completed`: nothing to send (a consent). */
export const TERMINAL_STATES: readonly InboxState[] = ['delivered', 'completed', 'denied', 'failed', 'dead'];

export interface InboxRow {
  id: string;
  tenant: string;
  source_event_id: string;
  dialect: string;
  event_type: string;
  municipality: string | null;
  state: InboxState;
  state_reason: string | null;
  payload: Buffer | null;
  payload_key_id: string | null;
  trace_id: string;
  received_at: Date;
  updated_at: Date;
}

export interface NewInboxRow {
  id: string;
  tenant: string;
  sourceEventId: string;
  dialect: string;
  eventType: string;
  municipality: string;
  payload: Buffer;
  payloadKeyId: string;
  traceId: string;
}

/** Inserts the event unless the practice sent this event id before; returns the id of the row that holds it. */
export async function insertInboxRow(db: Db, r: NewInboxRow): Promise<{ id: string; duplicate: boolean }> {
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, municipality, state, payload, payload_key_id, trace_id)
     VALUES ($1, $2, $3, $4, $5, $6, 'received', $7, $8, $9)
     ON CONFLICT (tenant, source_event_id) DO NOTHING RETURNING id`,
    [r.id, r.tenant, r.sourceEventId, r.dialect, r.eventType, r.municipality, r.payload, r.payloadKeyId, r.traceId],
  );
  if (inserted[0]) {
    await db.query(`INSERT INTO inbox_history (inbox_id, state) VALUES ($1, 'received')`, [r.id]);
    return { id: r.id, duplicate: false };
  }
  const [existing] = await db.query<{ id: string }>('SELECT id FROM inbox WHERE tenant = $1 AND source_event_id = $2', [
    r.tenant,
    r.sourceEventId,
  ]);
  return { id: existing?.id ?? r.id, duplicate: true };
}

export async function tryGetInboxRow(db: Db, id: string): Promise<InboxRow | undefined> {
  const [row] = await db.query<InboxRow>('SELECT * FROM inbox WHERE id = $1', [id]);
  return row;
}

/**
 * Moves an event to a new state and records it in the history. `from` guards against moving an event that
 * another worker already moved on; returns false when the row was not in one of those states.
 */
export async function transition(
  db: Db,
  id: string,
  to: InboxState,
  opts: { from?: readonly InboxState[]; reason?: string | undefined } = {},
): Promise<boolean> {
  const params: unknown[] = [id, to, opts.reason ?? null];
  let guard = '';
  if (opts.from) {
    params.push(opts.from);
    guard = ' AND state = ANY($4::text[])';
  }
  const rows = await db.query(
    `UPDATE inbox SET state = $2, state_reason = $3, updated_at = now() WHERE id = $1${guard} RETURNING id`,
    params,
  );
  if (rows.length === 0) {
    return false;
  }
  await db.query('INSERT INTO inbox_history (inbox_id, state, reason) VALUES ($1, $2, $3)', [
    id,
    to,
    opts.reason ?? null,
  ]);
  return true;
}

export async function getHistory(db: Db, id: string): Promise<{ state: string; reason: string | null; at: Date }[]> {
  return db.query('SELECT state, reason, at FROM inbox_history WHERE inbox_id = $1 ORDER BY id', [id]);
}
