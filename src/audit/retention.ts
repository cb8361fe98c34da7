import type { AuditEvent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';
import type { PurgeCheckpoint } from './signed-heads';
import { tryGetCheckpoint, verifyTenant } from './verify';
import { appendInTransaction } from './writer';

/** Arbitrary but fixed: two processes purging the same chain at once would race for the same checkpoint. */
const PURGE_LOCK = 727_513;

export interface ChainPurge {
  readonly tenant: string;
  readonly purgedRows: number;
  /** The new checkpoint: the last purged row. */
  readonly checkpointSeq: number;
}

/**
 * Deletes the rows of one chain recorded before `cutoff`, from the oldest end and without holes: up to the row
 * before the first one that must stay (a row committed late may carry an earlier time than the row before it).
 * Verifies the rows to be deleted first: a purge must never erase the evidence of tampering.
 *
 * The checkpoint, the delete and the purge's own AuditEvent (`purgeEvent`, appended to the same chain after its
 * head) commit in one transaction: there is no moment, and no crash, after which rows are gone and their purge is
 * not recorded (verification would report such a checkpoint as forged). When the AuditEvent cannot be appended,
 * nothing is purged and this throws. With `sign` (the audit signing key), the checkpoint carries its signature, which
 * verification with the keys requires.
 */
export async function purgeChain(
  db: Db,
  tenant: string,
  cutoff: Date,
  purgeEvent: (purge: ChainPurge) => AuditEvent,
  sign?: (checkpoint: PurgeCheckpoint) => { readonly kid: string; readonly sig: string },
): Promise<ChainPurge | { reason: string } | undefined> {
  const checkpoint = await tryGetCheckpoint(db, tenant);
  const [bound] = await db.query<{ last: number | null }>(
    `SELECT coalesce(
       (SELECT min(seq) - 1 FROM audit_event WHERE tenant = $1 AND recorded >= $2),
       (SELECT max(seq) FROM audit_event WHERE tenant = $1))::float8 AS last`,
    [tenant, cutoff.toISOString()],
  );
  const last = bound?.last ?? null;
  if (last === null || last <= (checkpoint?.seq ?? 0)) {
    return undefined;
  }
  const verdict = await verifyTenant(db, tenant, { upToSeq: last });
  if (!verdict.ok) {
    return { reason: `${verdict.problem} at seq ${verdict.brokenAtSeq}` };
  }
  return db.transaction(async (tx) => {
    if (tx.kind === 'postgres') {
      const [lock] = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [
        PURGE_LOCK,
        tenant,
      ]);
      if (!lock?.ok) {
        return undefined;
      }
    }
    // Read again under the lock: another process may have purged this chain meanwhile.
    const [cp] = await tx.query<{ seq: number | null }>(
      'SELECT max(seq)::float8 AS seq FROM audit_checkpoint WHERE tenant = $1',
      [tenant],
    );
    if ((cp?.seq ?? 0) >= last) {
      return undefined;
    }
    const [row] = await tx.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
      tenant,
      last,
    ]);
    if (!row) {
      return { reason: `row ${last} to checkpoint is missing` };
    }
    const [{ n } = { n: 0 }] = await tx.query<{ n: number }>(
      'SELECT count(*)::float8 AS n FROM audit_event WHERE tenant = $1 AND seq <= $2',
      [tenant, last],
    );
    // Signed with the audit signing key, which never enters the database: verification with the keys accepts no
    // other checkpoint. The time is taken here, to the millisecond, so the stored value is exactly the signed one.
    const checkpoint = { tenant, seq: last, hash: row.hash, purgedAt: new Date().toISOString(), purgedRows: n };
    const signature = sign?.(checkpoint);
    await tx.query(
      `INSERT INTO audit_checkpoint (tenant, seq, hash, purged_at, purged_rows, kid, sig)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [tenant, last, row.hash, checkpoint.purgedAt, n, signature?.kid ?? null, signature?.sig ?? null],
    );
    // The trigger lets this delete through only in a transaction that says it is the purge, and only up to a
    // checkpoint: the one just recorded.
    await tx.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
    await tx.query('DELETE FROM audit_event WHERE tenant = $1 AND seq <= $2', [tenant, last]);
    const purge = { tenant, purgedRows: n, checkpointSeq: last };
    // Last, so the chain head's lock (writers of this chain wait on it) is held only until the commit. After the
    // head, which is at or past `last`: verification looks for it after the checkpoint.
    await appendInTransaction(tx, tenant, purgeEvent(purge));
    return purge;
  });
}
