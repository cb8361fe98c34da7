import { codesOf, REFERRAL_STATUS_SYSTEM } from '../../src/kernel/fhir/terminology';

/**
 * The vocabulary of a referral's status at the municipality, from receipt to the end of care
 * (mappings/terminology/codesystem-referral-status.json), and the order in which a municipality may send it. Pure.
 */

export const REFERRAL_STATUSES = [
  'received',
  'accepted',
  'rejected',
  'decision-issued',
  'allocated',
  'care-started',
  'care-ended',
  'closed',
] as const;
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number];

// The code list is the CodeSystem's: a code added there without a place here (or the reverse) fails at load.
if (codesOf(REFERRAL_STATUS_SYSTEM).join() !== REFERRAL_STATUSES.join()) {
  throw new Error(`${REFERRAL_STATUS_SYSTEM} and REFERRAL_STATUSES differ`);
}

/**
 * How far along the way to care each status is. `allocated` (the earlier vocabulary: product category, provider and
 * start date in one) sits with `decision-issued`; `rejected` is off the way and handled on its own.
 */
const RANK: Record<Exclude<ReferralStatus, 'rejected'>, number> = {
  received: 0,
  accepted: 1,
  'decision-issued': 2,
  allocated: 2,
  'care-started': 3,
  'care-ended': 4,
  closed: 5,
};

/**
 * Whether `next` may follow `current` (undefined: no status yet). Forward only, skipping allowed (a municipality
 * may close without a decision); the same step again is allowed where it can change (a corrected decision, a
 * provider change). Nothing follows `closed`; only `closed` follows `rejected`; `rejected` only before a decision.
 */
export function mayFollow(current: ReferralStatus | undefined, next: ReferralStatus): boolean {
  if (current === undefined) {
    return true;
  }
  if (current === 'closed') {
    return false;
  }
  if (current === 'rejected') {
    return next === 'closed';
  }
  if (next === 'rejected') {
    return RANK[current] <= RANK.accepted;
  }
  return RANK[next] >= RANK[current];
}

/** The statuses that may follow `current`, for the 409's message. */
export function nextStatusesOf(current: ReferralStatus | undefined): ReferralStatus[] {
  return REFERRAL_STATUSES.filter((s) => mayFollow(current, s));
}
