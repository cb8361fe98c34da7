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
   * `not-fully-verified`: no whole verification has vouched for it yet.
   */
  readonly state: 'ok' | 'broken' | 'not-fully-verified';
  /** When it was last found intact (`ok`) or last checked (`broken`). */
  readonly checkedAt?: string;
  /** Since when it is known broken, the first row found broken, and what was found (as verify words it). */
  readonly brokenSince?: string;
  readonly brokenAtSeq?: number;
  readonly problem?: string;
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
  for (const [chain, integrity] of known) {
    if (!integrity.ok && canReadChain(principal, chain)) {
      read.add(chain);
    }
  }
  return [...read].sort().map((chain): ChainIntegrityState => {
    const k = known.get(chain);
    if (!k) {
      return { chain, state: 'not-fully-verified' };
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
  const broken = states.filter((s) => s.state === 'broken');
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
          `The audit chain ${s.chain} is known broken` +
          `${s.brokenAtSeq === undefined ? '' : ` at row ${s.brokenAtSeq}`}` +
          `${s.brokenSince ? ` (found ${s.brokenSince})` : ''}: rows may be changed or missing, so this answer may ` +
          `be incomplete; do not base an answer to the child on it. GET /audit/v1/verify?tenant=${s.chain} names the row`,
      },
    })),
  };
}
