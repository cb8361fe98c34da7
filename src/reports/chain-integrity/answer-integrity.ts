import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Principal } from '../../access/principal';
import { chainIntegrity } from '../../audit/chain-integrity';
import type { Db } from '../../kernel/db';
import { canReadChain } from '../audit-scope';

/**
 * How far an answer read from audit chains can be relied on: per chain, what is known of its integrity now. An
 * answer to an access request (AVG art. 15) built on a chain known broken may miss or misstate rows, so every API
 * answer about a child says so, as the console's pages do.
 */
export interface ChainIntegrityState {
  readonly chain: string;
  /**
   * `ok`: the last whole verification found it intact (rows appended since are hash-linked to it, not yet
   * re-verified); `broken`: a verification or the signer found it broken, and none has found it intact since;
   * `not-fully-verified`: no whole verification has vouched for it yet; `acknowledged-break`: it was found broken and
   * an auditor acknowledged the break: it is signed and exported again from the head it had then, but its rows up to
   * that head (`acknowledgedHeadSeq`, the break from `brokenFromSeq` to `brokenAtSeq`) are not vouched for. Never
   * `ok` while those rows are kept (a retention purge that deleted them ends it).
   */
  readonly state: 'ok' | 'broken' | 'not-fully-verified' | 'acknowledged-break';
  /** When it was last found intact (`ok`) or last checked (`broken`). */
  readonly checkedAt?: string;
  /** Since when it is known broken, the first row found broken, and what was found (as verify words it). */
  readonly brokenSince?: string;
  readonly brokenAtSeq?: number;
  readonly problem?: string;
  /** Of an acknowledged break: the first row it may begin at, when and by whom, and the head it was acknowledged at. */
  readonly brokenFromSeq?: number;
  readonly acknowledgedAt?: string;
  readonly acknowledgedBy?: string;
  readonly acknowledgedHeadSeq?: number;
}

interface AcknowledgedBreakOnRecord {
  readonly brokenFromSeq: number;
  readonly brokenAtSeq: number;
  readonly problem: string;
  readonly acknowledgedAt: string;
  readonly acknowledgedBy: string;
  readonly headSeq: number;
}

/**
 * The newest acknowledged break of each chain whose acknowledged rows are still kept (no retention purge has reached
 * its head). Its signature is not checked here: a row written by hand can only make an answer warn, never say intact;
 * `verifySignedChain` is what vouches.
 */
async function acknowledgedBreaks(db: Db): Promise<Map<string, AcknowledgedBreakOnRecord>> {
  const rows = await db.query<{
    tenant: string;
    broken_from_seq: number;
    broken_at_seq: number;
    problem: string;
    acknowledged_at: string;
    acknowledged_by: string;
    head_seq: number;
  }>(
    `SELECT DISTINCT ON (a.tenant) a.tenant, a.broken_from_seq::float8 AS broken_from_seq,
       a.broken_at_seq::float8 AS broken_at_seq, a.problem, a.acknowledged_at, a.acknowledged_by,
       a.head_seq::float8 AS head_seq
     FROM audit_chain_acknowledgement a
     WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoint c WHERE c.tenant = a.tenant AND c.seq >= a.head_seq)
     ORDER BY a.tenant, a.acknowledged_at DESC`,
  );
  return new Map(
    rows.map((r) => [
      r.tenant,
      {
        brokenFromSeq: r.broken_from_seq,
        brokenAtSeq: r.broken_at_seq,
        problem: r.problem,
        acknowledgedAt: r.acknowledged_at,
        acknowledgedBy: r.acknowledged_by,
        headSeq: r.head_seq,
      },
    ]),
  );
}

/**
 * The integrity of the chains an answer read, and of every chain known broken within the caller's reach: a changed
 * row may no longer name the child, so an answer that did not read it is incomplete all the same. Sorted by chain.
 */
export async function answerIntegrity(
  db: Db,
  principal: Principal,
  chainsRead: Iterable<string>,
): Promise<ChainIntegrityState[]> {
  const read = new Set(chainsRead);
  const known = await chainIntegrity(db);
  const acknowledged = await acknowledgedBreaks(db);
  for (const [chain, integrity] of known) {
    if ((!integrity.ok || acknowledged.has(chain)) && canReadChain(principal, chain)) {
      read.add(chain);
    }
  }
  return [...read].sort().map((chain): ChainIntegrityState => {
    const k = known.get(chain);
    if (!k) {
      return { chain, state: 'not-fully-verified' };
    }
    const ack = acknowledged.get(chain);
    if (k.ok && ack) {
      return {
        chain,
        state: 'acknowledged-break',
        checkedAt: k.checkedAt.toISOString(),
        brokenFromSeq: ack.brokenFromSeq,
        brokenAtSeq: ack.brokenAtSeq,
        problem: ack.problem,
        acknowledgedAt: ack.acknowledgedAt,
        acknowledgedBy: ack.acknowledgedBy,
        acknowledgedHeadSeq: ack.headSeq,
      };
    }
    if (k.ok) {
      return { chain, state: 'ok', checkedAt: k.checkedAt.toISOString() };
    }
    return {
      chain,
      state: 'broken',
      checkedAt: k.checkedAt.toISOString(),
      ...(k.brokenSince ? { brokenSince: k.brokenSince.toISOString() } : {}),
      ...(k.brokenAtSeq !== undefined ? { brokenAtSeq: k.brokenAtSeq } : {}),
      ...(k.problem ? { problem: k.problem } : {}),
    };
  });
}

/** The warning a search Bundle carries (an entry with search mode `outcome`) when a chain it read is known broken. */
export function brokenChainsOutcome(states: readonly ChainIntegrityState[]): OperationOutcome | undefined {
  const broken = states.filter((s) => s.state === 'broken' || s.state === 'acknowledged-break');
  if (broken.length === 0) {
    return undefined;
  }
  return {
    resourceType: 'OperationOutcome',
    issue: broken.map((s) => ({
      severity: 'warning',
      code: 'incomplete',
      details: {
        text:
          s.state === 'acknowledged-break'
            ? acknowledgedBreakWords(s)
            : `The audit chain ${s.chain} is known broken` +
              `${s.brokenAtSeq === undefined ? '' : ` at row ${s.brokenAtSeq}`}` +
              `${s.brokenSince ? ` (found ${s.brokenSince})` : ''}: rows may be changed or missing, so this answer may ` +
              `be incomplete; do not base an answer to the child on it. GET /audit/v1/verify?tenant=${s.chain} names the row`,
      },
    })),
  };
}

/**
 * An acknowledged break as a search's warning: the chain is signed again, but its rows up to the head are not vouched
 * for.
 */
function acknowledgedBreakWords(s: ChainIntegrityState): string {
  return (
    `The audit chain ${s.chain} has a known break, acknowledged by ${s.acknowledgedBy ?? '?'} at ` +
    `${s.acknowledgedAt ?? '?'}, in rows ${s.brokenFromSeq ?? '?'} to ${s.brokenAtSeq ?? '?'}: its rows up to ` +
    `${s.acknowledgedHeadSeq ?? '?'} are not vouched for, so this answer may be incomplete; do not base an answer to ` +
    `the child on them. GET /audit/v1/verify?tenant=${s.chain} names the break`
  );
}
