import type { AuditEvent } from '@medplum/fhirtypes';
import { bytesArray, int8Array, textArray, TEXT_OID, TIMESTAMPTZ_OID } from '../kernel/binary-array';
import type { Db } from '../kernel/db';
import { canonicalizeJcs, chainHashOfLaidOut, GENESIS_HASH, layOutRow, type LaidOutRow } from './chain';
import { chainColumnsOf, columnsLine } from './chain-columns';
import { indexFieldsOf } from './index-fields';

/**
 * An event made ready for its row when it is appended: canonical text and search columns do not depend on the chain
 * head, so they are made while the previous group commit is still in PostgreSQL, not inside the next one's lock.
 */
interface Prepared {
  readonly tenant: string;
  readonly id: string;
  /**
   * To the millisecond, as JavaScript reads the AuditEvent's time: the hashed columns line holds it, so the column
   * must hold exactly it (PostgreSQL would keep microseconds, and read a time without offset in its own zone). Sent
   * as the number it is, in binary: no text to make here nor to parse there.
   */
  readonly recordedMicros: number;
  readonly action: string | null;
  /**
   * The canonical text and the columns line as UTF-8 bytes in one buffer, outside V8's heap, laid out to be hashed
   * in one call (`layOutRow`): a row waits for its group commit long enough to survive a young-generation
   * collection, and strings retained there cost more to copy than to hash. The event object itself is not retained
   * either. The canonical text is hashed and stored as it is: verification hashes it unchanged.
   */
  readonly row: LaidOutRow;
  readonly type: string;
  readonly subtype: string | null;
  readonly outcome: string;
  readonly patientBsn: string | null;
  /**
   * The agents and entities columns as elements of the group's array parameters, made when the event is appended
   * (while the group before is in PostgreSQL) and kept as one string each: a row waits in the young generation
   * long enough to be copied by a scavenge or two, and a list of strings is more to copy.
   */
  readonly agents: string;
  readonly entities: string;
}

/** A prepared row waiting for its group commit. */
interface Pending extends Prepared {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The row of `event` in `tenant`'s chain, all but its links, with what settles its append (throws when it is no
 * AuditEvent the columns fit). One object per row: it is made for every append.
 */
function prepare(tenant: string, event: AuditEvent, resolve: () => void, reject: (err: unknown) => void): Pending {
  const f = indexFieldsOf(event);
  const columns = chainColumnsOf(event, f);
  return {
    tenant,
    id: columns.id,
    recordedMicros: columns.recordedMicros,
    action: columns.action,
    row: layOutRow(canonicalizeJcs(event), columnsLine(columns)),
    type: f.type,
    subtype: f.subtype,
    outcome: f.outcome,
    patientBsn: f.patientBsn,
    agents: arrayLiteral(f.agents),
    entities: arrayLiteral(f.entities),
    resolve,
    reject,
  };
}

const ignore = (): void => undefined;

/**
 * Appends `event` to `tenant`'s chain inside the caller's transaction `tx`, under the chain head's lock (held until
 * `tx` ends), with the same check of the head against the last row as any append under the lock: the row commits
 * or rolls back with whatever else `tx` does (the retention purge deletes rows and records their purge in one
 * transaction). Throws when the head does not match its last row; returns the new head. An `AuditWriter` that wrote
 * this chain last finds its head moved and appends under the lock next time.
 */
export async function appendInTransaction(tx: Db, tenant: string, event: AuditEvent): Promise<ChainHead> {
  const head = await appendUnderLock(tx, tenant, [prepare(tenant, event, ignore, ignore)]);
  if (head instanceof Error) {
    throw head;
  }
  return head;
}

/**
 * Appends AuditEvents to the per-tenant hash chains with group commit: everything appended while a flush is
 * running goes into the next flush. A chain this process wrote last takes one statement per group (rows and head,
 * conditional on the head being where it was left); any other chain is appended under its locked head. `append`
 * resolves only once the row is durable, so a job that awaits it never completes before its audit trail exists.
 */
export class AuditWriter {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Where this process last left each chain: the next group is hashed onto it without reading it first. */
  private readonly heads = new Map<string, ChainHead>();

  /**
   * `maxBatch`: most rows in one statement. Groups are sent one after the other; while PostgreSQL inserts one, the
   * appends of the group before it have resolved and their callers are already preparing the next rows, so a group
   * of a thousand keeps both busy where one of many thousands would leave each waiting for the other in turn.
   */
  constructor(
    private readonly db: Db,
    private readonly maxBatch = 1000,
  ) {}

  /** Queues the event for the next group commit; resolves when it is durable. */
  append(tenant: string, event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready: Pending;
      try {
        ready = prepare(tenant, event, resolve, reject);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.pending.push(ready);
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
    let settlePrevious = (): void => {};
    let next = this.take();
    while (next) {
      const group = next;
      // A fault in `commit` itself (it settles its appends otherwise) must not leave a caller waiting forever.
      const committed = this.commit(group).catch((err: unknown) => () => settle(group.rows, err));
      // The group before resolves only now that this one is on its way to PostgreSQL: its callers prepare their next
      // appends while PostgreSQL inserts this group. Resolved first, they would all run before it was sent, and
      // PostgreSQL and this process would take turns instead of working at once. `commit` returning is not enough:
      // pg's pool hands the statement its connection on the next tick, after every callback resolved here (measured:
      // 95 % of appends were made while their group's predecessor was still unsent). A turn of the event loop later
      // the statement has been written.
      await new Promise((r) => setImmediate(r));
      settlePrevious();
      // Those callers append their next rows once this yields; the next group is hashed while this one is in
      // PostgreSQL, instead of after it, while PostgreSQL waits.
      await new Promise((r) => setImmediate(r));
      next = this.take();
      settlePrevious = await committed;
      // Rows appended since join the next group as they would have had it been taken now: it is taken again.
      if (next && next.rows.length < this.maxBatch && this.pending.length > 0) {
        this.putBack(next);
        next = undefined;
      }
      next ??= this.take();
    }
    this.flushing = undefined;
    settlePrevious();
  }

  /**
   * The next group of pending rows, split by chain; each chain whose head is known is hashed onto it at once, and
   * its head moved to where this group will leave it, so the group after can be hashed before this one commits. If
   * this one does not commit, that head is forgotten, and the group after goes on from the real head instead.
   */
  private take(): Group | undefined {
    if (this.pending.length === 0) {
      return undefined;
    }
    const rows = this.pending.splice(0, this.maxBatch);
    const byTenant = new Map<string, Pending[]>();
    for (const p of rows) {
      const tenantRows = byTenant.get(p.tenant);
      if (tenantRows) {
        tenantRows.push(p);
      } else {
        byTenant.set(p.tenant, [p]);
      }
    }
    const linked = new Map<string, Linked>();
    for (const [tenant, tenantRows] of byTenant) {
      const head = this.heads.get(tenant);
      if (head) {
        const l = link(head, tenantRows);
        this.heads.set(tenant, l.head);
        linked.set(tenant, l);
      }
    }
    return { rows, byTenant, linked };
  }

  /** Returns a group taken but not sent to the front of the queue, and its chains' heads to where they were. */
  private putBack(group: Group): void {
    for (const [tenant, l] of group.linked) {
      if (this.heads.get(tenant) === l.head) {
        this.heads.set(tenant, l.from);
      }
    }
    this.pending.unshift(...group.rows);
  }

  /**
   * Commits a batch; returns what settles each append: resolves those whose chain's rows are durable, rejects those
   * that failed. Left to the caller, so that it can first send the next batch.
   */
  private async commit({ byTenant, linked }: Group): Promise<() => void> {
    const outcomes: { rows: readonly Pending[]; err?: unknown }[] = [];
    const settleAll = (): void => outcomes.forEach((o) => settle(o.rows, o.err));
    // Chains whose head this process wrote last: one statement each, in autocommit (durable when it returns), all
    // sent at once. The rest (a chain seen for the first time, moved on by another process, or whose group before
    // this one failed after this one was hashed) lock their heads.
    const stale: string[] = [];
    await Promise.all(
      [...byTenant].map(async ([tenant, rows]) => {
        const l = linked.get(tenant);
        if (!l || this.heads.get(tenant) !== l.head) {
          stale.push(tenant);
          return;
        }
        try {
          if (await this.appendLinked(tenant, l)) {
            outcomes.push({ rows });
          } else {
            stale.push(tenant);
          }
        } catch (err) {
          // Whether it committed is unknown: the next append reads the head under its lock.
          this.heads.delete(tenant);
          outcomes.push({ rows, err });
        }
      }),
    );
    if (stale.length === 0) {
      return settleAll;
    }
    // Tenants in a fixed order so two processes locking several chain heads cannot deadlock.
    stale.sort();
    const rowsOf = (tenant: string): Pending[] => byTenant.get(tenant) ?? [];
    try {
      const heads = await this.db.transaction(async (tx) => {
        const moved: [string, ChainHead | Error][] = [];
        for (const tenant of stale) {
          moved.push([tenant, await appendUnderLock(tx, tenant, rowsOf(tenant))]);
        }
        return moved;
      });
      for (const [tenant, head] of heads) {
        if (head instanceof Error) {
          outcomes.push({ rows: rowsOf(tenant), err: head });
        } else {
          this.heads.set(tenant, head);
          outcomes.push({ rows: rowsOf(tenant) });
        }
      }
    } catch (err) {
      stale.forEach((tenant) => {
        this.heads.delete(tenant);
        outcomes.push({ rows: rowsOf(tenant), err });
      });
    }
    return settleAll;
  }

  /**
   * The rows and the moved head in one statement, on the condition that the head is still where this process left
   * it: the UPDATE matches no row when another process appended since (under READ COMMITTED it waits for that
   * writer's commit and re-checks the new head), and then nothing is inserted. Returns whether it appended.
   */
  private async appendLinked(tenant: string, linked: Linked): Promise<boolean> {
    const [result] = await this.db.query<{ moved: boolean }>(
      `WITH head AS (
         UPDATE audit_chain_head SET seq = $15, hash = $16 WHERE tenant = $1 AND seq = $17 AND hash = $18
         RETURNING tenant
       ), appended AS (
         ${INSERT_ROWS} WHERE EXISTS (SELECT FROM head)
       )
       SELECT EXISTS (SELECT FROM head) AS moved`,
      [tenant, ...linked.params, linked.from.seq, linked.from.hash],
    );
    if (!result?.moved) {
      this.heads.delete(tenant);
      return false;
    }
    return true;
  }
}

/**
 * Creates the head on first use and locks it either way, checks it against the last row, then appends after it
 * (inside `tx`); the new head, or the error that refuses the append when the head is not the last row's.
 */
async function appendUnderLock(tx: Db, tenant: string, rows: readonly Prepared[]): Promise<ChainHead | Error> {
  // One round trip: ON CONFLICT DO UPDATE locks the existing row as SELECT … FOR UPDATE would, and returns its
  // latest committed values.
  const [row] = await tx.query<{ seq: string; hash: string }>(
    `INSERT INTO audit_chain_head (tenant, seq, hash) VALUES ($1, 0, $2)
     ON CONFLICT (tenant) DO UPDATE SET seq = audit_chain_head.seq RETURNING seq, hash`,
    [tenant, GENESIS_HASH],
  );
  const head = { seq: Number(row?.seq ?? 0), hash: row?.hash ?? GENESIS_HASH };
  const linked = link(head, rows);
  // The rows and the new head in one statement (a data-modifying WITH runs whether or not it is read), on the
  // condition that the locked head is the last row's (or the purge checkpoint's, or the start's): appending would
  // otherwise link new rows onto a head no row vouches for, and hide where the chain was broken. Checked in this
  // statement, after the lock, so its snapshot includes the rows of the writer that held the lock before, and at
  // no extra round trip while the lock is held: other processes wait on it. Only this path checks (a chain seen
  // first, or moved on by another process); the fast path's conditional update requires the head this process
  // left, which this checked when it took the chain over. Point lookups on the primary key (no row after the head,
  // the head's own row): a search for the last row under the lock halved throughput with two worker processes.
  const [result] = await tx.query<{ ok: boolean }>(
    `WITH verdict AS (
       SELECT NOT EXISTS (SELECT 1 FROM audit_event WHERE tenant = $1 AND seq > $17::bigint)
         AND COALESCE(
           (SELECT hash = $18 FROM audit_event WHERE tenant = $1 AND seq = $17::bigint),
           (SELECT hash = $18 FROM audit_checkpoint WHERE tenant = $1 AND seq = $17::bigint),
           $17::bigint = 0 AND $18 = $19) AS ok
     ), appended AS (
       ${INSERT_ROWS} WHERE (SELECT ok FROM verdict)
     ), moved AS (
       UPDATE audit_chain_head SET seq = $15, hash = $16 WHERE tenant = $1 AND (SELECT ok FROM verdict)
     )
     SELECT (SELECT ok FROM verdict) AS ok`,
    [tenant, ...linked.params, head.seq, head.hash, GENESIS_HASH],
  );
  if (!result?.ok) {
    return new Error(
      `audit chain head of ${tenant} does not match its last row (head at seq ${head.seq}): not appended`,
    );
  }
  return linked.head;
}

/** Resolves the appends, or rejects them with `err`. */
function settle(rows: readonly Pending[], err?: unknown): void {
  for (const p of rows) {
    if (err === undefined) {
      p.resolve();
    } else {
      p.reject(err);
    }
  }
}

interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * The rows as unnested columns ($2–$14; $1 is the tenant). Only the links depend on the head: the whole group is
 * hashed in one pass after it. The canonical texts arrive as a binary array, so neither side escapes or parses them
 * (an array literal would escape every quote; a JSON array is parsed whole; one text split at line breaks is copied
 * once more than the array's elements, which PostgreSQL unnests where they lie). The set
 * functions stand in the select list, not in ROWS FROM: there PostgreSQL runs them in step row by row, where ROWS FROM
 * first copies every function's whole result into a tuple store of its own (measured: 3-5 µs of PostgreSQL's CPU per
 * row). Both pair the n-th elements and pad a shorter list with NULL. The ids come as text elements cast per row, so
 * their binary array needs no uuid encoding here.
 */
const INSERT_ROWS = `INSERT INTO audit_event (tenant, seq, id, recorded, type, subtype, action, outcome, patient_bsn,
    agents, entities, resource, prev_hash, hash, chain_format)
  SELECT $1, unnest($2::bigint[]), unnest($3::text[])::uuid, unnest($4::timestamptz[]), unnest($5::text[]),
    unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[])::text[],
    unnest($11::text[])::text[], unnest($12::text[]), unnest($13::text[]), unnest($14::text[]), 2`;

/** Rows hashed onto a chain head: where they leave it, and their statement parameters $2–$16. */
interface Linked {
  readonly from: ChainHead;
  readonly head: ChainHead;
  readonly params: readonly unknown[];
}

/** Pending rows split by chain; the chains whose head was known when it was taken are already linked. */
interface Group {
  readonly rows: readonly Pending[];
  readonly byTenant: ReadonlyMap<string, Pending[]>;
  readonly linked: ReadonlyMap<string, Linked>;
}

/** Hashes `rows` onto the chain after `head`. */
function link(head: ChainHead, rows: readonly Prepared[]): Linked {
  let seq = head.seq;
  let hash = head.hash;
  const n = rows.length;
  const seqs = new Array<number>(n);
  const prevHashes = new Array<string>(n);
  const hashes = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const p = rows[i] as Prepared;
    prevHashes[i] = hash;
    seq++;
    hash = chainHashOfLaidOut(hash, seq, p.row);
    seqs[i] = seq;
    hashes[i] = hash;
  }
  const newHead = { seq, hash };
  return {
    from: head,
    head: newHead,
    params: [
      int8Array(seqs, (s) => s),
      textArray(rows, (p) => p.id),
      int8Array(rows, (p) => p.recordedMicros - POSTGRES_EPOCH_MICROS, TIMESTAMPTZ_OID),
      textArray(rows, (p) => p.type),
      textArray(rows, (p) => p.subtype),
      textArray(rows, (p) => p.action),
      textArray(rows, (p) => p.outcome),
      textArray(rows, (p) => p.patientBsn),
      textArray(rows, (p) => p.agents),
      textArray(rows, (p) => p.entities),
      bytesArray(rows, (p) => p.row.canonical, TEXT_OID),
      textArray(prevHashes, (h) => h),
      textArray(hashes, (h) => h),
      newHead.seq,
      newHead.hash,
    ],
  };
}

// The sequence numbers, times and canonical texts are sent in PostgreSQL's binary array format (binary-array.ts):
// numbers need no text made here nor parsed there, a time is exact whatever the session's TimeZone, and the canonical
// texts are the UTF-8 bytes they already are, each after its length.

/** 2000-01-01T00:00:00Z in epoch microseconds: where PostgreSQL's binary timestamps count from. */
const POSTGRES_EPOCH_MICROS = Date.UTC(2000, 0, 1) * 1000;

// The text array parameters are binary arrays too (binary-array.ts): PostgreSQL reads each element at its length
// instead of scanning an array literal character by character, and nothing here escapes the values. The agents and
// entities are each row's own text[] literal, one element of a text[], cast per row in the statement.

/** What a `"` or `\` needs in front of it inside a quoted array element. */
const NEEDS_ESCAPE = /["\\]/;

/** `s` escaped for a quoted element of an array literal. */
function escapeElement(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/["\\]/g, '\\$&') : s;
}

/** The text[] literal of `list`: `{"a","b"}`. */
function arrayLiteral(list: readonly string[]): string {
  return list.length === 0 ? '{}' : `{"${list.map(escapeElement).join('","')}"}`;
}
