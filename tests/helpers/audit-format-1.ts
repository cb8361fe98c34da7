import type { AuditEvent } from '@medplum/fhirtypes';
import { canonicalizeJcs, chainHashOfCanonical, GENESIS_HASH } from '../../src/audit/chain';
import { indexFieldsOf } from '../../src/audit/index-fields';
import type { Db } from '../../src/kernel/db';

/**
 * Appends AuditEvents as the writer before migration 015 did: chain format 1 (the hash covers the AuditEvent only),
 * with an INSERT that names no chain format, under the locked chain head. Rows older than chain format 2 are these.
 */
export async function appendFormat1(db: Db, tenant: string, events: readonly AuditEvent[]): Promise<void> {
  await db.transaction(async (tx) => {
    const [head] = await tx.query<{ seq: string; hash: string }>(
      `INSERT INTO audit_chain_head (tenant, seq, hash) VALUES ($1, 0, $2)
       ON CONFLICT (tenant) DO UPDATE SET seq = audit_chain_head.seq RETURNING seq, hash`,
      [tenant, GENESIS_HASH],
    );
    let seq = Number(head!.seq);
    let hash = head!.hash;
    for (const event of events) {
      const f = indexFieldsOf(event);
      const text = canonicalizeJcs(event);
      const prevHash = hash;
      seq++;
      hash = chainHashOfCanonical(prevHash, seq, text);
      await tx.query(
        `INSERT INTO audit_event (tenant, seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents,
           entities, resource, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
        [
          tenant,
          seq,
          event.id,
          event.recorded,
          f.type,
          f.subtype,
          event.action ?? null,
          f.outcome,
          f.patientBsn,
          f.agents,
          f.entities,
          text,
          prevHash,
          hash,
        ],
      );
    }
    await tx.query('UPDATE audit_chain_head SET seq = $2, hash = $3 WHERE tenant = $1', [tenant, seq, hash]);
  });
}
