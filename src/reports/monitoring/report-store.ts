import type { Db } from '../../kernel/db';
import type { ReportPeriod } from './period';

/**
 * The read side of the reporting store: plain counts for one municipality and period (optionally one practice),
 * before any suppression. Eleven statements, each reading index ranges of the period, not the years before it: the
 * trajectories started, closed or referrals made in it (by municipality and date), those open at some time in it
 * (those still open, by 069's partial index, and those closed since its start), and the contacts held in it (069,
 * by date: the contacts of the period of every municipality, then their trajectories).
 */

/** Counts by category code. */
export type CountsByCode = ReadonlyMap<string, number>;

export interface MonitoringCounts {
  /** Trajectories started in the period. */
  readonly inflow: { readonly total: number; readonly byAgeBand: CountsByCode; readonly byReferrer: CountsByCode };
  /** Trajectories closed in the period. */
  readonly closed: { readonly total: number; readonly byOutcome: CountsByCode };
  /**
   * Trajectories closed in the period that had at least one contact, by number of contacts (CONTACT_BINS), with the
   * sum of their contacts (for the mean) and the median number (the usual one: the mean of the two middle values).
   */
  readonly contacts: {
    readonly total: number;
    readonly contactSum: number;
    readonly median: number | undefined;
    readonly byBin: CountsByCode;
  };
  /** Trajectories open at some time in the period, by help question and by intervention (several each). */
  readonly active: {
    readonly total: number;
    /** The children those trajectories are of, each counted once per practice (a child with two counts once). */
    readonly children: number;
    readonly byHelpQuestion: CountsByCode;
    readonly byIntervention: CountsByCode;
  };
  /** Referrals made in the period and not cancelled, by target and by JZ020 product category (where named). */
  readonly referrals: {
    readonly total: number;
    readonly byTarget: CountsByCode;
    readonly byProductCategory: CountsByCode;
  };
  /**
   * Trajectories started in the period that were registered but do not count (no monitoring consent on their day,
   * or an objection or withdrawal took them out): beside `inflow`, how complete the figures are.
   */
  readonly notCounted: { readonly total: number };
  /**
   * Contacts held in the period (of trajectories that count), by whether they have a duration, and the minutes of
   * those that have one: the professional's contact time.
   */
  readonly contactTime: { readonly total: number; readonly byDuration: CountsByCode; readonly minutes: number };
  /** Medians in days (the usual median), with how many intervals each is over. */
  readonly waiting: {
    readonly startToFirstContact: { readonly n: number; readonly median: number | undefined };
    readonly referralToCare: { readonly n: number; readonly median: number | undefined };
  };
}

export interface CountsQuery {
  readonly municipality: string;
  readonly period: ReportPeriod;
  readonly practice?: string | undefined;
}

function toMap(rows: readonly { code: string | null; n: string | number }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) {
    const code = r.code ?? 'unknown';
    m.set(code, (m.get(code) ?? 0) + Number(r.n));
  }
  return m;
}

function sum(m: CountsByCode): number {
  let s = 0;
  m.forEach((v) => (s += v));
  return s;
}

/** Counts every figure of the monitoring report from the reporting tables. */
export async function countMonitoring(db: Db, q: CountsQuery): Promise<MonitoringCounts> {
  const params: unknown[] = [q.municipality, q.period.start, q.period.end];
  const practice = q.practice ? `AND practice = $4` : '';
  if (q.practice) {
    params.push(q.practice);
  }
  const [inflow, closed, active, interventions, referrals] = await Promise.all([
    db.query<{ age_band: string; referrer: string; n: string; waited: number | null; with_contact: string }>(
      `SELECT age_band, referrer_subtype AS referrer, count(*) AS n
         FROM report_trajectory
        WHERE municipality = $1 AND start_date BETWEEN $2 AND $3 ${practice}
        GROUP BY age_band, referrer_subtype`,
      params,
    ),
    db.query<{ outcome: string | null; bin: string | null; n: string; contacts: string }>(
      // The bins follow the pilot reports' norms (at most 3, 3 to 8, at most 5, at most 10 conversations).
      `SELECT outcome,
              CASE WHEN contact_count = 0 THEN NULL WHEN contact_count <= 3 THEN '1-3'
                   WHEN contact_count <= 5 THEN '4-5' WHEN contact_count <= 8 THEN '6-8'
                   WHEN contact_count <= 10 THEN '9-10' ELSE '11+' END AS bin,
              count(*) AS n, sum(contact_count) AS contacts
         FROM report_trajectory
        WHERE municipality = $1 AND closed_on BETWEEN $2 AND $3 ${practice}
        GROUP BY 1, 2`,
      params,
    ),
    db.query<{ code: string | null; n: string }>(
      `SELECT hq AS code, count(*) AS n
         FROM report_trajectory LEFT JOIN LATERAL unnest(help_questions) AS hq ON TRUE
        WHERE municipality = $1 AND start_date <= $3 AND (closed_on IS NULL OR closed_on >= $2) ${practice}
        GROUP BY 1`,
      params,
    ),
    db.query<{ code: string | null; n: string; total: string }>(
      `SELECT i AS code, count(*) AS n
         FROM report_trajectory, unnest(interventions) AS i
        WHERE municipality = $1 AND start_date <= $3 AND (closed_on IS NULL OR closed_on >= $2) ${practice}
        GROUP BY 1`,
      params,
    ),
    db.query<{ code: string | null; category: string | null; n: string }>(
      `SELECT target AS code, product_category AS category, count(*) AS n
         FROM report_referral
        WHERE municipality = $1 AND status = 'active' AND referred_on BETWEEN $2 AND $3 ${practice}
        GROUP BY 1, 2`,
      params,
    ),
  ]);
  // Medians are percentile_cont: the usual median, the mean of the two middle values when n is even (what a
  // spreadsheet's MEDIAN gives), not percentile_disc's lower middle one.
  const [waitFirst, waitCare, activeTotal, contactsMedian, notCounted, contactTime] = await Promise.all([
    db.query<{ n: string; median: number | null }>(
      `SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY first_contact_on - start_date) AS median
         FROM report_trajectory
        WHERE municipality = $1 AND start_date BETWEEN $2 AND $3 AND first_contact_on IS NOT NULL ${practice}`,
      params,
    ),
    db.query<{ n: string; median: number | null }>(
      `SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY care_start_on - referred_on) AS median
         FROM report_referral
        WHERE municipality = $1 AND status = 'active' AND referred_on BETWEEN $2 AND $3
          AND care_start_on IS NOT NULL ${practice}`,
      params,
    ),
    db.query<{ n: string; children: string }>(
      // A child is one per practice (practice and pseudonym), so the practices' figures add up to the municipality's
      // as every other count does, and the joint suppression across practices holds for it too.
      `SELECT count(*) AS n, count(DISTINCT (practice, child_pseudonym)) AS children FROM report_trajectory
        WHERE municipality = $1 AND start_date <= $3 AND (closed_on IS NULL OR closed_on >= $2) ${practice}`,
      params,
    ),
    db.query<{ median: number | null }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY contact_count) AS median
         FROM report_trajectory
        WHERE municipality = $1 AND closed_on BETWEEN $2 AND $3 AND contact_count > 0 ${practice}`,
      params,
    ),
    db.query<{ n: string }>(
      // One that came to count meanwhile is not counted twice, should a write beside it have left it here too.
      `SELECT count(*) AS n FROM report_uncounted_trajectory u
        WHERE municipality = $1 AND start_date BETWEEN $2 AND $3 ${practice}
          AND NOT EXISTS (SELECT 1 FROM report_trajectory t WHERE t.trajectory_key = u.trajectory_key)`,
      params,
    ),
    db.query<{ n: string; timed: string; minutes: string }>(
      // The contacts read by their date, both ends of the period (069), of the municipality's trajectories started
      // by its end (read by their start-date index when the planner finds that cheaper than one by one).
      `SELECT count(*) AS n, count(c.duration_minutes) AS timed, coalesce(sum(c.duration_minutes), 0) AS minutes
         FROM report_contact c JOIN report_trajectory t ON t.trajectory_key = c.trajectory_key
        WHERE t.municipality = $1 AND t.start_date <= $3 AND c.contact_on BETWEEN $2 AND $3
              ${q.practice ? 'AND t.practice = $4' : ''}`,
      params,
    ),
  ]);
  const byAgeBand = toMap(inflow.map((r) => ({ code: r.age_band, n: r.n })));
  const byOutcome = toMap(closed.map((r) => ({ code: r.outcome, n: r.n })));
  const withContacts = closed.filter((r) => r.bin !== null);
  const byBin = toMap(withContacts.map((r) => ({ code: r.bin, n: r.n })));
  const medianOf = (rows: { median: number | null }[]) =>
    rows[0]?.median === null || rows[0]?.median === undefined ? undefined : Number(rows[0].median);
  const waitingOf = (rows: { n: string; median: number | null }[]) => ({
    n: Number(rows[0]?.n ?? 0),
    median: medianOf(rows),
  });
  const contacts = Number(contactTime[0]?.n ?? 0);
  const timed = Number(contactTime[0]?.timed ?? 0);
  return {
    inflow: {
      total: sum(byAgeBand),
      byAgeBand,
      byReferrer: toMap(inflow.map((r) => ({ code: r.referrer, n: r.n }))),
    },
    closed: { total: sum(byOutcome), byOutcome },
    contacts: {
      total: sum(byBin),
      contactSum: withContacts.reduce((acc, r) => acc + Number(r.contacts), 0),
      median: medianOf(contactsMedian),
      byBin,
    },
    active: {
      total: Number(activeTotal[0]?.n ?? 0),
      children: Number(activeTotal[0]?.children ?? 0),
      byHelpQuestion: toMap(active.filter((r) => r.code !== null)),
      byIntervention: toMap(interventions),
    },
    referrals: {
      total: sum(toMap(referrals)),
      byTarget: toMap(referrals),
      // A referral without a category is counted in the total only (`part`), not as a category 'unknown'.
      byProductCategory: toMap(referrals.filter((r) => r.category !== null).map((r) => ({ code: r.category, n: r.n }))),
    },
    notCounted: { total: Number(notCounted[0]?.n ?? 0) },
    contactTime: {
      total: contacts,
      byDuration: new Map([
        ['with-duration', timed],
        ['without-duration', contacts - timed],
      ]),
      minutes: Number(contactTime[0]?.minutes ?? 0),
    },
    waiting: { startToFirstContact: waitingOf(waitFirst), referralToCare: waitingOf(waitCare) },
  };
}
