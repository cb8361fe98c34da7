import type { AuditEvent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';
import { ChainVerifier, GENESIS_HASH, type ChainRow, type ChainVerdict } from './chain';
import { indexedPartsOf, indexFieldsOf } from './index-fields';

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

/** Every tenant with a chain. */
export async function listChainTenants(db: Db): Promise<string[]> {
  return (await db.query<{ tenant: string }>('SELECT tenant FROM audit_chain_head ORDER BY tenant')).map(
    (r) => r.tenant,
  );
}

interface IndexedRow {
  seq: number;
  id: string;
  /** A Date from a page query, or epoch ms from the verifying cursor. */
  recorded: Date | number;
  type: string;
  subtype: string | null;
  action: string | null;
  outcome: string;
  patient_bsn: string | null;
  /** An array from a page query, or its JSON text (`array_to_json`) from the verifying cursor. */
  agents: string[] | string;
  entities: string[] | string;
  resource: unknown;
  prev_hash: string;
  hash: string;
}

/**
 * Which search column disagrees with the (hashed) resource, if any. Search and the child's overview filter on these
 * columns: a changed `patient_bsn` would hide a disclosure from a child without touching a hash.
 */
function indexProblemOf(r: IndexedRow, event = r.resource as AuditEvent): string | undefined {
  let f: ReturnType<typeof indexFieldsOf>;
  try {
    f = indexFieldsOf(event);
  } catch {
    return 'resource is not an AuditEvent';
  }
  const wrong =
    r.id !== event.id
      ? 'id'
      : new Date(r.recorded).getTime() !== Date.parse(event.recorded ?? '')
        ? 'recorded'
        : r.type !== f.type
          ? 'type'
          : r.subtype !== f.subtype
            ? 'subtype'
            : r.action !== (event.action ?? null)
              ? 'action'
              : r.outcome !== f.outcome
                ? 'outcome'
                : r.patient_bsn !== f.patientBsn
                  ? 'patient_bsn'
                  : !sameTokens(r.agents, f.agents)
                    ? 'agents'
                    : !sameTokens(r.entities, f.entities)
                      ? 'entities'
                      : undefined;
  return wrong ? `column ${wrong} does not match the resource` : undefined;
}

/**
 * Whether a row's tokens column holds `tokens`. PostgreSQL's JSON text of a text[] escapes exactly as JSON.stringify
 * does, so comparing the texts is exact, and cheaper than parsing an array literal per row.
 */
function sameTokens(column: readonly string[] | string, tokens: readonly string[]): boolean {
  if (typeof column === 'string') {
    return column === JSON.stringify(tokens);
  }
  return column.length === tokens.length && column.every((v, i) => v === tokens[i]);
}

/** Reads rows `(afterSeq, toSeq]` of a chain in pages of `pageSize`, in order of seq. */
export async function* chainRows(
  db: Db,
  tenant: string,
  afterSeq: number,
  toSeq: number,
  pageSize = VERIFY_PAGE_SIZE,
): AsyncGenerator<ChainRow & { readonly recorded: string; readonly indexProblem: string | undefined }> {
  let after = afterSeq;
  for (;;) {
    const page = await db.query<IndexedRow>(
      `SELECT seq::float8 AS seq, id, recorded, type, subtype, action, outcome, patient_bsn, agents, entities,
         resource::json AS resource, prev_hash, hash FROM audit_event
       WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
      [tenant, after, toSeq, pageSize],
    );
    for (const r of page) {
      yield {
        seq: r.seq,
        resource: r.resource,
        prevHash: r.prev_hash,
        hash: r.hash,
        recorded: new Date(r.recorded).toISOString(),
        indexProblem: indexProblemOf(r),
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
 * is made for every row verified.
 */
class StoredRow implements ChainRow {
  private parsedText: { readonly value: unknown } | undefined;

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

  /** The resource if it has been parsed already. */
  get parsed(): unknown {
    return this.parsedText?.value;
  }
}

/** Rows fetched per round trip by the verifying cursor; the next batch is fetched while this one is hashed. */
const VERIFY_FETCH_ROWS = 1000;

/**
 * Streams rows `(afterSeq, toSeq]` of a chain through a server-side cursor (one query plan, one index scan for the
 * whole chain) in batches, and hands each batch to `check` while PostgreSQL already produces the next. Stops when
 * `check` returns false. Runs in a read-only transaction, which the cursor needs.
 */
async function streamChain(
  db: Db,
  tenant: string,
  afterSeq: number,
  toSeq: number,
  fetchRows: number,
  check: (rows: readonly IndexedRow[]) => boolean,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `DECLARE verify_chain NO SCROLL CURSOR FOR
       SELECT seq::float8 AS seq, id, (extract(epoch FROM recorded) * 1000)::float8 AS recorded, type, subtype,
         action, outcome, patient_bsn, array_to_json(agents)::text AS agents, array_to_json(entities)::text AS entities,
         resource, prev_hash, hash
       FROM audit_event WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
      [tenant, afterSeq, toSeq],
    );
    const fetch = (): Promise<IndexedRow[]> => tx.query<IndexedRow>(`FETCH ${fetchRows} FROM verify_chain`);
    let next = fetch();
    for (;;) {
      const batch = await next;
      const more = batch.length === fetchRows;
      if (more) {
        next = fetch();
      }
      if (!check(batch) || !more) {
        if (more) {
          await next;
        }
        break;
      }
    }
    await tx.query('CLOSE verify_chain');
  });
}

/**
 * Recomputes one tenant's chain from its genesis (or its latest retention checkpoint) up to the head the writer
 * recorded when verification began, page by page. Besides each link, it checks that no rows are missing at the end
 * and that the last row is the head the writer recorded: deleting the newest rows leaves no broken link behind.
 * With `upToSeq`, only the rows up to there are checked (the retention purge checks what it is about to delete).
 */
export async function verifyTenant(
  db: Db,
  tenant: string,
  opts: { pageSize?: number; upToSeq?: number } = {},
): Promise<TenantVerdict> {
  const checkpoint = await tryGetCheckpoint(db, tenant);
  // The head first: rows appended while we verify are beyond it and left for the next run.
  const head = await tryGetChainHead(db, tenant);
  const start = checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash } : { seq: 0, hash: GENESIS_HASH };
  const verifier = new ChainVerifier(start);
  const end = opts.upToSeq ?? head?.seq;
  await streamChain(
    db,
    tenant,
    start.seq,
    end ?? Number.MAX_SAFE_INTEGER,
    opts.pageSize ?? VERIFY_FETCH_ROWS,
    (rows) => {
      for (const r of rows) {
        // The stored text as it is is hashed unchanged. The verifier parses it only when it does not hash right (a
        // row stored as jsonb before migration 010, or a changed one); text that does is the writer's canonical
        // JSON, and the search-column check reads just the parts it needs from it.
        const storedText = r.resource as string;
        const row = new StoredRow(r.seq, storedText, r.prev_hash, r.hash);
        if (!verifier.push(row)) {
          return false;
        }
        const indexProblem = indexProblemOf(
          r,
          (row.parsed ?? indexedPartsOf(storedText) ?? row.resource) as AuditEvent,
        );
        if (indexProblem) {
          verifier.fail(r.seq, indexProblem);
          return false;
        }
      }
      return true;
    },
  );
  if (verifier.ok && end !== undefined) {
    const last = verifier.head;
    if (last.seq < end) {
      verifier.fail(
        last.seq + 1,
        `rows ${last.seq + 1} to ${end} are missing (the chain head is at ${head?.seq ?? '-'})`,
      );
    } else if (opts.upToSeq === undefined && head && last.hash !== head.hash) {
      verifier.fail(head.seq, 'the last row does not match the recorded chain head');
    }
  }
  return { tenant, ...verifier.verdict(), ...(checkpoint ? { checkpoint } : {}) };
}
