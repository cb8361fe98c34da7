import type { AuditEvent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';
import { canonicalJson, chainHashOfCanonical, GENESIS_HASH } from './chain';
import { indexFieldsOf } from './index-fields';

interface Pending {
  readonly tenant: string;
  readonly event: AuditEvent;
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

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 500,
  ) {}

  /** Queues the event for the next group commit; resolves when it is durable. */
  append(tenant: string, event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, event, resolve, reject });
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
    const byTenant = new Map<string, AuditEvent[]>();
    for (const p of batch) {
      const events = byTenant.get(p.tenant);
      if (events) {
        events.push(p.event);
      } else {
        byTenant.set(p.tenant, [p.event]);
      }
    }
    // Tenants in a fixed order so two processes locking several chain heads cannot deadlock.
    const tenants = [...byTenant.keys()].sort();
    await this.db.transaction(async (tx) => {
      for (const tenant of tenants) {
        // Creates the head on first use and locks it either way, in one round trip: ON CONFLICT DO UPDATE locks the
        // existing row as SELECT … FOR UPDATE would, and returns its latest committed values.
        const [head] = await tx.query<{ seq: string; hash: string }>(
          `INSERT INTO audit_chain_head (tenant, seq, hash) VALUES ($1, 0, $2)
           ON CONFLICT (tenant) DO UPDATE SET seq = audit_chain_head.seq RETURNING seq, hash`,
          [tenant, GENESIS_HASH],
        );
        let seq = Number(head?.seq ?? 0);
        let hash = head?.hash ?? GENESIS_HASH;
        const cols: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], []];
        for (const event of byTenant.get(tenant) ?? []) {
          const prev = hash;
          seq++;
          // The canonical text is both hashed and stored: jsonb normalises it anyway, and making it once is cheaper.
          const canonical = canonicalJson(event);
          hash = chainHashOfCanonical(prev, seq, canonical);
          const f = indexFieldsOf(event);
          [
            seq,
            event.id,
            event.recorded,
            f.type,
            f.subtype,
            event.action ?? null,
            f.outcome,
            f.patientBsn,
            `{${f.agents.map(pgArrayItem).join(',')}}`,
            `{${f.entities.map(pgArrayItem).join(',')}}`,
            canonical,
            prev,
            hash,
          ].forEach((v, i) => cols[i]?.push(v));
        }
        // The rows and the new head in one statement (a data-modifying WITH runs whether or not it is read).
        await tx.query(
          `WITH appended AS (
             INSERT INTO audit_event (tenant, seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents,
               entities, resource, prev_hash, hash)
             SELECT $1, seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents::text[],
               entities::text[], resource, prev_hash, hash
             FROM unnest($2::bigint[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
               $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[], $14::text[])
               AS t(seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents, entities, resource,
                 prev_hash, hash)
           )
           UPDATE audit_chain_head SET seq = $15, hash = $16 WHERE tenant = $1`,
          [tenant, ...cols, seq, hash],
        );
      }
    });
  }
}

/** One element of a PostgreSQL array literal, quoted. */
function pgArrayItem(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
