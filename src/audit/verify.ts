import { setImmediate } from 'node:timers/promises';
import type { Db } from '../kernel/db';
import { ChainVerifier, GENESIS_HASH, type ChainRow, type ChainVerdict } from './chain';
import {
  columnDifferingFrom,
  columnsLine,
  COLUMNS_LINE_SQL,
  STORED_COLUMNS_SQL,
  storedColumnsOf,
  type ChainColumns,
  tryChainColumnsOf,
  type StoredColumnsRow,
} from './chain-columns';
import { indexedPartsOf } from './index-fields';
import { chainProblem } from './chain-problems';

/** Rows read per query while verifying: memory stays flat however long the chain is. */
const VERIFY_PAGE_SIZE = 2000;

export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly purgedAt: string;
  readonly purgedRows: number;
}

export type TenantVerdict = ChainVerdict & {
  readonly tenant: string;
  /** Where verification started when older rows were purged under the retention period. */
  readonly checkpoint?: Checkpoint | undefined;
};

/** The latest retention checkpoint of a chain: the last purged row's seq and hash. */
export async function tryGetCheckpoint(db: Db, tenant: string): Promise<Checkpoint | undefined> {
  const [cp] = await db.query<{ seq: number; hash: string; purged_at: Date; purged_rows: number }>(
    `SELECT seq::float8 AS seq, hash, purged_at, purged_rows::float8 AS purged_rows FROM audit_checkpoint
     WHERE tenant = $1 ORDER BY seq DESC LIMIT 1`,
    [tenant],
  );
  return cp
    ? { seq: cp.seq, hash: cp.hash, purgedAt: new Date(cp.purged_at).toISOString(), purgedRows: cp.purged_rows }
    : undefined;
}

/** The chain head as the writer last left it, or undefined for a tenant that never wrote. */
export async function tryGetChainHead(db: Db, tenant: string): Promise<{ seq: number; hash: string } | undefined> {
  const [head] = await db.query<{ seq: number; hash: string }>(
    'SELECT seq::float8 AS seq, hash FROM audit_chain_head WHERE tenant = $1',
    [tenant],
  );
  return head;
}

/** Every chain's head as the writer last left it, in order of tenant: one query for all chains. */
export async function listChainHeads(db: Db): Promise<{ tenant: string; seq: number; hash: string }[]> {
  return db.query<{ tenant: string; seq: number; hash: string }>(
    'SELECT tenant, seq::float8 AS seq, hash FROM audit_chain_head ORDER BY tenant',
  );
}

/** Every tenant with a chain. */
export async function listChainTenants(db: Db): Promise<string[]> {
  return (await db.query<{ tenant: string }>('SELECT tenant FROM audit_chain_head ORDER BY tenant')).map(
    (r) => r.tenant,
  );
}

/** A row as this process reads it to check it: links, format, stored text and search columns. */
interface StoredChainRow extends StoredColumnsRow {
  readonly seq: number;
  readonly chain_format: number;
  readonly resource: string;
  readonly prev_hash: string;
  readonly hash: string;
}

const STORED_ROW_SQL = `seq::float8 AS seq, chain_format, ${STORED_COLUMNS_SQL}, resource, prev_hash, hash`;

/**
 * Reads rows `(afterSeq, toSeq]` of a chain in pages of `pageSize`, in order of seq, as an export writes them: a
 * chain format 2 row with the columns line of its stored columns, which its hash covers.
 */
export async function* chainRows(
  db: Db,
  tenant: string,
  afterSeq: number,
  toSeq: number,
  pageSize = VERIFY_PAGE_SIZE,
): AsyncGenerator<ChainRow & { readonly recorded: string; readonly columnsLine?: string | undefined }> {
  let after = afterSeq;
  for (;;) {
    const page = await db.query<{
      seq: number;
      recorded: Date;
      columns_line: string | null;
      resource: unknown;
      prev_hash: string;
      hash: string;
    }>(
      `SELECT seq::float8 AS seq, recorded, CASE WHEN chain_format = 2 THEN ${COLUMNS_LINE_SQL} END AS columns_line,
         resource::json AS resource, prev_hash, hash FROM audit_event
       WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
      [tenant, after, toSeq, pageSize],
    );
    for (const r of page) {
      yield {
        seq: r.seq,
        recorded: new Date(r.recorded).toISOString(),
        prevHash: r.prev_hash,
        hash: r.hash,
        ...(r.columns_line === null ? {} : { columnsLine: r.columns_line }),
        resource: r.resource,
      };
    }
    const last = page.at(-1);
    if (!last || page.length < pageSize) {
      return;
    }
    after = last.seq;
  }
}

/** A stored resource's text parsed; text that is not JSON (the writer never stores any) hashes to nothing. */
function parseStored(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A row as the verifier hashes it: its stored text, parsed only if it does not hash as it stands (a row stored as
 * jsonb before migration 010, or a changed one). A class rather than an object with a getter per row: one of these
 * is made for every row verified here.
 */
class StoredRow implements ChainRow {
  private parsedText: { readonly value: unknown } | undefined;
  /** Set before a chain format 2 row is checked (`checkRow`); undefined for format 1. */
  columnsLine: string | null | undefined;

  constructor(
    readonly seq: number,
    readonly storedText: string,
    readonly prevHash: string,
    readonly hash: string,
  ) {}

  get resource(): unknown {
    this.parsedText ??= { value: parseStored(this.storedText) };
    return this.parsedText.value;
  }

  /**
   * The search columns its AuditEvent says the row has, or undefined when it is not an AuditEvent. Only the parts
   * they come from are read from canonical text (`indexedPartsOf`); other text is parsed whole.
   */
  expectedColumns(): ChainColumns | undefined {
    return tryChainColumnsOf(this.parsedText?.value ?? indexedPartsOf(this.storedText) ?? this.resource);
  }
}

/**
 * Checks one stored row here: its link and its hash, then its search columns against its AuditEvent. A chain format 2
 * row is hashed with the columns line of what its AuditEvent says, so a changed column is named as such rather than
 * taken for changed content: its content is proven first, as for format 1, and the columns compared with it after.
 */
function checkRow(verifier: ChainVerifier, r: StoredChainRow): boolean {
  const row = new StoredRow(r.seq, r.resource, r.prev_hash, r.hash);
  let expected: ChainColumns | undefined;
  if (r.chain_format === 2) {
    expected = row.expectedColumns();
    row.columnsLine = expected ? columnsLine(expected) : null;
  }
  if (!verifier.push(row)) {
    return false;
  }
  expected ??= row.expectedColumns();
  const column = expected ? columnDifferingFrom(storedColumnsOf(r), expected) : undefined;
  const problem = !expected ? chainProblem('not-audit-event') : column ? chainProblem('column', column) : undefined;
  if (problem) {
    verifier.fail(r.seq, problem);
    return false;
  }
  return true;
}

/** Rows fetched per round trip by the verifying cursor; the next batch is fetched while this one is hashed. */
const VERIFY_FETCH_ROWS = 1000;

/**
 * Streams the rows of a chain after the verifier's head up to `toSeq` through a server-side cursor (one query plan,
 * one index scan for the whole range) in batches, and checks each row here while PostgreSQL already produces the next
 * batch. Stops at the first problem. Runs in a transaction, which the cursor needs.
 */
async function checkRowsHere(
  db: Db,
  tenant: string,
  verifier: ChainVerifier,
  toSeq: number,
  fetchRows: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `DECLARE verify_chain NO SCROLL CURSOR FOR
       SELECT ${STORED_ROW_SQL} FROM audit_event WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
      [tenant, verifier.head.seq, toSeq],
    );
    const fetch = (): Promise<StoredChainRow[]> => tx.query<StoredChainRow>(`FETCH ${fetchRows} FROM verify_chain`);
    let next = fetch();
    for (;;) {
      const batch = await next;
      const more = batch.length === fetchRows;
      if (more) {
        next = fetch();
      }
      if (!batch.every((r) => checkRow(verifier, r)) || !more) {
        if (more) {
          await next;
        }
        break;
      }
    }
    await tx.query('CLOSE verify_chain');
  });
}

/** What PostgreSQL found in a range of a chain. */
interface RangeCheck {
  readonly rows: number;
  readonly last: { readonly seq: number; readonly hash: string } | undefined;
  /** The first row that does not link to the one before it, is not chain format 2, or does not hash right. */
  readonly firstBadSeq: number | undefined;
}

/** The link a range of rows continues: its hash when known, or null to take it from the row at `seq` as stored. */
interface Anchor {
  readonly seq: number;
  readonly hash: string | null;
}

/**
 * Checks rows `(anchor.seq, toSeq]` of a chain in PostgreSQL: each is chain format 2, links to the row before it
 * (its seq the next, its prev_hash that row's hash) and hashes, with its search columns, to its hash; only a count,
 * the last row and the first bad seq come back. An anchor without a hash is the row at its seq, checked with the
 * range before: it is read here only for the link of the first row, so the boundary between two ranges is checked
 * too. A missing anchor row leaves the first row's link null, which does not match.
 */
async function checkRangeInSql(db: Db, tenant: string, anchor: Anchor, toSeq: number): Promise<RangeCheck> {
  const [r] = await db.query<{
    rows: number;
    last_seq: number | null;
    last_hash: string | null;
    first_bad: number | null;
  }>(
    `SELECT count(*)::float8 AS rows, max(seq)::float8 AS last_seq,
       (SELECT e.hash FROM audit_event e WHERE e.tenant = $1 AND e.seq = max(r.seq)) AS last_hash,
       min(seq) FILTER (WHERE ok IS NOT TRUE)::float8 AS first_bad
     FROM (
       SELECT seq,
         seq = lag(seq, 1, $2::bigint) OVER w + 1 AND prev_hash = lag(hash, 1, $3::text) OVER w AND chain_format = 2
         AND encode(sha256(convert_to(prev_hash || E'\\n' || seq || E'\\n' || resource || E'\\n' || ${COLUMNS_LINE_SQL},
           'UTF8')), 'hex') = hash AS ok
       FROM audit_event WHERE tenant = $1 AND seq >= $4 AND seq <= $5
       WINDOW w AS (ORDER BY seq)
     ) r
     WHERE seq > $2`,
    [tenant, anchor.seq, anchor.hash, anchor.hash === null ? anchor.seq : anchor.seq + 1, toSeq],
  );
  return {
    rows: r?.rows ?? 0,
    last: r && r.last_seq !== null && r.last_hash !== null ? { seq: r.last_seq, hash: r.last_hash } : undefined,
    firstBadSeq: r?.first_bad ?? undefined,
  };
}

/**
 * How many ranges of a chain PostgreSQL checks at once, on a connection each: its CPU per row, not this process's, is
 * what limits verification, and the machine it is measured on has two cores.
 */
const SQL_RANGES = 2;

/** `parts` ranges of about equal length after `from` up to `toSeq`, each anchored on the last row of the one before. */
function splitRange(from: Anchor, toSeq: number, parts: number): { anchor: Anchor; toSeq: number }[] {
  const ranges: { anchor: Anchor; toSeq: number }[] = [];
  let anchor = from;
  for (let i = parts; i > 1; i--) {
    const to = anchor.seq + Math.floor((toSeq - anchor.seq) / i);
    if (to > anchor.seq) {
      ranges.push({ anchor, toSeq: to });
      anchor = { seq: to, hash: null };
    }
  }
  ranges.push({ anchor, toSeq });
  return ranges;
}

/** Said when PostgreSQL finds a row bad that this process finds good: the two sides' columns lines differ. */
const COLUMNS_LINE_DRIFT = chainProblem('columns-line-drift');

/**
 * The verdict on the first row PostgreSQL found bad, every row before it good: that row is checked here after the one
 * before it, which names its problem as verification in this process always has.
 */
async function diagnose(
  db: Db,
  tenant: string,
  start: { seq: number; hash: string },
  badSeq: number,
): Promise<ChainVerdict> {
  const [before] = await db.query<{ seq: number; hash: string }>(
    `SELECT seq::float8 AS seq, hash FROM audit_event WHERE tenant = $1 AND seq > $2 AND seq < $3
     ORDER BY seq DESC LIMIT 1`,
    [tenant, start.seq, badSeq],
  );
  const verifier = new ChainVerifier(before ?? start);
  await checkRowsHere(db, tenant, verifier, badSeq, 1);
  const [counted] = await db.query<{ rows: number }>(
    'SELECT count(*)::float8 AS rows FROM audit_event WHERE tenant = $1 AND seq > $2 AND seq <= $3',
    [tenant, start.seq, badSeq],
  );
  const v = verifier.verdict();
  return { ok: false, rows: counted?.rows ?? 0, brokenAtSeq: badSeq, problem: v.ok ? COLUMNS_LINE_DRIFT : v.problem };
}

/** The last chain format 1 row in `(afterSeq, toSeq]` (an index look-up), or undefined when there is none. */
async function tryGetLastFormat1Seq(
  db: Db,
  tenant: string,
  afterSeq: number,
  toSeq: number,
): Promise<number | undefined> {
  const [r] = await db.query<{ seq: number | null }>(
    `SELECT max(seq)::float8 AS seq FROM audit_event
     WHERE tenant = $1 AND seq > $2 AND seq <= $3 AND chain_format = 1`,
    [tenant, afterSeq, toSeq],
  );
  return r?.seq ?? undefined;
}

export interface VerifyOptions {
  /** Rows fetched per round trip where rows are checked in this process (chain format 1). */
  readonly pageSize?: number | undefined;
  /** Checks the rows up to this seq only; the chain head is not compared. */
  readonly upToSeq?: number | undefined;
  /** Starts from this row (a signed head) instead of the genesis or the retention checkpoint. */
  readonly from?: { seq: number; hash: string } | undefined;
  /** Checks the chain this many seqs at a time, the event loop free between pieces. */
  readonly segmentRows?: number | undefined;
  /** Checked between pieces: stops a long verification (shutdown) with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Checks rows `(start.seq, toSeq]` of a chain: up to the last chain format 1 row in this process, streamed through a
 * cursor, the rest in PostgreSQL, in `SQL_RANGES` pieces at once when `toSeq` is a bound (`bounded`). A verdict on
 * those rows only: whether they end where they should is the caller's to say.
 */
async function checkChain(
  db: Db,
  tenant: string,
  start: { seq: number; hash: string },
  toSeq: number,
  bounded: boolean,
  pageSize: number,
): Promise<ChainVerdict> {
  const lastFormat1 = await tryGetLastFormat1Seq(db, tenant, start.seq, toSeq);
  const here = new ChainVerifier(start);
  const [, ...ranges] = await Promise.all([
    lastFormat1 === undefined ? undefined : checkRowsHere(db, tenant, here, lastFormat1, pageSize),
    ...splitRange(
      lastFormat1 === undefined ? start : { seq: lastFormat1, hash: null },
      toSeq,
      bounded ? SQL_RANGES : 1,
    ).map((r) => checkRangeInSql(db, tenant, r.anchor, r.toSeq)),
  ]);
  const verdict = here.verdict();
  if (!verdict.ok) {
    return verdict;
  }
  let rows = verdict.rows;
  let last = { seq: verdict.headSeq, hash: verdict.headHash };
  for (const range of ranges) {
    if (range.firstBadSeq !== undefined) {
      return diagnose(db, tenant, start, range.firstBadSeq);
    }
    rows += range.rows;
    last = range.last ?? last;
  }
  return { ok: true, rows, headSeq: last.seq, headHash: last.hash };
}

/**
 * `checkChain` from `start` up to `end` (or every row, when there is no head), in pieces of `opts.segmentRows` seqs
 * when asked: each piece starts from the last row of the one before, so the links between them are checked too.
 */
async function checkChainInSegments(
  db: Db,
  tenant: string,
  start: { seq: number; hash: string },
  end: number | undefined,
  opts: VerifyOptions,
): Promise<ChainVerdict> {
  const pageSize = opts.pageSize ?? VERIFY_FETCH_ROWS;
  if (end === undefined || opts.segmentRows === undefined) {
    return checkChain(db, tenant, start, end ?? Number.MAX_SAFE_INTEGER, end !== undefined, pageSize);
  }
  let from = start;
  let to = start.seq;
  let rows = 0;
  for (;;) {
    to = Math.min(end, to + opts.segmentRows);
    const piece = await checkChain(db, tenant, from, to, true, pageSize);
    if (!piece.ok || to >= end) {
      return { ...piece, rows: rows + piece.rows };
    }
    rows += piece.rows;
    from = { seq: piece.headSeq, hash: piece.headHash };
    // Timers, I/O and requests run between two pieces.
    await setImmediate();
    opts.signal?.throwIfAborted();
  }
}

/**
 * Recomputes one tenant's chain from its genesis (or its latest retention checkpoint) up to the head the writer
 * recorded when verification began. Rows up to the last chain format 1 row are checked in this process, streamed
 * through a cursor; the rest (format 2, whose hash covers the search columns) in PostgreSQL, in two halves at once,
 * and only the first bad row found there is read here, to name its problem. Besides each link, it checks that no rows
 * are missing at the end and that the last row is the head the writer recorded: deleting the newest rows leaves no
 * broken link behind. With `upToSeq`, only the rows up to there are checked (the retention purge checks what it is
 * about to delete). With `segmentRows`, the chain is checked `segmentRows` seqs at a time, each piece in queries of
 * their own with the event loop free in between: no connection is held for the whole chain (the scheduled full
 * verification, full-verify.ts).
 */
export async function verifyTenant(db: Db, tenant: string, opts: VerifyOptions = {}): Promise<TenantVerdict> {
  const verdict = await verifyTenantOnce(db, tenant, opts);
  if (verdict.ok || opts.from !== undefined || opts.upToSeq !== undefined) {
    return verdict;
  }
  // A retention purge that committed while this ran deleted rows it read the chain from: the chain starts at the new
  // checkpoint now. Verified again from there (once), as the next verification would, instead of a false alarm.
  const now = await tryGetCheckpoint(db, tenant);
  return (now?.seq ?? 0) !== (verdict.checkpoint?.seq ?? 0) ? verifyTenantOnce(db, tenant, opts) : verdict;
}

async function verifyTenantOnce(db: Db, tenant: string, opts: VerifyOptions): Promise<TenantVerdict> {
  const checkpoint = await tryGetCheckpoint(db, tenant);
  // The head first: rows appended while we verify are beyond it and left for the next run.
  const head = await tryGetChainHead(db, tenant);
  const start =
    opts.from ?? (checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash } : { seq: 0, hash: GENESIS_HASH });
  const end = opts.upToSeq ?? head?.seq;
  let verdict = await checkChainInSegments(db, tenant, start, end, opts);
  if (verdict.ok && end !== undefined) {
    if (verdict.headSeq < end) {
      verdict = {
        ok: false,
        rows: verdict.rows,
        brokenAtSeq: verdict.headSeq + 1,
        problem: chainProblem('rows-missing', verdict.headSeq + 1, end, head?.seq ?? '-'),
      };
    } else if (opts.upToSeq === undefined && head && verdict.headHash !== head.hash) {
      verdict = {
        ok: false,
        rows: verdict.rows,
        brokenAtSeq: head.seq,
        problem: chainProblem('head-mismatch'),
      };
    }
  }
  if (
    verdict.ok &&
    checkpoint &&
    opts.from === undefined &&
    opts.upToSeq === undefined &&
    !(await hasPurgeEvent(db, tenant, checkpoint.seq))
  ) {
    verdict = {
      ok: false,
      rows: verdict.rows,
      brokenAtSeq: checkpoint.seq,
      problem: chainProblem('purge-unrecorded', checkpoint.seq),
    };
  }
  return { tenant, ...verdict, ...(checkpoint ? { checkpoint } : {}) };
}

/**
 * Whether the chain records the retention purge up to `seq` (operator action `purge`, target
 * `audit_checkpoint/<tenant>/<seq>`, written by the retention run in the transaction that deleted the rows): a checkpoint
 * inserted by hand, with the rows deleted under the purge's session flag, has none.
 */
async function hasPurgeEvent(db: Db, tenant: string, seq: number): Promise<boolean> {
  const [r] = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT FROM audit_event WHERE tenant = $1 AND seq > $2 AND subtype = 'purge'
       AND entities @> ARRAY[$3::text]) AS found`,
    [tenant, seq, `audit_checkpoint/${tenant}/${seq}`],
  );
  return r?.found ?? false;
}
