import { createHash } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import { rowDigests, type BreakAcknowledgement } from '../../audit/acknowledgements';
import { parseCsv } from '../../kernel/csv';
import type { Db } from '../../kernel/db';
import { canonicalizeJcs, ChainVerifier, type ChainVerdict } from '../../audit/chain';
import { chainProblem } from '../../audit/chain-problems';
import { columnsLine, tryChainColumnsOf } from '../../audit/chain-columns';
import { indexFieldsOf } from '../../audit/index-fields';
import type { SignedHead } from '../../audit/signed-heads';
import { chainRows, tryGetChainHead } from '../../audit/verify';

/**
 * Exports of one tenant's chain for a period, verifiable offline (`npm run audit-verify -- verify-export <file>`).
 *
 * A period is exported as a contiguous piece of the chain: from the first row recorded at or after `from` to the
 * last row recorded before `to`, with every row in between (rows are chained by seq, and a row committed a moment
 * late may carry a slightly earlier time, so the piece can hold a few rows just outside the period). The metadata
 * names the hash before the first row (`prevHash`) and the hash of the last (`headHash`), so a verifier can check
 * every link and compare the end with a head it knows from elsewhere (`GET /audit/v1/verify`, an earlier export).
 */

export const EXPORT_FORMAT = 'jeugdbrug-audit-export';
/**
 * Version 2 carries the columns line of chain format 2 rows (NDJSON `columnsLine`, CSV `columns_line`); version 3's
 * `signedHead` signs the whole metadata line (its start too), where 1 and 2 signed its end alone.
 */
export const EXPORT_VERSION = 3;
/** Versions the verifier reads: files of version 1 hold chain format 1 rows only. */
const READABLE_VERSIONS = [1, 2, EXPORT_VERSION] as const;

/** What an export states of an acknowledged break (acknowledgements.ts `acknowledgedBreakOf`). */
export interface AcknowledgedBreakInExport {
  readonly acknowledgedAt: string;
  readonly acknowledgedBy: string;
  readonly brokenFromSeq: number;
  readonly brokenAtSeq: number;
  readonly problem: string;
  readonly rowBreaks: readonly { readonly seq: number; readonly problem: string }[];
  readonly headSeq: number;
  readonly headHash: string;
}

export interface ExportMeta {
  readonly format: typeof EXPORT_FORMAT;
  /** What this build writes is EXPORT_VERSION; the verifier reads the earlier ones too. */
  readonly version: (typeof READABLE_VERSIONS)[number];
  readonly tenant: string;
  readonly from: string | null;
  readonly to: string | null;
  /** First and last exported seq; null when the period holds no rows. */
  readonly fromSeq: number | null;
  readonly toSeq: number | null;
  /** Hash of the row before the first exported one (the genesis hash or a checkpoint when that is where it starts). */
  readonly prevHash: string | null;
  /** Hash of the last exported row. */
  readonly headHash: string | null;
  readonly rows: number;
  /** The whole chain's head when the export was made. */
  readonly chainHead: { readonly seq: number; readonly hash: string } | null;
  readonly exportedAt: string;
  /**
   * A break in the exported rows that an auditor acknowledged (`POST /audit/v1/acknowledge`): which rows, what, who
   * and when, and the head it was acknowledged at. Covered by the signature; the verifier reports it, and the rows
   * it names broken (`rowBreaks`) as acknowledged, not as a failure.
   */
  readonly acknowledgedBreak?: AcknowledgedBreakInExport | undefined;
  /**
   * The exported rows the acknowledged break names broken, each with `exportRowDigest` of the row as exported (and as
   * acknowledged: the export is refused when a row no longer has the `rowDigest` it was acknowledged with). The
   * verifier takes a broken row as acknowledged only when it has that digest: a row changed again, at the same seq,
   * is not. (`rowDigest` itself hashes the stored text and columns, which an export does not carry.)
   */
  readonly acknowledgedRows?: readonly AcknowledgedRow[] | undefined;
  /**
   * The export signed with the audit signing key: its whole metadata line but this field (docs/audit.md), naming its
   * end (tenant, toSeq, headHash) as a signed chain head does. Checked offline.
   */
  readonly signedHead?: SignedHead | undefined;
}

/** A row an acknowledged break names broken, as exported: its seq and `exportRowDigest`. */
export interface AcknowledgedRow {
  readonly seq: number;
  readonly digest: string;
}

/**
 * A SHA-256 (hex) of a row as an export carries it (seq, recorded, prevHash, hash, columnsLine, resource; RFC 8785),
 * the same from its NDJSON line and its CSV line: what an offline verifier can compute of an acknowledged broken row.
 */
export function exportRowDigest(row: ExportRow): string {
  const { seq, recorded, prevHash, hash, columnsLine: line, resource } = row;
  return createHash('sha256')
    .update(canonicalizeJcs({ seq, recorded, prevHash, hash, columnsLine: line, resource }), 'utf8')
    .digest('hex');
}

/**
 * The rows of `meta`'s piece that the acknowledgement `ack` names broken, each with its `exportRowDigest`; or the
 * first of them that no longer has the `rowDigest` it was acknowledged with (changed again since: a new break). Read
 * before the stored digests are compared, so a row changed in between is caught by one or the other.
 */
export async function acknowledgedRowsOf(
  db: Db,
  meta: ExportMeta,
  ack: Pick<BreakAcknowledgement, 'rowBreaks'>,
): Promise<{ rows: AcknowledgedRow[] } | { changedSeq: number }> {
  const { fromSeq, toSeq } = meta;
  const named = ack.rowBreaks.filter((b) => fromSeq !== null && toSeq !== null && b.seq >= fromSeq && b.seq <= toSeq);
  const rows: AcknowledgedRow[] = [];
  for (const b of named) {
    for await (const row of chainRows(db, meta.tenant, b.seq - 1, b.seq)) {
      rows.push({ seq: row.seq, digest: exportRowDigest(row) });
    }
  }
  const stored = await rowDigests(
    db,
    meta.tenant,
    named.map((b) => b.seq),
  );
  const changed = named.find((b) => stored.get(b.seq) !== b.rowDigest);
  return changed ? { changedSeq: changed.seq } : { rows };
}

export interface ExportRow {
  readonly seq: number;
  readonly recorded: string;
  readonly prevHash: string;
  readonly hash: string;
  /** A chain format 2 row's search columns as its hash covers them (docs/audit.md); absent for format 1. */
  readonly columnsLine?: string | undefined;
  readonly resource: unknown;
}

/** Works out which piece of the chain a period covers; cheap (index look-ups only). */
export async function exportMeta(
  db: Db,
  tenant: string,
  period: { from?: string | undefined; to?: string | undefined },
  now = new Date(),
): Promise<ExportMeta> {
  const head = await tryGetChainHead(db, tenant);
  const [bounds] = await db.query<{ from_seq: number | null; to_seq: number | null }>(
    `SELECT
       (SELECT min(seq)::float8 FROM audit_event WHERE tenant = $1 AND ($2::timestamptz IS NULL OR recorded >= $2)) AS from_seq,
       (SELECT max(seq)::float8 FROM audit_event WHERE tenant = $1 AND ($3::timestamptz IS NULL OR recorded < $3)
          AND seq <= $4) AS to_seq`,
    [tenant, period.from ?? null, period.to ?? null, head?.seq ?? 0],
  );
  const fromSeq = bounds?.from_seq ?? null;
  const toSeq = bounds?.to_seq ?? null;
  const empty = fromSeq === null || toSeq === null || fromSeq > toSeq;
  let prevHash: string | null = null;
  let headHash: string | null = null;
  if (!empty) {
    const ends = await db.query<{ seq: number; prev_hash: string; hash: string }>(
      'SELECT seq::float8 AS seq, prev_hash, hash FROM audit_event WHERE tenant = $1 AND seq IN ($2, $3)',
      [tenant, fromSeq, toSeq],
    );
    prevHash = ends.find((e) => e.seq === fromSeq)?.prev_hash ?? null;
    headHash = ends.find((e) => e.seq === toSeq)?.hash ?? null;
  }
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    tenant,
    from: period.from ?? null,
    to: period.to ?? null,
    fromSeq: empty ? null : fromSeq,
    toSeq: empty ? null : toSeq,
    prevHash,
    headHash,
    rows: empty ? 0 : toSeq - fromSeq + 1,
    chainHead: head ? { seq: head.seq, hash: head.hash } : null,
    exportedAt: now.toISOString(),
  };
}

/** The exported rows, read page by page. */
export async function* exportRows(db: Db, meta: ExportMeta): AsyncGenerator<ExportRow> {
  if (meta.fromSeq === null || meta.toSeq === null) {
    return;
  }
  yield* chainRows(db, meta.tenant, meta.fromSeq - 1, meta.toSeq);
}

// NDJSON: the metadata on the first line, then one row per line.

export function ndjsonHeader(meta: ExportMeta): string {
  return `${JSON.stringify(meta)}\n`;
}

export function ndjsonRow(row: ExportRow): string {
  const { seq, recorded, prevHash, hash, columnsLine: line, resource } = row;
  return `${JSON.stringify({ seq, recorded, prevHash, hash, columnsLine: line, resource })}\n`;
}

// CSV (RFC 4180), for spreadsheets: one row per AuditEvent with the columns an auditor filters on, the full
// resource as JSON in the last column, and the metadata in a trailer line whose first cell is `#chain`.

export const CSV_COLUMNS = [
  'seq',
  'recorded',
  'type',
  'subtype',
  'action',
  'outcome',
  'patient_bsn',
  'agents',
  'entities',
  'prev_hash',
  'hash',
  'columns_line',
  'resource',
] as const;

/** The header of version 1 files, which had no columns lines. */
const CSV_COLUMNS_V1 = CSV_COLUMNS.filter((c) => c !== 'columns_line');

export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One CSV line; the filter columns are derived from the resource, exactly as the index columns are. */
export function csvRow(row: ExportRow): string {
  const event = row.resource as AuditEvent;
  const f = indexFieldsOf(event);
  return `${[
    String(row.seq),
    row.recorded,
    f.type,
    f.subtype ?? '',
    event.action ?? '',
    f.outcome,
    f.patientBsn ?? '',
    f.agents.join(' '),
    f.entities.join(' '),
    row.prevHash,
    row.hash,
    row.columnsLine ?? '',
    JSON.stringify(row.resource),
  ]
    .map(csvCell)
    .join(',')}\r\n`;
}

export function csvTrailer(meta: ExportMeta): string {
  return `#chain,${csvCell(JSON.stringify(meta))}\r\n`;
}

export type ExportVerdict =
  | (Extract<ChainVerdict, { ok: true }> & {
      readonly tenant: string;
      readonly fromSeq: number | null;
      /** The acknowledged break the metadata states, and the exported rows found broken as it says. */
      readonly acknowledgedBreak?: AcknowledgedBreakInExport;
      readonly acknowledgedBrokenRows?: readonly number[];
    })
  | {
      readonly ok: false;
      readonly problem: string;
      readonly brokenAtSeq?: number | undefined;
      readonly line?: number | undefined;
    };

function isMeta(v: unknown): v is ExportMeta {
  const m = v as Partial<Record<keyof ExportMeta, unknown>> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    m.format === EXPORT_FORMAT &&
    (READABLE_VERSIONS as readonly unknown[]).includes(m.version) &&
    typeof m.tenant === 'string' &&
    (m.fromSeq === null || typeof m.fromSeq === 'number') &&
    (m.toSeq === null || typeof m.toSeq === 'number') &&
    (m.prevHash === null || typeof m.prevHash === 'string') &&
    (m.headHash === null || typeof m.headHash === 'string') &&
    typeof m.rows === 'number'
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function asRow(v: unknown): ExportRow | undefined {
  const r = v as Partial<Record<keyof ExportRow, unknown>> | null;
  return typeof r === 'object' &&
    r !== null &&
    typeof r.seq === 'number' &&
    typeof r.prevHash === 'string' &&
    typeof r.hash === 'string' &&
    r.resource !== undefined
    ? {
        seq: r.seq,
        recorded: typeof r.recorded === 'string' ? r.recorded : '',
        prevHash: r.prevHash,
        hash: r.hash,
        columnsLine: typeof r.columnsLine === 'string' ? r.columnsLine : undefined,
        resource: r.resource,
      }
    : undefined;
}

/** Rows found broken in one export before it is given up on. */
const MAX_BREAKS = 1000;

type Problem = {
  problem: string;
  brokenAtSeq?: number | undefined;
  line?: number | undefined;
  /** Of a broken row: `exportRowDigest`, which an acknowledged break must state for it. */
  digest?: string | undefined;
};

/**
 * Checks an export file line by line, so a file of any size is verified in constant memory: every row links to the
 * one before and hashes to what it claims, the first links to the stated `prevHash`, and the rows run from
 * `fromSeq` to `toSeq` ending in `headHash`. With `expectHead`, the end must also be a head the auditor obtained
 * elsewhere (`GET /audit/v1/verify`, an earlier export): only that rules out a file rewritten from start to end.
 * NDJSON and CSV are told apart by the first line.
 */
export class ExportFileVerifier {
  private lineNo = 0;
  private format: 'ndjson' | 'csv' | undefined;
  /** The CSV header read: the columns of this version. */
  private csvColumns: readonly string[] = CSV_COLUMNS;
  private meta: ExportMeta | undefined;
  private chain: ChainVerifier | undefined;
  private first: { seq: number; prevHash: string } | undefined;
  private count = 0;
  private problem: Problem | undefined;
  /**
   * Rows found broken, the chain checked on from each one's stored hash: a break the metadata states acknowledged
   * is reported, any other fails the file (known only at the end of a CSV, whose metadata is its trailer). Bounded:
   * past `MAX_BREAKS` the file fails.
   */
  private readonly breaks: Problem[] = [];
  /** Physical CSV lines of a record whose quoted cell spans lines. */
  private pending: string[] = [];
  private pendingStart = 0;

  constructor(private readonly expectHead?: string) {}

  /** Feeds one physical line, without its line ending. */
  line(text: string): void {
    this.lineNo++;
    if (this.problem) {
      return;
    }
    if (this.format === undefined) {
      this.format = text.trimStart().startsWith('{') ? 'ndjson' : 'csv';
      if (this.format === 'ndjson') {
        const meta = parseJson(text);
        if (!isMeta(meta)) {
          this.fail({ problem: 'the first line is not export metadata', line: this.lineNo });
        } else {
          this.meta = meta;
        }
      } else {
        const header = text.replace(/\r$/, '');
        const columns = [CSV_COLUMNS, CSV_COLUMNS_V1].find((c) => c.join(',') === header);
        if (columns) {
          this.csvColumns = columns;
        } else {
          this.fail({ problem: `the first line is not the column header ${CSV_COLUMNS.join(',')}`, line: this.lineNo });
        }
      }
      return;
    }
    if (this.format === 'ndjson') {
      if (text.trim() === '') {
        return;
      }
      const row = asRow(parseJson(text));
      if (!row) {
        this.fail({ problem: 'not a well-formed row', line: this.lineNo });
      } else {
        this.row(row);
      }
      return;
    }
    this.csvLine(text);
  }

  private csvLine(text: string): void {
    if (this.pending.length === 0) {
      this.pendingStart = this.lineNo;
    }
    this.pending.push(text);
    const record = this.pending.join('\n');
    // An odd number of quotes means a quoted cell goes on on the next line.
    if ((record.match(/"/g)?.length ?? 0) % 2 === 1) {
      return;
    }
    this.pending = [];
    const line = this.pendingStart;
    if (record.replace(/\r$/, '') === '') {
      return;
    }
    const [cells = []] = parseCsv(record.replace(/\r$/, ''), ',').map((r) => r.fields);
    if (this.meta) {
      this.fail({ problem: 'lines after the #chain trailer', line });
      return;
    }
    if (cells[0] === '#chain') {
      const m = parseJson(cells[1] ?? '');
      if (!isMeta(m)) {
        this.fail({ problem: 'the #chain trailer is malformed', line });
      } else {
        this.meta = m;
      }
      return;
    }
    const col = (name: (typeof CSV_COLUMNS)[number]): number => this.csvColumns.indexOf(name);
    const seq = Number(cells[col('seq')]);
    const resource = parseJson(cells[col('resource')] ?? '');
    if (cells.length !== this.csvColumns.length || !Number.isSafeInteger(seq) || resource === undefined) {
      this.fail({ problem: 'not a well-formed row', line });
      return;
    }
    const row: ExportRow = {
      seq,
      recorded: cells[col('recorded')] ?? '',
      prevHash: cells[col('prev_hash')] ?? '',
      hash: cells[col('hash')] ?? '',
      columnsLine: cells[col('columns_line')] || undefined,
      resource,
    };
    // Only the resource is hashed: the columns beside it must say the same, or a spreadsheet could show a lie.
    const mismatch = columnMismatch(resource, cells, col);
    if (mismatch) {
      const problem = `column ${mismatch} does not match the resource`;
      this.broken({ problem, brokenAtSeq: seq, line, digest: exportRowDigest(row) });
    }
    this.row(row, line);
  }

  private row(row: ExportRow, line = this.lineNo): void {
    this.count++;
    if (!this.chain) {
      this.first = { seq: row.seq, prevHash: row.prevHash };
      this.chain = new ChainVerifier({ seq: row.seq - 1, hash: row.prevHash });
    }
    if (!this.chain.push(row)) {
      const v = this.chain.verdict();
      const digest = exportRowDigest(row);
      this.broken(
        v.ok ? { problem: 'unexpected', line } : { problem: v.problem, brokenAtSeq: v.brokenAtSeq, line, digest },
      );
      // Checked on from this row as it is stored: the rows after it must link up to it.
      this.chain = new ChainVerifier({ seq: row.seq, hash: row.hash });
    } else if (row.columnsLine !== undefined && row.columnsLine !== columnsLineOf(row.resource)) {
      // The hash proves the line is what was written; this, that it says what the AuditEvent says.
      const digest = exportRowDigest(row);
      this.broken({ problem: 'the columns line does not match the resource', brokenAtSeq: row.seq, line, digest });
    }
  }

  /** A row found broken: fine only when the metadata states it among an acknowledged break's rows (`finish`). */
  private broken(p: Problem): void {
    if (this.breaks.length >= MAX_BREAKS) {
      this.fail(this.breaks[0] ?? p);
    } else if (this.breaks.at(-1)?.brokenAtSeq !== p.brokenAtSeq || p.brokenAtSeq === undefined) {
      this.breaks.push(p);
    }
  }

  private fail(p: Problem): void {
    this.problem ??= p;
  }

  /** The verdict once every line has been fed. */
  finish(): ExportVerdict {
    if (this.pending.length > 0) {
      this.fail({ problem: 'the file ends inside a quoted cell', line: this.pendingStart });
    }
    const meta = this.meta;
    // A broken row is acknowledged only as it was acknowledged: named by the break, with the digest stated for it.
    // Its seq alone would let the row be changed again, in the database or the file, and pass.
    const named = new Set(meta?.acknowledgedBreak?.rowBreaks.map((b) => b.seq));
    const digests = new Map((meta?.acknowledgedRows ?? []).map((r) => [r.seq, r.digest]));
    const isAcknowledged = (b: Problem) =>
      b.brokenAtSeq !== undefined &&
      named.has(b.brokenAtSeq) &&
      b.digest !== undefined &&
      digests.get(b.brokenAtSeq) === b.digest;
    const found = this.breaks.find((b) => !isAcknowledged(b));
    const unacknowledged: Problem | undefined =
      found?.brokenAtSeq !== undefined && named.has(found.brokenAtSeq) && meta?.acknowledgedBreak
        ? {
            problem: chainProblem('acknowledged-row-changed', found.brokenAtSeq, meta.acknowledgedBreak.acknowledgedAt),
            brokenAtSeq: found.brokenAtSeq,
            line: found.line,
          }
        : found;
    // The first problem in the file is the one named, a broken row or another.
    const first = [this.problem, unacknowledged]
      .filter((p): p is Problem => p !== undefined)
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))[0];
    if (first) {
      const { problem, brokenAtSeq, line } = first;
      return { ok: false, problem, brokenAtSeq, line };
    }
    if (!meta) {
      return { ok: false, problem: 'no export metadata (first line of NDJSON, #chain trailer of CSV) found' };
    }
    const head = this.chain?.head;
    if (this.count !== meta.rows || (head?.seq ?? null) !== meta.toSeq) {
      return {
        ok: false,
        brokenAtSeq: (head?.seq ?? (meta.fromSeq ?? 1) - 1) + 1,
        problem: `the metadata announces ${meta.rows} rows up to seq ${meta.toSeq ?? '-'}, the file holds ${this.count}${
          head ? ` up to seq ${head.seq}` : ''
        }`,
      };
    }
    if (this.first && (this.first.seq !== meta.fromSeq || this.first.prevHash !== meta.prevHash)) {
      return { ok: false, brokenAtSeq: this.first.seq, problem: 'the first row does not link to the stated prevHash' };
    }
    if (head && head.hash !== meta.headHash) {
      return { ok: false, brokenAtSeq: head.seq, problem: 'the last row does not end in the stated headHash' };
    }
    if (this.expectHead !== undefined && meta.headHash !== this.expectHead) {
      return { ok: false, problem: 'the export does not end in the expected head hash' };
    }
    return {
      ok: true,
      tenant: meta.tenant,
      fromSeq: meta.fromSeq,
      ...(meta.acknowledgedBreak
        ? {
            acknowledgedBreak: meta.acknowledgedBreak,
            acknowledgedBrokenRows: this.breaks.flatMap((b) => (b.brokenAtSeq === undefined ? [] : [b.brokenAtSeq])),
          }
        : {}),
      rows: this.count,
      headSeq: head?.seq ?? (meta.fromSeq ?? 1) - 1,
      headHash: head?.hash ?? meta.prevHash ?? '',
    };
  }
}

/** Verifies the whole text of an export (NDJSON or CSV). */
export function verifyExportText(text: string, expectHead?: string): ExportVerdict {
  const v = new ExportFileVerifier(expectHead);
  const lines = text.split('\n');
  if (lines.at(-1) === '') {
    lines.pop();
  }
  lines.forEach((l) => v.line(l));
  return v.finish();
}

/** The columns line an AuditEvent's row has, or undefined when it is not one. */
function columnsLineOf(resource: unknown): string | undefined {
  const columns = tryChainColumnsOf(resource);
  return columns && columnsLine(columns);
}

function columnMismatch(
  resource: unknown,
  cells: readonly string[],
  col: (name: (typeof CSV_COLUMNS)[number]) => number,
): string | undefined {
  let f: ReturnType<typeof indexFieldsOf>;
  try {
    f = indexFieldsOf(resource as AuditEvent);
  } catch {
    return 'resource';
  }
  const event = resource as AuditEvent;
  const expected: [(typeof CSV_COLUMNS)[number], string][] = [
    ['type', f.type],
    ['subtype', f.subtype ?? ''],
    ['action', event.action ?? ''],
    ['outcome', f.outcome],
    ['patient_bsn', f.patientBsn ?? ''],
    ['agents', f.agents.join(' ')],
    ['entities', f.entities.join(' ')],
  ];
  const wrong = expected.find(([name, value]) => cells[col(name)] !== value);
  if (wrong) {
    return wrong[0];
  }
  return Date.parse(cells[col('recorded')] ?? '') === Date.parse(event.recorded ?? '') ? undefined : 'recorded';
}
