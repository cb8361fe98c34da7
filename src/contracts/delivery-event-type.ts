import type { HisEventType } from './his-dialect';

/**
 * What a delivery carries: an HIS event going to a municipality, or `referral.status`, a municipality's status
 * update on a referral going back to the practice. The mappings choose their message shape by it.
 */
export type DeliveryEventType = HisEventType | 'referral.status';

/** The status update going back to a practice; see src/pipeline/feedback.ts. */
export const REFERRAL_STATUS_EVENT = 'referral.status' satisfies DeliveryEventType;
