import type { HisEventType } from './his-dialect';

/**
 * What a delivery carries: an HIS event going to a municipality, `referral.status`, a municipality's status update
 * on a referral going back to the practice, or `monitoring.report`, the municipality's anonymised quarterly
 * MeasureReport pushed to its destination. The mappings choose their message shape by it.
 */
export type DeliveryEventType =
  HisEventType | 'referral.status' | 'monitoring.report' | MunicipalityTrajectoryEventType;

/**
 * Trajectory events a municipality registered in its own system (where it is the system of record), going to the
 * practice's HIS: see src/event/trajectory-events.ts.
 */
export type MunicipalityTrajectoryEventType =
  | 'municipality.trajectory.intake'
  | 'municipality.trajectory.contact'
  | 'municipality.trajectory.referral'
  | 'municipality.trajectory.closure';

/** The status update going back to a practice; see src/event/feedback.ts. */
export const REFERRAL_STATUS_EVENT = 'referral.status' satisfies DeliveryEventType;

/** The monitoring report pushed to a municipality; see src/event/report-delivery.ts. */
export const MONITORING_REPORT_EVENT = 'monitoring.report' satisfies DeliveryEventType;
