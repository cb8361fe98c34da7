import type { Db } from '../kernel/db';

/**
 * Of these entity references (`inbox/<id>`, `trajectory_event/<id>`), the ones a `create` AuditEvent in the tenant's
 * chain names: the receipts on record. A receipt is stored before it is audited, so a crash in between leaves a row
 * whose sender, sending again, gets `duplicate`; this tells that retry whether the receipt still needs its audit.
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

/**
 * Of these inbox events, the ids whose receipt (`eventReceived`) is on record: `auditedReceipts`, one statement per
 * tenant chain among them.
 */
export async function receiptedEvents(
  db: Db,
  events: readonly { readonly id: string; readonly tenant: string }[],
): Promise<Set<string>> {
  const byTenant = new Map<string, string[]>();
  for (const e of events) {
    const ids = byTenant.get(e.tenant);
    if (ids) {
      ids.push(`inbox/${e.id}`);
    } else {
      byTenant.set(e.tenant, [`inbox/${e.id}`]);
    }
  }
  const receipted = new Set<string>();
  for (const [tenant, entities] of byTenant) {
    for (const entity of await auditedReceipts(db, tenant, entities)) {
      receipted.add(entity.slice('inbox/'.length));
    }
  }
  return receipted;
}
