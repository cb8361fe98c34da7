import type { ReportSettings } from '../../src/reports/monitoring/measure-report';
import type { CountsByCode, MonitoringCounts } from '../../src/reports/monitoring/report-store';

/** Counts by category code, from an object. */
export const countsByCode = (entries: Record<string, number>): CountsByCode => new Map(Object.entries(entries));

/** The settings of the README's example: Overbetuwe, 2026-Q3, k 5, q 9,500, a professional costing 18,000. */
export const EXAMPLE_REPORT_SETTINGS: ReportSettings = {
  municipality: { code: 'GM0226', name: 'Overbetuwe' },
  period: { start: '2026-07-01', end: '2026-09-30', label: '2026-Q3' },
  k: 5,
  q: 9500,
  professionalCost: 18000,
  date: '2026-10-01T08:00:00.000Z',
};

/**
 * Counts of a quarter, before suppression, with small cells in several groups (0-3: 2, unknown: 2, …); the contacts
 * bins are all shown, so the mean is.
 */
export const EXAMPLE_COUNTS: MonitoringCounts = {
  inflow: {
    total: 40,
    byAgeBand: countsByCode({ '0-3': 2, '4-11': 20, '12-15': 14, '16-17': 4 }),
    byReferrer: countsByCode({ gp: 25, 'youth-doctor': 6, screener: 9 }),
  },
  closed: { total: 30, byOutcome: countsByCode({ 'closed-without-referral': 21, escalated: 7, unknown: 2 }) },
  contacts: {
    total: 28,
    contactSum: 126,
    median: 4,
    byBin: countsByCode({ '1-3': 10, '4-5': 8, '6-8': 5, '9-10': 5 }),
  },
  active: {
    total: 60,
    children: 52,
    byHelpQuestion: countsByCode({ parenting: 22, school: 9, divorce: 3 }),
    byIntervention: countsByCode({ screening: 30 }),
  },
  referrals: {
    total: 8,
    byTarget: countsByCode({ 'social-team': 5, ggz: 3 }),
    byProductCategory: countsByCode({ '54': 3 }),
  },
  notCounted: { total: 6 },
  contactTime: {
    total: 150,
    byDuration: countsByCode({ 'with-duration': 144, 'without-duration': 6 }),
    minutes: 144 * 45,
  },
  waiting: { startToFirstContact: { n: 40, median: 6 }, referralToCare: { n: 3, median: 40 } },
};
