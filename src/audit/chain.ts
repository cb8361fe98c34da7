import { createHash, hash } from 'node:crypto';
import { chainProblem } from './chain-problems';

/** The hash a tenant's chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** What JSON.stringify escapes in a string: control characters, quote, backslash, and (lone) surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * A string as a JSON string literal; most strings need no escaping, and those skip JSON.stringify. The regular
 * expression finds one faster than a loop over the characters does.
 */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * Quoted keys followed by their colon, by key, and the same after a comma: an AuditEvent has a few dozen distinct
 * keys, repeated in every row.
 */
const quotedKeys = new Map<string, string>();
const quotedLaterKeys = new Map<string, string>();

function quoteKey(key: string, later: boolean): string {
  const cache = later ? quotedLaterKeys : quotedKeys;
  let q = cache.get(key);
  if (q === undefined) {
    q = `${later ? ',' : ''}${JSON.stringify(key)}:`;
    if (cache.size < 10_000) {
      cache.set(key, q);
    }
  }
  return q;
}

/**
 * The keys of an object in UTF-16 code unit order (as comparing with < does). Insertion sort: objects in an
 * AuditEvent have a handful of keys, often already in order, where it beats Array.prototype.sort.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/**
 * Canonical texts of deeply frozen objects and arrays, which can never change: the codings, sources and agents that
 * the AuditEvent builders share between events (src/audit/audit-events.ts) are serialised once, not in every row.
 */
const canonicalOfFrozen = new WeakMap<object, string>();

/**
 * Objects and arrays serialised so far that are not frozen. A frozen object is cached only when this did not move
 * while it was serialised: none of its descendants can change either.
 */
let unfrozenSeen = 0;

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): keys sorted by UTF-16 code units at every depth, no white space,
 * strings and numbers serialised as ECMAScript's JSON.stringify does (which is what JCS prescribes). The same event
 * always hashes the same, whether it comes from memory, a PostgreSQL jsonb column or an export file, and an auditor
 * can recompute it with any JCS library (tests/unit/audit/jcs.test.ts checks the RFC's examples and compares with the
 * `canonicalize` reference implementation). Written out rather than calling that library because it runs for every
 * audit row written and verified. One deliberate difference outside JSON's domain: a non-finite number (which JSON
 * cannot hold, and jsonb would store as null) is written as null instead of being refused, so the writer never fails.
 */
export function canonicalizeJcs(value: unknown): string {
  if (typeof value !== 'object' || value === null) {
    return canonicalScalar(value);
  }
  // The pieces are collected in one list and joined once: built by `+=`, the text would be a tree of a few hundred
  // pieces that is flattened (copied piece by piece, measured: 8 µs of a 2,500 character AuditEvent's 20) the first
  // time it is written out or hashed. Joined, it is one flat string from the start.
  const pieces: string[] = [];
  writeValue(value, pieces);
  return pieces.length === 1 ? (pieces[0] as string) : pieces.join('');
}

/** A string, number, boolean, null or anything else that is not an object, as canonical JSON. */
function canonicalScalar(value: unknown): string {
  if (typeof value === 'string') {
    return quote(value);
  }
  return JSON.stringify(value) ?? 'null';
}

/** Adds the canonical text of `value` to `pieces`; a frozen object's from the cache when it has been written before. */
function writeValue(value: unknown, pieces: string[]): void {
  if (typeof value !== 'object' || value === null) {
    pieces.push(canonicalScalar(value));
    return;
  }
  if (!Object.isFrozen(value)) {
    unfrozenSeen++;
    writeObject(value, pieces);
    return;
  }
  const cached = canonicalOfFrozen.get(value);
  if (cached !== undefined) {
    pieces.push(cached);
    return;
  }
  const before = unfrozenSeen;
  const from = pieces.length;
  writeObject(value, pieces);
  if (unfrozenSeen === before) {
    // Its pieces become the one cached text, which later rows add as one piece.
    const text = pieces.length - from === 1 ? (pieces[from] as string) : pieces.slice(from).join('');
    pieces.length = from;
    pieces.push(text);
    canonicalOfFrozen.set(value, text);
  }
}

function writeObject(value: object, pieces: string[]): void {
  // Plain loops: this runs for every audit row written and verified.
  if (Array.isArray(value)) {
    pieces.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) {
        pieces.push(',');
      }
      writeValue(value[i], pieces);
    }
    pieces.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  // Default sort order compares UTF-16 code units, the same order as comparing with < and >.
  const keys = sortedKeys(record);
  pieces.push('{');
  let first = true;
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) {
      continue;
    }
    pieces.push(quoteKey(key, !first));
    writeValue(v, pieces);
    first = false;
  }
  pieces.push('}');
}

/**
 * Chain format 1: hash(n) = SHA-256(hash(n-1) + "\n" + seq + "\n" + RFC 8785 canonical JSON of event n).
 * Chain format 2, with `columnsLine` (src/audit/chain-columns.ts): the same text + "\n" + the row's search columns.
 */
export function chainHash(prevHash: string, seq: number, event: unknown, columnsLine?: string): string {
  return chainHashOfCanonical(prevHash, seq, canonicalizeJcs(event), columnsLine);
}

/**
 * `chainHash` for an event already in canonical JSON, as text (verification hashes the stored text unchanged). The
 * writer lays its rows out as bytes instead (`layOutRow`).
 */
export function chainHashOfCanonical(prevHash: string, seq: number, canonical: string, columnsLine?: string): string {
  // The one-shot hash spares creating a Hash object per row.
  const tail = columnsLine === undefined ? '' : `\n${columnsLine}`;
  return hash('sha256', `${prevHash}\n${seq}\n${canonical}${tail}`, 'hex');
}

/**
 * Bytes left free in front of a row laid out for hashing (`layOutRow`), for the `prevHash\nseq\n` its hash starts
 * with: a 64-character hash, a sequence number of up to 16 digits (every safe integer) and two line breaks.
 */
export const HASH_PREFIX_ROOM = 82;

/**
 * A chain format 2 row laid out for hashing in one buffer: `HASH_PREFIX_ROOM` free bytes, the canonical JSON, a line
 * break and the columns line, all as UTF-8. Its hash is then one call over one buffer (`chainHashOfLaidOut`): hashing
 * the prefix, the canonical bytes, the line break and the columns line in separate updates of a Hash object cost
 * about twice as much (measured: 6.2 against 3.3 µs per row of 2,900 bytes).
 */
export interface LaidOutRow {
  readonly bytes: Buffer;
  /** The canonical JSON's UTF-8 bytes: a view into `bytes`, stored as the row's text. */
  readonly canonical: Buffer;
}

/**
 * Rows are laid out in slabs of this many bytes: Node's own pool for small buffers holds 8 KiB, two rows of an
 * AuditEvent, so every other row allocated a new one (measured: 4 % of the writer's CPU). A slab lives as long as a
 * row laid out in it is retained, until its group commit: rows commit in the order they are laid out.
 */
const SLAB_BYTES = 256 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

/** `n` bytes not zeroed, from the current slab (a new one when it is full), or on their own when they are many. */
function allocateRow(n: number): Buffer {
  if (n > SLAB_BYTES / 8) {
    return Buffer.allocUnsafeSlow(n);
  }
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return bytes;
}

export function layOutRow(canonical: string, columnsLine: string): LaidOutRow {
  const canonicalBytes = Buffer.byteLength(canonical);
  const lineAt = HASH_PREFIX_ROOM + canonicalBytes + 1;
  const bytes = allocateRow(lineAt + Buffer.byteLength(columnsLine));
  bytes.write(canonical, HASH_PREFIX_ROOM);
  bytes[lineAt - 1] = 0x0a;
  bytes.write(columnsLine, lineAt);
  return { bytes, canonical: bytes.subarray(HASH_PREFIX_ROOM, lineAt - 1) };
}

/**
 * `chainHash` of a row laid out by `layOutRow`: the same bytes hashed, the prefix written into the room in front of
 * them (overwriting what an earlier call wrote there). A prefix that does not fit (a head hash that is not 64
 * characters, which the writer never makes) is hashed in front of them instead.
 */
export function chainHashOfLaidOut(prevHash: string, seq: number, row: LaidOutRow): string {
  const prefix = `${prevHash}\n${seq}\n`;
  const start = HASH_PREFIX_ROOM - Buffer.byteLength(prefix);
  if (start < 0) {
    return createHash('sha256').update(prefix).update(row.bytes.subarray(HASH_PREFIX_ROOM)).digest('hex');
  }
  row.bytes.write(prefix, start);
  return hash('sha256', row.bytes.subarray(start), 'hex');
}

export interface ChainRow {
  readonly seq: number;
  readonly resource: unknown;
  /**
   * The row's stored JSON text, when the caller has it. The writer stores the canonical text it hashed, so hashing
   * this is enough when it matches; only text that does not (rows stored as jsonb before migration 010, or a changed
   * row) is re-canonicalised from `resource`, which then decides.
   */
  readonly storedText?: string | undefined;
  /**
   * Absent for a chain format 1 row. For a format 2 row the search columns' line that its hash covers; null when its
   * content is not an AuditEvent the columns can be taken from, which the writer never hashed.
   */
  readonly columnsLine?: string | null | undefined;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * Whether the row's content hashes to what it claims. Accepting either the stored text or its canonical form is as
 * strict as canonicalising always: text that hashes right is the hashed content itself, byte for byte. Only chain
 * format 1 rows may hold other text (rows stored as jsonb before migration 010); a format 2 row's stored text is the
 * text its hash covers, as PostgreSQL checks it (src/audit/verify.ts).
 */
function contentMatches(row: ChainRow): boolean {
  const { columnsLine, storedText } = row;
  if (columnsLine === null) {
    return false;
  }
  if (storedText !== undefined) {
    return (
      chainHashOfCanonical(row.prevHash, row.seq, storedText, columnsLine) === row.hash ||
      (columnsLine === undefined && chainHash(row.prevHash, row.seq, row.resource) === row.hash)
    );
  }
  return chainHash(row.prevHash, row.seq, row.resource, columnsLine) === row.hash;
}

export type ChainVerdict =
  | { readonly ok: true; readonly rows: number; readonly headSeq: number; readonly headHash: string }
  | { readonly ok: false; readonly rows: number; readonly brokenAtSeq: number; readonly problem: string };

/**
 * Checks rows of one chain one at a time, in order of seq, so a chain of any length can be verified in pages without
 * holding it in memory. Stops at the first broken link: later rows cannot be trusted once one is wrong.
 */
export class ChainVerifier {
  private prev: { seq: number; hash: string };
  private count = 0;
  private broken: { seq: number; problem: string } | undefined;

  /** `start` is where the rows begin: the genesis, or a recorded checkpoint after a retention purge. */
  constructor(start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
    this.prev = { seq: start.seq, hash: start.hash };
  }

  /** Checks the next row; returns false once the chain is broken (here or before). */
  push(row: ChainRow): boolean {
    if (this.broken) {
      return false;
    }
    this.count++;
    const problem =
      row.seq !== this.prev.seq + 1
        ? chainProblem('gap', this.prev.seq + 1)
        : row.prevHash !== this.prev.hash
          ? chainProblem('prev-hash')
          : !contentMatches(row)
            ? chainProblem('content-hash')
            : undefined;
    if (problem) {
      this.broken = { seq: row.seq, problem };
      return false;
    }
    this.prev = { seq: row.seq, hash: row.hash };
    return true;
  }

  /**
   * Reports a problem found outside the rows themselves (rows missing after the last one, a head that disagrees);
   * the first problem wins.
   */
  fail(seq: number, problem: string): void {
    this.broken ??= { seq, problem };
  }

  /** The last good link: where the chain stands so far. */
  get head(): { seq: number; hash: string } {
    return this.prev;
  }

  get ok(): boolean {
    return this.broken === undefined;
  }

  verdict(): ChainVerdict {
    return this.broken
      ? { ok: false, rows: this.count, brokenAtSeq: this.broken.seq, problem: this.broken.problem }
      : { ok: true, rows: this.count, headSeq: this.prev.seq, headHash: this.prev.hash };
  }
}

/**
 * Checks rows of one chain in order of seq: each links to the previous and hashes to what it claims.
 * `start` is where the rows begin: the genesis, or a recorded checkpoint after a retention purge.
 */
export function verifyChain(
  rows: Iterable<ChainRow>,
  start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): ChainVerdict {
  const verifier = new ChainVerifier(start);
  for (const row of rows) {
    if (!verifier.push(row)) {
      break;
    }
  }
  return verifier.verdict();
}
