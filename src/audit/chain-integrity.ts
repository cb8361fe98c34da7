import type { AuditEvent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';
import { keysetOrder, keysetPage, type PageDirection } from '../kernel/keyset-page';
import { SqlParams } from '../kernel/sql-params';
import { integrityChanged, SYSTEM_TENANT, SYSTEM_WORKER, type AuditActor } from './audit-events';

/**
 * What is last known of each audit chain's integrity (`audit_chain_integrity`, migration 078), kept in PostgreSQL so
 * that every process acts on what any of them found: the signer signs no head of a chain known broken, and the
 * console's pages that read a chain say so. A whole verification (asked for, or the scheduled one) says intact or
 * broken; the signer's check of a chain's head against its newest signed checkpoint only says broken, as it reads the
 * rows since that checkpoint alone: a row changed before it shows only to a whole verification.
 */

/**
 * Who found a chain broken: the signer's check each round, a verification asked for, the scheduled one, the retention
 * run's check of the rows it purges, an export's check of the acknowledged broken rows it holds.
 */
const FINDERS = ['head-check', 'verify', 'full-verify', 'retention', 'export'] as const;
export type IntegrityFinder = (typeof FINDERS)[number];

export interface ChainIntegrity {
  readonly tenant: string;
  readonly ok: boolean;
  readonly checkedAt: Date;
  /** When it was first found broken since it was last found intact. */
  readonly brokenSince: Date | undefined;
  readonly brokenAtSeq: number | undefined;
  /** The first row the break may lie in, when verification names a range (a rewrite): `brokenAtSeq` is the last. */
  readonly brokenFromSeq: number | undefined;
  readonly problem: string | undefined;
  readonly foundBy: IntegrityFinder | undefined;
}

/**
 * A change of a chain's verdict, kept in `audit_chain_integrity_history` (migration 088) and written to the system
 * chain as a Security Alert (`alertIntegrityChange`): broken (found by whom, at which rows, what), acknowledged (an
 * auditor recorded the break, signing resumes) or intact again (a whole verification found it so).
 */
export interface IntegrityChange {
  readonly tenant: string;
  readonly verdict: 'broken' | 'acknowledged' | 'intact';
  readonly brokenFromSeq?: number | undefined;
  readonly brokenAtSeq?: number | undefined;
  readonly problem?: string | undefined;
  readonly foundBy?: IntegrityFinder | undefined;
  /** Who acknowledged the break: a principal id. */
  readonly by?: string | undefined;
  /** Why they did (an acknowledgement's reason). */
  readonly reason?: string | undefined;
  /** When (read back from the history). */
  readonly changedAt?: Date | undefined;
}

/** What writes an AuditEvent: the process's audit writer (`AuditWriter.append`). */
export interface AuditAppender {
  append(tenant: string, event: AuditEvent): Promise<void>;
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
    brokenFromSeq?: number | undefined;
    problem?: string | undefined;
    signedCheckpoint?: object | null | undefined;
    checkpointsNotChecked?: object | undefined;
  },
  foundBy: IntegrityFinder,
  /** `whole`: the verification read the whole chain (only such may clear a break); `audit`: where to alert a change. */
  { whole, audit }: { whole?: WholeVerification | undefined; audit?: AuditAppender | undefined } = {},
): Promise<IntegrityChange | undefined> {
  if (verdict.ok && (!whole || (foundBy !== 'verify' && foundBy !== 'full-verify'))) {
    return undefined;
  }
  const vouched = !!verdict.signedCheckpoint && verdict.checkpointsNotChecked === undefined;
  // `fresh`: the chain was not broken before this (or is intact now): every column of the finding is this one's.
  // `before`: the row as the statement's snapshot has it (none for a chain never recorded): what the verdict changed
  // from. Two processes recording the same change at the same instant may each tell it; none leaves it untold.
  const [changed] = await db.query<{ ok: boolean; was_ok: boolean | null }>(
    `WITH before AS (SELECT ok FROM audit_chain_integrity WHERE tenant = $1),
     upserted AS (
       INSERT INTO audit_chain_integrity AS i (tenant, ok, checked_at, broken_since, broken_at_seq, problem, found_by,
         broken_from_seq)
       VALUES ($1, $2, now(), CASE WHEN $2 THEN NULL ELSE now() END, $3, $4, $5, $8)
       ON CONFLICT (tenant) DO UPDATE SET ok = excluded.ok, checked_at = excluded.checked_at,
         broken_since = CASE WHEN excluded.ok OR i.ok THEN excluded.broken_since ELSE i.broken_since END,
         found_by = CASE WHEN excluded.ok OR i.ok THEN excluded.found_by ELSE i.found_by END,
         broken_at_seq = CASE WHEN excluded.ok OR i.ok THEN excluded.broken_at_seq ELSE i.broken_at_seq END,
         broken_from_seq = CASE WHEN excluded.ok OR i.ok THEN excluded.broken_from_seq ELSE i.broken_from_seq END,
         problem = CASE WHEN excluded.ok OR i.ok THEN excluded.problem ELSE i.problem END
       WHERE NOT (excluded.ok AND NOT i.ok AND (i.checked_at > $6::timestamptz OR NOT $7::boolean))
       RETURNING ok)
     SELECT u.ok, (SELECT ok FROM before) AS was_ok FROM upserted u`,
    [
      tenant,
      verdict.ok,
      verdict.ok ? null : (verdict.brokenAtSeq ?? null),
      verdict.ok ? null : (verdict.problem ?? null),
      foundBy,
      whole?.startedAt.toISOString() ?? null,
      vouched,
      verdict.ok ? null : (verdict.brokenFromSeq ?? null),
    ],
  );
  // A chain first recorded intact changed nothing: it was not known broken before either.
  if (!changed || changed.ok === (changed.was_ok ?? true)) {
    return undefined;
  }
  const change: IntegrityChange = changed.ok
    ? { tenant, verdict: 'intact', foundBy }
    : {
        tenant,
        verdict: 'broken',
        brokenFromSeq: verdict.brokenFromSeq,
        brokenAtSeq: verdict.brokenAtSeq,
        problem: verdict.problem,
        foundBy,
      };
  await recordIntegrityHistory(db, change);
  if (audit) {
    await alertIntegrityChange(audit, change);
  }
  return change;
}

/** Keeps a change of verdict in `audit_chain_integrity_history`: what was found stays, whatever is found next. */
export async function recordIntegrityHistory(db: Db, change: IntegrityChange): Promise<void> {
  await db.query(
    `INSERT INTO audit_chain_integrity_history (tenant, verdict, broken_from_seq, broken_at_seq, problem, found_by,
       reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      change.tenant,
      change.verdict,
      change.brokenFromSeq ?? null,
      change.brokenAtSeq ?? null,
      change.problem ?? null,
      change.by ?? change.foundBy ?? null,
      change.reason ?? null,
    ],
  );
}

/**
 * Writes a change of verdict to the system chain, as a Security Alert naming the chain, the rows and the problem:
 * the tamper-evident log keeps the incident, whatever the integrity record says later. `actor`: who made the change
 * (the auditor who acknowledged a break); the worker otherwise.
 */
export async function alertIntegrityChange(
  audit: AuditAppender,
  change: IntegrityChange,
  actor: AuditActor = SYSTEM_WORKER,
): Promise<void> {
  await audit.append(SYSTEM_TENANT, integrityChanged({ actor, ...change }));
}

/** A chain's changes of verdict, oldest first. */
export async function integrityHistory(db: Db, tenant: string): Promise<IntegrityChange[]> {
  return (await historyRows(db, [tenant], {})).map((r) => r.change).reverse();
}

/** Where a page of the integrity history starts: the changes older or newer than the row `id`. */
export interface IntegrityHistoryCursor {
  readonly id: number;
  readonly direction: PageDirection;
}

/** One page of the integrity history, newest first, with the cursors of its neighbours when there are any. */
export interface IntegrityHistoryPage {
  readonly changes: IntegrityChange[];
  readonly older?: IntegrityHistoryCursor | undefined;
  readonly newer?: IntegrityHistoryCursor | undefined;
}

/**
 * A page of `size` changes of verdict of the chains named, newest first, from `cursor` (the newest without one): the
 * API's and the auditor console's history. Keyset by the row's id (ids only grow: `kernel/keyset-page.ts`), so a
 * change recorded meanwhile never shifts a page along.
 */
export async function integrityHistoryPage(
  db: Db,
  tenants: readonly string[],
  size: number,
  cursor?: IntegrityHistoryCursor,
): Promise<IntegrityHistoryPage> {
  const read = await historyRows(db, tenants, { limit: size + 1, ...(cursor ? { from: cursor } : {}) });
  const page = keysetPage(read, size, cursor, (r, direction) => ({ id: r.id, direction }));
  return { changes: page.rows.map((r) => r.change), older: page.older, newer: page.newer };
}

async function historyRows(
  db: Db,
  tenants: readonly string[],
  read: { limit?: number; from?: IntegrityHistoryCursor },
): Promise<{ id: number; change: IntegrityChange }[]> {
  const q = new SqlParams();
  const chains = q.add([...tenants], 'text[]');
  const keyset = keysetOrder(read.from?.direction, ['id'], read.from && [q.add(read.from.id, 'bigint')]);
  const limit = read.limit === undefined ? '' : `LIMIT ${q.add(read.limit)}`;
  const rows = await db.query<{
    id: number;
    tenant: string;
    verdict: IntegrityChange['verdict'];
    changed_at: Date;
    broken_from_seq: number | null;
    broken_at_seq: number | null;
    problem: string | null;
    found_by: string | null;
    reason: string | null;
  }>(
    `SELECT id::float8 AS id, tenant, verdict, changed_at, broken_from_seq::float8 AS broken_from_seq,
       broken_at_seq::float8 AS broken_at_seq, problem, found_by, reason
     FROM audit_chain_integrity_history
     WHERE tenant = ANY(${chains}) AND ${keyset.where}
     ORDER BY ${keyset.orderBy} ${limit}`,
    q.values,
  );
  return rows.map((r) => ({
    id: r.id,
    change: {
      tenant: r.tenant,
      verdict: r.verdict,
      changedAt: new Date(r.changed_at),
      brokenFromSeq: r.broken_from_seq ?? undefined,
      brokenAtSeq: r.broken_at_seq ?? undefined,
      problem: r.problem ?? undefined,
      ...(r.verdict === 'acknowledged'
        ? { by: r.found_by ?? undefined, reason: r.reason ?? undefined }
        : { foundBy: FINDERS.find((f) => f === r.found_by) }),
    },
  }));
}

/** What is known of the chains named (of every chain when none are named), by tenant. */
export async function chainIntegrity(db: Db, tenants?: readonly string[]): Promise<Map<string, ChainIntegrity>> {
  const rows = await db.query<{
    tenant: string;
    ok: boolean;
    checked_at: Date;
    broken_since: Date | null;
    broken_at_seq: number | null;
    broken_from_seq: number | null;
    problem: string | null;
    found_by: string | null;
  }>(
    `SELECT tenant, ok, checked_at, broken_since, broken_at_seq::float8 AS broken_at_seq,
       broken_from_seq::float8 AS broken_from_seq, problem, found_by
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
        brokenFromSeq: r.broken_from_seq ?? undefined,
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
