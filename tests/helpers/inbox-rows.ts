import { randomUUID } from 'node:crypto';
import type { NewDecidedDelivery } from '../../src/event/event-store';
import type { Db } from '../../src/kernel/db';

/**
 * `n` bare inbox rows in `state` (one practice, a one-byte record), for tests of statements over the inbox table
 * rather than of the pipeline; returns their ids.
 */
export async function insertInboxRows(db: Db, state: string, n: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
     SELECT gen_random_uuid(), '01234567', 'rows-' || gen_random_uuid(), 'generic-json', 'referral.created', $1, 't',
       '\\x00'
     FROM generate_series(1, $2::int) RETURNING id`,
    [state, n],
  );
  return rows.map((r) => r.id);
}

/**
 * A month of deliveries of `inboxIds`, one each, two minutes apart, to forty municipalities (`gm0` to `gm39`), all
 * delivered once: one in 500 is being sent again (`pending`), one dead since, one cancelled since.
 */
export async function insertMonthOfDeliveries(db: Db, inboxIds: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
     SELECT gen_random_uuid(), inbox_id, 'gm' || (n % 40)::text, gen_random_uuid()::text,
       CASE n % 500 WHEN 1 THEN 'pending' WHEN 2 THEN 'dead' WHEN 3 THEN 'cancelled' ELSE 'delivered' END,
       now() - interval '40 days' + n * interval '2 minutes'
     FROM unnest($1::uuid[]) WITH ORDINALITY AS x(inbox_id, n)`,
    [inboxIds],
  );
}

/** What the map stage passes to `decideAndCreateDeliveries` for events permitted to one destination. */
export function permittedTo(destination: string, inboxIds: readonly string[]): NewDecidedDelivery[] {
  return inboxIds.map((inboxId) => ({
    id: randomUUID(),
    inboxId,
    destination,
    idempotencyKey: randomUUID(),
    reason: 'permitted',
    passing: ['mapped'],
  }));
}

/**
 * `n` dead letters to `destination` (bare events of one practice, each with its one dead delivery), a second apart
 * and the last one newest, for tests of lists and actions over dead letters; returns the delivery ids, oldest first.
 */
export async function insertDeadLetters(
  db: Db,
  destination: string,
  n: number,
  opts: { status?: number; before?: Date } = {},
): Promise<string[]> {
  const inboxIds = await insertInboxRows(db, 'dead', n);
  const rows = await db.query<{ id: string }>(
    `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, attempts, last_status, last_error,
       updated_at)
     SELECT gen_random_uuid(), inbox_id, $1, gen_random_uuid()::text, 'dead', 4, $2::int, 'HTTP ' || $2::text,
       $3::timestamptz - (($4::int - n) * interval '1 second')
     FROM unnest($5::uuid[]) WITH ORDINALITY AS x(inbox_id, n)
     ORDER BY n RETURNING id`,
    [destination, opts.status ?? 422, (opts.before ?? new Date()).toISOString(), n, inboxIds],
  );
  return rows.map((r) => r.id);
}
