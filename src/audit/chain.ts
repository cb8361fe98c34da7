import { createHash } from 'node:crypto';

/** The hash a tenant's chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON (keys sorted at every depth, no white space): the same event always hashes the same, whether it
 * comes from memory, from a PostgreSQL jsonb column, or from an export file.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** hash(n) = SHA-256(hash(n-1) + "\n" + seq + "\n" + canonical JSON of event n). */
export function chainHash(prevHash: string, seq: number, event: unknown): string {
  return createHash('sha256')
    .update(`${prevHash}\n${seq}\n${canonicalJson(event)}`)
    .digest('hex');
}

export interface ChainRow {
  readonly seq: number;
  readonly resource: unknown;
  readonly prevHash: string;
  readonly hash: string;
}

export type ChainVerdict =
  | { readonly ok: true; readonly rows: number; readonly headSeq: number; readonly headHash: string }
  | { readonly ok: false; readonly rows: number; readonly brokenAtSeq: number; readonly problem: string };

/**
 * Checks rows of one chain in order of seq: each links to the previous and hashes to what it claims.
 * `start` is where the rows begin: the genesis, or a recorded checkpoint after a retention purge.
 */
export function verifyChain(
  rows: Iterable<ChainRow>,
  start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): ChainVerdict {
  let prev = start;
  let count = 0;
  for (const row of rows) {
    count++;
    if (row.seq !== prev.seq + 1) {
      return { ok: false, rows: count, brokenAtSeq: row.seq, problem: `gap: expected seq ${prev.seq + 1}` };
    }
    if (row.prevHash !== prev.hash) {
      return { ok: false, rows: count, brokenAtSeq: row.seq, problem: 'prev_hash does not match the previous row' };
    }
    if (chainHash(row.prevHash, row.seq, row.resource) !== row.hash) {
      return { ok: false, rows: count, brokenAtSeq: row.seq, problem: 'content does not match its hash' };
    }
    prev = { seq: row.seq, hash: row.hash };
  }
  return { ok: true, rows: count, headSeq: prev.seq, headHash: prev.hash };
}
