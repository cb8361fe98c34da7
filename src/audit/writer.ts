import type { AuditEvent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';
import { canonicalizeJcs, chainHashOfCanonical, GENESIS_HASH } from './chain';
import { indexFieldsOf } from './index-fields';

/**
 * An event made ready for its row when it is appended: canonical text and search columns do not depend on the chain
 * head, so they are made while the previous group commit is still in PostgreSQL, not inside the next one's lock.
 */
interface Pending {
  readonly tenant: string;
  readonly event: AuditEvent;
  readonly canonical: string;
  readonly type: string;
  readonly subtype: string | null;
  readonly outcome: string;
  readonly patientBsn: string | null;
  readonly agents: string;
  readonly entities: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Appends AuditEvents to the per-tenant hash chains with group commit: everything appended while a flush is
 * running goes into the next flush, one transaction for the lot. `append` resolves only once the row is
 * durable, so a job that awaits it never completes before its audit trail exists.
 */
export class AuditWriter {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;

  /** `maxBatch`: most rows in one transaction; a larger group spreads the commit's flush over more rows. */
  constructor(
    private readonly db: Db,
    private readonly maxBatch = 5000,
  ) {}

  /** Queues the event for the next group commit; resolves when it is durable. */
  append(tenant: string, event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready: Pending;
      try {
        // The canonical text is both hashed and stored: jsonb normalises it anyway, and making it once is cheaper.
        const f = indexFieldsOf(event);
        ready = {
          tenant,
          event,
          canonical: canonicalizeJcs(event),
          type: f.type,
          subtype: f.subtype,
          outcome: f.outcome,
          patientBsn: f.patientBsn,
          agents: pgArrayLiteral(f.agents),
          entities: pgArrayLiteral(f.entities),
          resolve,
          reject,
        };
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.pending.push(ready);
      this.flushing ??= this.drain();
    });
  }

  /** Resolves once everything appended so far is durable (used at shutdown). */
  async flush(): Promise<void> {
    while (this.flushing) {
      await this.flushing;
    }
  }

  private async drain(): Promise<void> {
    // Let callers in the same tick join the batch.
    await new Promise((r) => setImmediate(r));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.commit(batch);
        batch.forEach((p) => p.resolve());
      } catch (err) {
        batch.forEach((p) => p.reject(err));
      }
    }
    this.flushing = undefined;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const byTenant = new Map<string, Pending[]>();
    for (const p of batch) {
      const rows = byTenant.get(p.tenant);
      if (rows) {
        rows.push(p);
      } else {
        byTenant.set(p.tenant, [p]);
      }
    }
    // Tenants in a fixed order so two processes locking several chain heads cannot deadlock.
    const tenants = [...byTenant.keys()].sort();
    await this.db.transaction(async (tx) => {
      for (const tenant of tenants) {
        const rows = byTenant.get(tenant) ?? [];
        // Creates the head on first use and locks it either way, in one round trip: ON CONFLICT DO UPDATE locks the
        // existing row as SELECT … FOR UPDATE would, and returns its latest committed values.
        const [head] = await tx.query<{ seq: string; hash: string }>(
          `INSERT INTO audit_chain_head (tenant, seq, hash) VALUES ($1, 0, $2)
           ON CONFLICT (tenant) DO UPDATE SET seq = audit_chain_head.seq RETURNING seq, hash`,
          [tenant, GENESIS_HASH],
        );
        let seq = Number(head?.seq ?? 0);
        let hash = head?.hash ?? GENESIS_HASH;
        const n = rows.length;
        const cols = {
          seq: new Array<number>(n),
          id: new Array<string | undefined>(n),
          recorded: new Array<string | undefined>(n),
          type: new Array<string>(n),
          subtype: new Array<string | null>(n),
          action: new Array<string | null>(n),
          outcome: new Array<string>(n),
          patientBsn: new Array<string | null>(n),
          agents: new Array<string>(n),
          entities: new Array<string>(n),
          prevHash: new Array<string>(n),
          hash: new Array<string>(n),
        };
        // Only the links depend on the head: the whole group is hashed here in one pass, under the head's lock.
        for (let i = 0; i < n; i++) {
          const p = rows[i] as Pending;
          cols.prevHash[i] = hash;
          seq++;
          hash = chainHashOfCanonical(hash, seq, p.canonical);
          cols.seq[i] = seq;
          cols.id[i] = p.event.id;
          cols.recorded[i] = p.event.recorded;
          cols.type[i] = p.type;
          cols.subtype[i] = p.subtype;
          cols.action[i] = p.event.action ?? null;
          cols.outcome[i] = p.outcome;
          cols.patientBsn[i] = p.patientBsn;
          cols.agents[i] = p.agents;
          cols.entities[i] = p.entities;
          cols.hash[i] = hash;
        }
        // The rows and the new head in one statement (a data-modifying WITH runs whether or not it is read).
        await tx.query(
          `WITH appended AS (
             INSERT INTO audit_event (tenant, seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents,
               entities, resource, prev_hash, hash)
             SELECT $1, seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents::text[],
               entities::text[], resource, prev_hash, hash
             FROM ROWS FROM (unnest($2::bigint[]), unnest($3::uuid[]), unnest($4::timestamptz[]), unnest($5::text[]),
               unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]),
               unnest($11::text[]), jsonb_array_elements($12::jsonb), unnest($13::text[]), unnest($14::text[]))
               AS t(seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents, entities, resource,
                 prev_hash, hash)
           )
           UPDATE audit_chain_head SET seq = $15, hash = $16 WHERE tenant = $1`,
          [
            tenant,
            cols.seq,
            cols.id,
            cols.recorded,
            cols.type,
            cols.subtype,
            cols.action,
            cols.outcome,
            cols.patientBsn,
            cols.agents,
            cols.entities,
            // One JSON array rather than a jsonb[]: canonical JSON goes in as it is, without array-literal escaping.
            `[${rows.map((p) => p.canonical).join(',')}]`,
            cols.prevHash,
            cols.hash,
            seq,
            hash,
          ],
        );
      }
    });
  }
}

/** A PostgreSQL array literal of strings, each element quoted. */
function pgArrayLiteral(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
