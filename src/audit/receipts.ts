import type { Db } from '../kernel/db';

/**
 * Of these entity references (`inbox/<id>`, `trajectory_event/<id>`), the ones a `create` AuditEvent in the tenant's
 * chain names: the receipts on record. A receipt is stored before it is audited, so a failure in between leaves a row
 * the sender was never told was accepted: its resend audits it then, and until then it is held (`unacknowledged`).
 */
export async function auditedReceipts(db: Db, tenant: string, entities: readonly string[]): Promise<Set<string>> {
  if (entities.length === 0) {
    return new Set();
  }
  const rows = await db.query<{ entity: string }>(
    `SELECT DISTINCT e AS entity FROM audit_event, unnest(entities) AS e
     WHERE tenant = $1 AND action = 'C' AND entities && $2::text[] AND e = ANY($2::text[])`,
    [tenant, entities],
  );
  return new Set(rows.map((r) => r.entity));
}

/** The tables whose rows are receipts the sender must have had acknowledged: the inbox, municipalities' trajectories. */
export type ReceiptedTable = 'inbox' | 'trajectory_event';

/**
 * Of these events (rows of `table`: the inbox by default), the ids whose receipt (`eventReceived`,
 * `trajectoryEventReceived`) is on record: `auditedReceipts`, one statement per tenant chain among them.
 */
export async function receiptedEvents(
  db: Db,
  events: readonly { readonly id: string; readonly tenant: string }[],
  table: ReceiptedTable = 'inbox',
): Promise<Set<string>> {
  const byTenant = new Map<string, string[]>();
  for (const e of events) {
    const ids = byTenant.get(e.tenant);
    if (ids) {
      ids.push(`${table}/${e.id}`);
    } else {
      byTenant.set(e.tenant, [`${table}/${e.id}`]);
    }
  }
  const receipted = new Set<string>();
  for (const [tenant, entities] of byTenant) {
    for (const entity of await auditedReceipts(db, tenant, entities)) {
      receipted.add(entity.slice(`${table}/`.length));
    }
  }
  return receipted;
}

/** Pauses between looks for a receipt the request that stored its event may still be recording (1.55 s in all). */
const IN_FLIGHT_WAITS_MS = [50, 100, 200, 400, 800];

/**
 * Of these stored events (rows of `table`) that had no receipt on record when a resend found them, those still
 * without one once the requests that stored them have had time to record it: a resend at the same moment as the
 * first request (two requests with the same event) must not take a receipt on its way for a failed request's, and
 * record a second one. An event held as `unacknowledged`, or stored more than a minute ago, is waited for no
 * longer: its request has ended. A request slower than the waits leaves two receipts, not none.
 */
export async function stillWithoutReceipt(
  db: Db,
  events: readonly { readonly id: string; readonly tenant: string; readonly state: string; readonly at: Date }[],
  table: ReceiptedTable,
): Promise<Set<string>> {
  let missing = [...events];
  for (const ms of IN_FLIGHT_WAITS_MS) {
    const inFlight = missing.filter((e) => e.state !== 'unacknowledged' && Date.now() - e.at.getTime() < 60_000);
    if (inFlight.length === 0) {
      break;
    }
    await new Promise((r) => setTimeout(r, ms));
    const receipted = await receiptedEvents(db, inFlight, table);
    missing = missing.filter((e) => !receipted.has(e.id));
  }
  return new Set(missing.map((e) => e.id));
}
