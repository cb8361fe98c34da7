import type { Db } from '../kernel/db';

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
  // One statement for the row and its first history entry: fewer round trips on the hottest path.
  const inserted = await db.query<{ id: string }>(
    `WITH ins AS (
       INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, municipality, state, payload, payload_key_id, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, 'received', $7, $8, $9)
       ON CONFLICT (tenant, source_event_id) DO NOTHING RETURNING id
     ), history AS (INSERT INTO inbox_history (inbox_id, state) SELECT id, 'received' FROM ins)
     SELECT id FROM ins`,
    [r.id, r.tenant, r.sourceEventId, r.dialect, r.eventType, r.municipality, r.payload, r.payloadKeyId, r.traceId],
  );
  if (inserted[0]) {
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

export interface TransitionOptions {
  /** Only move the event when it is in one of these states (guards against moving what another worker moved). */
  readonly from?: readonly InboxState[];
  readonly reason?: string | undefined;
  /** States passed through on the way, recorded in the history before `to` (e.g. `mapped`). */
  readonly passing?: readonly InboxState[];
}

/**
 * Moves an event to a new state and records it (and any states passed on the way) in the history, in one
 * statement. Returns false when the row was not in one of the `from` states.
 */
export async function transition(db: Db, id: string, to: InboxState, opts: TransitionOptions = {}): Promise<boolean> {
  const rows = await db.query(transitionSql('', 'SELECT moved.id FROM moved'), transitionParams(id, to, opts));
  return rows.length > 0;
}

/** Parameters $1..$5 of `transitionSql`. */
export function transitionParams(id: string, to: InboxState, opts: TransitionOptions): unknown[] {
  return [id, to, opts.reason ?? null, opts.from ?? null, [...(opts.passing ?? []), to]];
}

/**
 * A transition as CTEs `moved` (the updated row, if any) and its history, then `extraCtes` and `select`, which may
 * read `moved`: one atomic statement. Parameters $1..$5 come from `transitionParams`; more may follow.
 */
export function transitionSql(extraCtes: string, select: string): string {
  return `WITH moved AS (
      UPDATE inbox SET state = $2, state_reason = $3, updated_at = now()
      WHERE id = $1 AND ($4::text[] IS NULL OR state = ANY($4::text[])) RETURNING id
    ), history AS (
      INSERT INTO inbox_history (inbox_id, state, reason)
      SELECT moved.id, s.state, CASE WHEN s.state = $2 THEN $3 END
      FROM moved, unnest($5::text[]) WITH ORDINALITY AS s(state, n) ORDER BY s.n
    )${extraCtes}
    ${select}`;
}

export async function getHistory(db: Db, id: string): Promise<{ state: string; reason: string | null; at: Date }[]> {
  return db.query('SELECT state, reason, at FROM inbox_history WHERE inbox_id = $1 ORDER BY id', [id]);
}
