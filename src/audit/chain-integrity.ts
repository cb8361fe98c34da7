import type { Db } from '../kernel/db';

/**
 * What is last known of each audit chain's integrity (`audit_chain_integrity`, migration 078), kept in PostgreSQL so
 * that every process acts on what any of them found: the signer signs no head of a chain known broken, and the
 * console's pages that read a chain say so. A whole verification (asked for, or the scheduled one) says intact or
 * broken; the signer's check of a chain's head against its newest signed checkpoint only says broken, as it reads the
 * rows since that checkpoint alone: a row changed before it shows only to a whole verification.
 */

/**
 * Who found a chain broken: the signer's check each round, a verification asked for, the scheduled one, the retention
 * run's check of the rows it purges.
 */
const FINDERS = ['head-check', 'verify', 'full-verify', 'retention'] as const;
export type IntegrityFinder = (typeof FINDERS)[number];

export interface ChainIntegrity {
  readonly tenant: string;
  readonly ok: boolean;
  readonly checkedAt: Date;
  /** When it was first found broken since it was last found intact. */
  readonly brokenSince: Date | undefined;
  readonly brokenAtSeq: number | undefined;
  readonly problem: string | undefined;
  readonly foundBy: IntegrityFinder | undefined;
}

/** When a whole verification began, by the database's clock (the one `checked_at` is in): `wholeVerificationStart`. */
export interface WholeVerification {
  readonly startedAt: Date;
}

/** Call just before a whole verification reads the chain: its intact verdict clears only what was found before. */
export async function wholeVerificationStart(db: Db): Promise<WholeVerification> {
  const [r] = await db.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  return { startedAt: new Date(r?.t ?? Date.now()) };
}

/**
 * Records a verdict, in one statement. An intact one only from a whole verification (`whole`, by a finder that
 * makes one): a check that read part of the chain does not vouch for the rest. Nor does a whole verification that
 * began before the chain was last found broken (another process's finding, made while this one read rows it may have
 * read before they were changed): that break stays until a verification begun after it finds the chain intact.
 * Nor, for a break, one intact by the hash chain alone (no `signedCheckpoint` checked, which a consistent rewrite
 * passes) or with signed checkpoints left unchecked (`checkpointsNotChecked`: their key is not configured): it may
 * record a chain not known broken as intact, never clear a break.
 *
 * A chain found broken keeps its first finding whole: when, by whom, at which row and what, as one. A later finding
 * of a chain already broken moves only `checked_at`: it never pairs one finder with another's problem or row.
 */
export async function recordChainIntegrity(
  db: Db,
  tenant: string,
  verdict: {
    ok: boolean;
    brokenAtSeq?: number | undefined;
    problem?: string | undefined;
    signedCheckpoint?: object | null | undefined;
    checkpointsNotChecked?: object | undefined;
  },
  foundBy: IntegrityFinder,
  whole?: WholeVerification,
): Promise<void> {
  if (verdict.ok && (!whole || (foundBy !== 'verify' && foundBy !== 'full-verify'))) {
    return;
  }
  const vouched = !!verdict.signedCheckpoint && verdict.checkpointsNotChecked === undefined;
  // `fresh`: the chain was not broken before this (or is intact now): every column of the finding is this one's.
  await db.query(
    `INSERT INTO audit_chain_integrity AS i (tenant, ok, checked_at, broken_since, broken_at_seq, problem, found_by)
     VALUES ($1, $2, now(), CASE WHEN $2 THEN NULL ELSE now() END, $3, $4, $5)
     ON CONFLICT (tenant) DO UPDATE SET ok = excluded.ok, checked_at = excluded.checked_at,
       broken_since = CASE WHEN excluded.ok OR i.ok THEN excluded.broken_since ELSE i.broken_since END,
       found_by = CASE WHEN excluded.ok OR i.ok THEN excluded.found_by ELSE i.found_by END,
       broken_at_seq = CASE WHEN excluded.ok OR i.ok THEN excluded.broken_at_seq ELSE i.broken_at_seq END,
       problem = CASE WHEN excluded.ok OR i.ok THEN excluded.problem ELSE i.problem END
     WHERE NOT (excluded.ok AND NOT i.ok AND (i.checked_at > $6::timestamptz OR NOT $7::boolean))`,
    [
      tenant,
      verdict.ok,
      verdict.ok ? null : (verdict.brokenAtSeq ?? null),
      verdict.ok ? null : (verdict.problem ?? null),
      foundBy,
      whole?.startedAt.toISOString() ?? null,
      vouched,
    ],
  );
}

/** What is known of the chains named (of every chain when none are named), by tenant. */
export async function chainIntegrity(db: Db, tenants?: readonly string[]): Promise<Map<string, ChainIntegrity>> {
  const rows = await db.query<{
    tenant: string;
    ok: boolean;
    checked_at: Date;
    broken_since: Date | null;
    broken_at_seq: number | null;
    problem: string | null;
    found_by: string | null;
  }>(
    `SELECT tenant, ok, checked_at, broken_since, broken_at_seq::float8 AS broken_at_seq, problem, found_by
     FROM audit_chain_integrity WHERE $1::text[] IS NULL OR tenant = ANY($1::text[])`,
    [tenants ? [...tenants] : null],
  );
  return new Map(
    rows.map((r) => [
      r.tenant,
      {
        tenant: r.tenant,
        ok: r.ok,
        checkedAt: new Date(r.checked_at),
        brokenSince: r.broken_since ? new Date(r.broken_since) : undefined,
        brokenAtSeq: r.broken_at_seq ?? undefined,
        problem: r.problem ?? undefined,
        // A finder this build does not name (a newer build's) is shown as none, not a fault.
        foundBy: FINDERS.find((f) => f === r.found_by),
      },
    ]),
  );
}

/** The chains known broken. */
export async function knownBrokenChains(db: Db): Promise<Set<string>> {
  const rows = await db.query<{ tenant: string }>('SELECT tenant FROM audit_chain_integrity WHERE NOT ok');
  return new Set(rows.map((r) => r.tenant));
}
