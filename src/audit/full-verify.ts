import type { Logger } from 'pino';
import { errorFields } from '../kernel/logger';
import type { Db } from '../kernel/db';
import { startPeriodic } from '../kernel/periodic';
import {
  publicKeysOf,
  verifySignedChain,
  type CheckpointFile,
  type SignedTenantVerdict,
  type SigningKeys,
} from './signed-heads';
import {
  alertIntegrityChange,
  recordChainIntegrity,
  wholeVerificationStart,
  type AuditAppender,
  type IntegrityChange,
  type WholeVerification,
} from './chain-integrity';

/**
 * The scheduled whole verification of every audit chain (NEN 7513: the log's integrity checked periodically, with an
 * alert). The signer's round only checks that a chain's head extends its last signed checkpoint, reading the rows
 * since; a row changed in an older part of the chain shows only when the whole chain is read again. Each worker looks
 * every `tick` for chains whose last whole verification is older than the interval, claims one (a row of
 * `audit_full_verification`, migration 062, so that one worker verifies it, not each), verifies it from its genesis or
 * retention checkpoint to its head and against every signed checkpoint (what `GET /audit/v1/verify` does), and records
 * the verdict there, where /metrics and the console's chain check read it whichever process made it.
 */

/**
 * Seqs checked per piece: a piece is a few queries of well under a second, each on a connection only for its own
 * time, with the event loop free between pieces (verifyTenant's `segmentRows`).
 */
const SEGMENT_ROWS = 50_000;
/**
 * How long a worker's claim on a chain holds: far longer than a whole verification takes (about a minute per ten
 * million rows), so no other worker starts the same one; a worker that died half way lets another take it after it.
 */
const CLAIM_MS = 6 * 3600 * 1000;
/** How often a worker looks for chains that are due: a restart does not put the next verification off. */
const LOOK_EVERY_MS = 15 * 60 * 1000;

/** The last whole verification of a chain, as recorded. */
export interface FullVerification {
  readonly tenant: string;
  readonly verifiedAt: Date;
  readonly ok: boolean;
  readonly rows: number;
  readonly brokenAtSeq: number | undefined;
  readonly problem: string | undefined;
}

/** Every chain's last whole verification on schedule (chains never verified so have none). */
export async function listFullVerifications(db: Db): Promise<FullVerification[]> {
  const rows = await db.query<{
    tenant: string;
    verified_at: Date;
    ok: boolean;
    rows_checked: number;
    broken_at_seq: number | null;
    problem: string | null;
  }>(
    `SELECT tenant, verified_at, ok, rows_checked::float8 AS rows_checked, broken_at_seq::float8 AS broken_at_seq,
       problem
     FROM audit_full_verification WHERE verified_at IS NOT NULL ORDER BY tenant`,
  );
  return rows.map((r) => ({
    tenant: r.tenant,
    verifiedAt: new Date(r.verified_at),
    ok: r.ok,
    rows: r.rows_checked,
    brokenAtSeq: r.broken_at_seq ?? undefined,
    problem: r.problem ?? undefined,
  }));
}

/**
 * The chains whose whole verification is due (never verified, or last more than `intervalMs` ago) and not claimed by
 * another worker, in tenant order: one read per look, so that only those are claimed (`claimIfDue`), not every chain.
 */
async function dueTenants(db: Db, intervalMs: number): Promise<string[]> {
  const rows = await db.query<{ tenant: string }>(
    `SELECT h.tenant FROM audit_chain_head h LEFT JOIN audit_full_verification v ON v.tenant = h.tenant
     WHERE (v.claimed_until IS NULL OR v.claimed_until < now())
       AND (v.verified_at IS NULL OR v.verified_at <= now() - $1 * interval '1 millisecond')
     ORDER BY h.tenant`,
    [intervalMs],
  );
  return rows.map((r) => r.tenant);
}

/**
 * Claims a chain's next whole verification when it is due (never verified, or last more than `intervalMs` ago) and no
 * other worker holds it: one statement, so of two workers asking at once one gets it and the other moves on.
 */
async function claimIfDue(db: Db, tenant: string, intervalMs: number): Promise<boolean> {
  const claimed = await db.query(
    `INSERT INTO audit_full_verification AS v (tenant, claimed_until)
     VALUES ($1, now() + $3 * interval '1 millisecond')
     ON CONFLICT (tenant) DO UPDATE SET claimed_until = excluded.claimed_until
     WHERE (v.claimed_until IS NULL OR v.claimed_until < now())
       AND (v.verified_at IS NULL OR v.verified_at <= now() - $2 * interval '1 millisecond')
     RETURNING tenant`,
    [tenant, intervalMs, CLAIM_MS],
  );
  return claimed.length > 0;
}

/** The verdict in both records at once: the scheduled one's and what every process acts on. */
async function record(db: Db, v: SignedTenantVerdict, whole: WholeVerification): Promise<IntegrityChange | undefined> {
  return db.transaction(async (tx) => {
    await tx.query(
      `UPDATE audit_full_verification SET claimed_until = NULL, verified_at = now(), ok = $2, rows_checked = $3,
       broken_at_seq = $4, problem = $5
     WHERE tenant = $1`,
      [v.tenant, v.ok, v.rows, v.ok ? null : v.brokenAtSeq, v.ok ? null : v.problem],
    );
    // The alert is written after the transaction (by another connection): only a change that committed is told.
    return recordChainIntegrity(tx, v.tenant, v, 'full-verify', { whole });
  });
}

export interface FullVerifyDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly keys: SigningKeys;
  readonly file: CheckpointFile;
  readonly retentionDays: number;
  /** Where a change of verdict is written down (a Security Alert in the system chain). */
  readonly audit?: AuditAppender | undefined;
  /** Told of each chain's verdict (the verify metric). */
  readonly onVerdict?: (tenant: string, ok: boolean) => void;
}

/**
 * Verifies in full every chain that is due and not claimed by another worker, one after the other; returns the
 * verdicts it reached. A broken chain is logged as an error naming the chain, the first bad seq and the problem (which
 * names rows and columns, never their values). Stops between pieces when `signal` aborts, leaving the chain it was
 * verifying to the next run.
 */
export async function verifyDueChains(
  deps: FullVerifyDeps,
  intervalMs: number,
  signal?: AbortSignal,
): Promise<SignedTenantVerdict[]> {
  const { db, log } = deps;
  const verdicts: SignedTenantVerdict[] = [];
  for (const tenant of await dueTenants(db, intervalMs)) {
    if (signal?.aborted || !(await claimIfDue(db, tenant, intervalMs))) {
      continue;
    }
    let verdict: SignedTenantVerdict;
    const started = performance.now();
    let whole: WholeVerification;
    try {
      whole = await wholeVerificationStart(db);
      verdict = await verifySignedChain(db, tenant, publicKeysOf(deps.keys), deps.file, {
        retentionDays: deps.retentionDays,
        segmentRows: SEGMENT_ROWS,
        signal,
      });
    } catch (err) {
      // Left to the next run, now rather than when the claim runs out.
      await db.query('UPDATE audit_full_verification SET claimed_until = NULL WHERE tenant = $1', [tenant]);
      if (signal?.aborted) {
        break;
      }
      // The chains after it are still verified: one that fails to read (a statement timeout) and comes first again at
      // every look must not keep the others from their verification.
      log.error({ tenant, ...errorFields(err as Error) }, 'could not verify the audit chain in full');
      continue;
    }
    const change = await record(db, verdict, whole);
    if (change && deps.audit) {
      await alertIntegrityChange(deps.audit, change);
    }
    deps.onVerdict?.(tenant, verdict.ok);
    const ms = Math.round(performance.now() - started);
    if (verdict.ok) {
      log.info({ tenant, rows: verdict.rows, ms }, 'audit chain verified in full');
    } else {
      log.error(
        { tenant, brokenAtSeq: verdict.brokenAtSeq, problem: verdict.problem, rows: verdict.rows, ms },
        'audit chain failed its scheduled full verification',
      );
    }
    if (verdict.checkpointsNotChecked) {
      const { count, kids } = verdict.checkpointsNotChecked;
      log.warn({ tenant, count, kids }, 'audit checkpoints signed with a key not configured were not checked');
    }
    verdicts.push(verdict);
  }
  return verdicts;
}

/**
 * Starts the scheduled whole verification in a worker: a look for due chains now and every `LOOK_EVERY_MS` (or the
 * interval, when shorter). Returns a stop function that ends a verification in progress at its next piece. An interval
 * of 0 turns it off.
 */
export function startFullVerification(deps: FullVerifyDeps, intervalMs: number): () => Promise<void> {
  if (intervalMs === 0) {
    return () => Promise.resolve();
  }
  const abort = new AbortController();
  const stop = startPeriodic(
    Math.min(intervalMs, LOOK_EVERY_MS),
    () => verifyDueChains(deps, intervalMs, abort.signal),
    deps.log,
    'could not verify the audit chains in full',
  );
  return async () => {
    abort.abort();
    await stop();
  };
}
