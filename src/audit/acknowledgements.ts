import { sign, verify, type KeyObject } from 'node:crypto';
import type { Db } from '../kernel/db';
import { canonicalizeJcs } from './chain';

/**
 * An auditor's acknowledgement of a break in an audit chain (`POST /audit/v1/acknowledge`, an API request): the break
 * found (its rows and problem) is recorded for good, and the chain is vouched for again from the head it had then.
 * Without one, a chain once found broken could never be signed or exported again: a rewrite never verifies intact,
 * and rows must not be repaired (docs/runbook.md). With one, verification checks the rows after that head against the
 * checkpoints signed since, and the rows up to it against the acknowledgement: they must show exactly the breaks it
 * recorded (`rowBreaks`), each broken row and the head row exactly as they were found (`rowDigest`, `headDigest`),
 * and the checkpoints signed before it still hold for the rows below the first broken one (`acknowledgedFloor`): so a
 * second tamper, before or after it, or of the broken row itself, is found as the first was. Kept in
 * `audit_chain_acknowledgement` (migration 088), signed with the audit signing key (which never enters the database):
 * a row written by hand does not verify and acknowledges nothing, and one deleted leaves the chain reported broken
 * again.
 */
export interface BreakAcknowledgement {
  readonly tenant: string;
  /** ISO 8601: checkpoints of the chain signed before it are superseded by it (they contradict the break). */
  readonly acknowledgedAt: string;
  /** The principal id of the auditor. */
  readonly acknowledgedBy: string;
  /** Why the auditor acknowledged it (what was investigated, by whom), as given; none before migration 089. */
  readonly reason?: string | undefined;
  /** The rows the break lies in, as verification named them: `brokenAtSeq` the row named, from `brokenFromSeq`. */
  readonly brokenFromSeq: number;
  readonly brokenAtSeq: number;
  readonly problem: string;
  /** Every row up to the head that the hash chain shows broken, and how: what later verifications must find again. */
  readonly rowBreaks: readonly RowBreak[];
  /** The chain's head when it was acknowledged: signed as a checkpoint too, the start of what is vouched for again. */
  readonly headSeq: number;
  readonly headHash: string;
  /** `rowDigest` of the head row as found: any later change of it is a new break. */
  readonly headDigest: string;
  readonly kid: string;
  /** Ed25519 (base64url) over every field but this one (`acknowledgementSigningInput`). */
  readonly sig: string;
}

export interface RowBreak {
  readonly seq: number;
  readonly problem: string;
  /**
   * `rowDigest` of the broken row as found (all its chain columns, prev_hash and hash too): the generic problem text
   * alone would let the row, or the rows before it, be changed again and show the same break.
   */
  readonly rowDigest: string;
}

/** What `rowDigests` gives for a row that is not there. */
export const MISSING_ROW = 'missing';

/**
 * A SHA-256 (hex) of every chain column of each row named (seq, id, recorded in microseconds, the search columns, the
 * resource, prev_hash, hash), as PostgreSQL reads them; `MISSING_ROW` for a seq without a row.
 */
export async function rowDigests(db: Db, tenant: string, seqs: readonly number[]): Promise<Map<number, string>> {
  const rows = await db.query<{ seq: number; digest: string }>(
    `SELECT seq::float8 AS seq, encode(sha256(convert_to(jsonb_build_array(seq, id,
       (extract(epoch FROM recorded) * 1000000)::bigint, type, subtype, action, outcome, patient_bsn, agents, entities,
       resource, prev_hash, hash)::text, 'UTF8')), 'hex') AS digest
     FROM audit_event WHERE tenant = $1 AND seq = ANY($2::bigint[])`,
    [tenant, [...new Set(seqs)]],
  );
  const found = new Map(rows.map((r) => [r.seq, r.digest]));
  return new Map(seqs.map((seq) => [seq, found.get(seq) ?? MISSING_ROW]));
}

/**
 * The lowest row an acknowledgement says may be broken: checkpoints signed before it still vouch for the rows below.
 */
export function acknowledgedFloor(
  a: Pick<BreakAcknowledgement, 'brokenFromSeq' | 'brokenAtSeq' | 'rowBreaks'>,
): number {
  return Math.min(a.brokenFromSeq, a.brokenAtSeq, ...a.rowBreaks.map((b) => b.seq));
}

export type UnsignedAcknowledgement = Omit<BreakAcknowledgement, 'kid' | 'sig'>;

/** What an acknowledgement's signature covers: every field but the signature, as JCS, labelled apart from a head's. */
function acknowledgementSigningInput(kid: string, a: UnsignedAcknowledgement): Buffer {
  return Buffer.from(`jeugdbrug-audit-acknowledgement/1\n${kid}\n${canonicalizeJcs(acknowledgedBreakOf(a))}`, 'utf8');
}

export function signAcknowledgement(
  key: { readonly kid: string; readonly privateKey: KeyObject },
  a: UnsignedAcknowledgement,
): BreakAcknowledgement {
  const sig = sign(null, acknowledgementSigningInput(key.kid, a), key.privateKey).toString('base64url');
  return { ...a, kid: key.kid, sig };
}

function isValidAcknowledgement(a: BreakAcknowledgement, publicKeys: ReadonlyMap<string, KeyObject>): boolean {
  const key = publicKeys.get(a.kid);
  if (!key) {
    return false;
  }
  try {
    return verify(null, acknowledgementSigningInput(a.kid, a), key, Buffer.from(a.sig, 'base64url'));
  } catch {
    return false;
  }
}

export async function storeAcknowledgement(db: Db, a: BreakAcknowledgement): Promise<void> {
  await db.query(
    `INSERT INTO audit_chain_acknowledgement (tenant, acknowledged_at, acknowledged_by, broken_from_seq, broken_at_seq,
       problem, row_breaks, head_seq, head_hash, head_digest, kid, sig, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13)`,
    [
      a.tenant,
      a.acknowledgedAt,
      a.acknowledgedBy,
      a.brokenFromSeq,
      a.brokenAtSeq,
      a.problem,
      JSON.stringify(a.rowBreaks),
      a.headSeq,
      a.headHash,
      a.headDigest,
      a.kid,
      a.sig,
      a.reason ?? null,
    ],
  );
}

/**
 * Every acknowledgement on record (of the chains named, of all when none are), oldest first, with whether its
 * signature verifies with one of `publicKeys`: one that does not is shown for what it is and acknowledges nothing.
 */
export async function listAcknowledgements(
  db: Db,
  publicKeys: ReadonlyMap<string, KeyObject>,
  tenants?: readonly string[],
): Promise<(BreakAcknowledgement & { readonly valid: boolean })[]> {
  const rows = await db.query<{
    tenant: string;
    acknowledged_at: string;
    acknowledged_by: string;
    broken_from_seq: number;
    broken_at_seq: number;
    problem: string;
    row_breaks: RowBreak[] | string;
    head_seq: number;
    head_hash: string;
    head_digest: string;
    kid: string;
    sig: string;
    reason: string | null;
  }>(
    `SELECT tenant, acknowledged_at, acknowledged_by, broken_from_seq::float8 AS broken_from_seq,
       broken_at_seq::float8 AS broken_at_seq, problem, row_breaks, head_seq::float8 AS head_seq, head_hash,
       head_digest, kid, sig, reason
     FROM audit_chain_acknowledgement WHERE $1::text[] IS NULL OR tenant = ANY($1::text[])
     ORDER BY tenant, acknowledged_at`,
    [tenants ? [...tenants] : null],
  );
  return rows.map((r) => {
    const a: BreakAcknowledgement = {
      tenant: r.tenant,
      acknowledgedAt: r.acknowledged_at,
      acknowledgedBy: r.acknowledged_by,
      ...(r.reason === null ? {} : { reason: r.reason }),
      brokenFromSeq: r.broken_from_seq,
      brokenAtSeq: r.broken_at_seq,
      problem: r.problem,
      rowBreaks: typeof r.row_breaks === 'string' ? (JSON.parse(r.row_breaks) as RowBreak[]) : r.row_breaks,
      headSeq: r.head_seq,
      headHash: r.head_hash,
      headDigest: r.head_digest,
      kid: r.kid,
      sig: r.sig,
    };
    return { ...a, valid: isValidAcknowledgement(a, publicKeys) };
  });
}

/** The newest validly signed acknowledgement of each chain (of those named): what verification starts again from. */
export async function latestAcknowledgements(
  db: Db,
  publicKeys: ReadonlyMap<string, KeyObject>,
  tenants?: readonly string[],
): Promise<Map<string, BreakAcknowledgement>> {
  const latest = new Map<string, BreakAcknowledgement>();
  for (const a of await listAcknowledgements(db, publicKeys, tenants)) {
    if (a.valid) {
      latest.set(a.tenant, a);
    }
  }
  return latest;
}

/**
 * What an export, the API and the console say of an acknowledged break: all but the signature, field by field (a
 * field added later is not said, nor signed, until named here). Also what the signature covers.
 */
export function acknowledgedBreakOf(a: UnsignedAcknowledgement): UnsignedAcknowledgement {
  return {
    tenant: a.tenant,
    acknowledgedAt: a.acknowledgedAt,
    acknowledgedBy: a.acknowledgedBy,
    // Signed with the rest since migration 089; an acknowledgement without one signs and reads as before.
    ...(a.reason === undefined ? {} : { reason: a.reason }),
    brokenFromSeq: a.brokenFromSeq,
    brokenAtSeq: a.brokenAtSeq,
    problem: a.problem,
    rowBreaks: a.rowBreaks.map((b) => ({ seq: b.seq, problem: b.problem, rowDigest: b.rowDigest })),
    headSeq: a.headSeq,
    headHash: a.headHash,
    headDigest: a.headDigest,
  };
}
