import type { Coding, Measure } from '@medplum/fhirtypes';
import { COD327_SYSTEM, JZ020_SYSTEM } from '../../kernel/fhir/systems';
import {
  AGE_BAND_SYSTEM,
  codesOf,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  MONITORING_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
  tryGetConcept,
  tryTranslate,
} from '../../kernel/fhir/terminology';
import type { StrataKind } from './suppression';

/**
 * The Measure behind the monitoring report: one group per figure the pilot reports ask for, with the stratifiers
 * and category codes each uses. The report builder, the CSV and the chart all read these definitions, so the
 * figures cannot drift from what `GET /fhir/Measure/poh-jeugd-monitoring` says they are.
 */

export const MEASURE_ID = 'poh-jeugd-monitoring';
export const MEASURE_URL = `https://jeugdbrug.nl/fhir/Measure/${MEASURE_ID}`;
export const MEASURE_POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';

export const GROUP_CODES = [
  'inflow',
  'not-counted',
  'closed',
  'contacts-per-trajectory',
  'contacts-median',
  'contact-time',
  'help-question',
  'intervention',
  'children',
  'referral-target',
  'waiting-days',
  'estimated-saving',
] as const;
export type GroupCode = (typeof GROUP_CODES)[number];

export interface StratifierSpec {
  readonly code: string;
  /** The system of the category codes. */
  readonly system: string;
  readonly codes: readonly string[];
  /**
   * How the strata relate to the group's total: each counted unit in exactly one (`partition`, they add up), in at
   * most one (`part`), or possibly in several (`overlapping`). It decides what suppression must hide (suppression.ts).
   */
  readonly strata: StrataKind;
  readonly description: string;
}

export interface GroupSpec {
  readonly code: GroupCode;
  /** Who is counted (the population), in words. */
  readonly population: string;
  readonly score?: string | undefined;
  readonly stratifiers: readonly StratifierSpec[];
  /**
   * Its units are counted in every period they are open in (trajectories open, their children), so a longer
   * period's count is not the sum of its quarters' (joint-suppression.ts). Implied by an `overlapping` stratifier.
   */
  readonly openInPeriod?: boolean | undefined;
}

/**
 * Contacts per closed trajectory, in bins that follow the pilot reports' norms: "maximaal drie gesprekken", "drie
 * tot acht", "maximaal vijf" and "maximaal tien" can each be read as a sum of bins.
 */
export const CONTACT_BINS = ['1-3', '4-5', '6-8', '9-10', '11+'] as const;
/** The smallest and largest number of contacts in each of CONTACT_BINS (the last has no largest). */
export const CONTACT_BIN_RANGES: readonly (readonly [number, number])[] = [
  [1, 3],
  [4, 5],
  [6, 8],
  [9, 10],
  [11, Number.POSITIVE_INFINITY],
];
const CONTACT_DURATION = ['with-duration', 'without-duration'] as const;
const WAITING_INTERVALS = ['start-to-first-contact', 'referral-to-care'] as const;

const stratifier = (
  code: string,
  system: string,
  strata: StrataKind,
  description: string,
  codes: readonly string[] = codesOf(system),
): StratifierSpec => ({ code, system, codes, strata, description });

export const GROUPS: readonly GroupSpec[] = [
  {
    code: 'inflow',
    population: 'Trajectories started in the period (new help questions taken on by the youth professional).',
    stratifiers: [
      stratifier('age-band', AGE_BAND_SYSTEM, 'partition', "The child's age on the trajectory's start date."),
      stratifier(
        'referrer',
        REFERRER_SUBTYPE_SYSTEM,
        'partition',
        'Who referred the child to the youth professional; each stratum also carries its COD327 referrer type.',
      ),
    ],
  },
  {
    code: 'not-counted',
    population:
      'Trajectories started in the period that the practice or the municipality registered but that do not count: ' +
      'no consent for purpose monitoring on their day, or an objection or a withdrawal took them out (one figure, ' +
      'so it does not say which).',
    score:
      'The completeness (registratiegraad) in percent: inflow / (inflow + not counted) × 100, rounded to a whole ' +
      'percent; shown only where both counts are.',
    stratifiers: [],
  },
  {
    code: 'closed',
    population: 'Trajectories closed in the period.',
    stratifiers: [stratifier('outcome', TRAJECTORY_OUTCOME_SYSTEM, 'partition', 'How the trajectory ended.')],
  },
  {
    code: 'contacts-per-trajectory',
    population: 'Trajectories closed in the period with at least one registered contact.',
    score:
      'The mean number of contacts per such trajectory; withheld beside any withheld bin (with the total it gives ' +
      'the sum of contacts, which can fill the bins in).',
    stratifiers: [
      stratifier(
        'contacts',
        MONITORING_SYSTEM,
        'partition',
        'Number of contacts: 1-3, 4-5, 6-8, 9-10, 11 or more.',
        CONTACT_BINS,
      ),
    ],
  },
  {
    code: 'contacts-median',
    population: 'The trajectories of contacts-per-trajectory.',
    score:
      'The median number of contacts per such trajectory (the usual median: the mean of the two middle values when ' +
      "their number is even). Shown with that group's total, unless it would narrow a withheld bin to one value.",
    stratifiers: [],
  },
  {
    code: 'contact-time',
    population:
      'Contacts held in the period, of trajectories that count; the stratum says whether the contact has a ' +
      'registered duration.',
    score:
      "The professional's contact hours in the period: the durations of the contacts that have one, in whole hours. " +
      'A contact without a duration is in the count but not in the hours. Shown where the with-duration stratum is.',
    stratifiers: [
      stratifier(
        'duration',
        MONITORING_SYSTEM,
        'partition',
        'Whether the contact has a registered duration.',
        CONTACT_DURATION,
      ),
    ],
  },
  {
    code: 'help-question',
    population: 'Trajectories open at some time in the period.',
    stratifiers: [
      stratifier(
        'help-question',
        HELP_QUESTION_CATEGORY_SYSTEM,
        'overlapping',
        'Nature of the help question; a trajectory can have several, so strata need not add up to the total.',
      ),
    ],
  },
  {
    code: 'intervention',
    population: 'Trajectories open at some time in the period.',
    stratifiers: [
      stratifier(
        'intervention',
        INTERVENTION_SYSTEM,
        'overlapping',
        'Interventions used in the trajectory so far; several per trajectory, so strata need not add up.',
      ),
    ],
  },
  {
    code: 'children',
    population:
      'Children with a trajectory open at some time in the period, each once per practice: a child with two ' +
      'trajectories counts once, a child at two practices at each. Withheld as well when the trajectories less the ' +
      'children (the second trajectories of a child) are 1 to k − 1.',
    stratifiers: [],
    openInPeriod: true,
  },
  {
    code: 'referral-target',
    population: 'Referrals (opschaling) made in the period and not cancelled.',
    stratifiers: [
      stratifier('referral-target', REFERRAL_TARGET_SYSTEM, 'partition', 'Where the child was referred to.'),
      // Not every referral names a product category (one to the social team rarely does): those are in no stratum,
      // so the rest is suppressed as a `part`'s is.
      stratifier(
        'product-category',
        JZ020_SYSTEM,
        'part',
        'The iJw JZ020 product category the referral names: which kind of youth care; a referral naming none is in ' +
          'no stratum.',
      ),
    ],
  },
  {
    code: 'waiting-days',
    population: 'Measured waiting intervals; each stratum says which interval and over how many it is the median.',
    score:
      'The median number of days from the start of a trajectory (started in the period) to its first contact. The ' +
      'stratum referral-to-care has the median days from a referral (made in the period) to the start of care: ' +
      "the startDate of the municipality's care-started status (or of an allocated status of the earlier " +
      'vocabulary that gives one).',
    // Each interval is a part of another group's population (trajectories started, referrals made): its n is
    // suppressed as a `part` of that group's total, so neither it nor the number without one can be worked out.
    stratifiers: [stratifier('interval', MONITORING_SYSTEM, 'part', 'Which waiting interval.', WAITING_INTERVALS)],
  },
  {
    code: 'estimated-saving',
    population: 'p: trajectories closed in the period positively without referral.',
    score:
      'p × q − the cost of the youth professional for the period, in EUR. q (the average cost of the specialised ' +
      "trajectory that would otherwise have started) and the professional's cost come from the processing " +
      'agreements and are given as extensions, so anyone can recompute the score.',
    stratifiers: [],
  },
];

/** The stratum value of a category: its own coding first; a referrer sub-type also carries its COD327 code. */
export function categoryCodings(system: string, code: string): Coding[] {
  const display = tryGetConcept(system, code)?.display;
  const codings: Coding[] = [{ system, code, ...(display ? { display } : {}) }];
  if (system === REFERRER_SUBTYPE_SYSTEM) {
    const cod327 = tryTranslate(REFERRER_SUBTYPE_SYSTEM, code, COD327_SYSTEM);
    if (cod327) {
      codings.push({ ...cod327, display: tryGetConcept(COD327_SYSTEM, cod327.code ?? '')?.display });
    }
  }
  return codings;
}

export function groupCoding(code: string): Coding {
  return { system: MONITORING_SYSTEM, code, display: tryGetConcept(MONITORING_SYSTEM, code)?.display };
}

/** The Measure resource served at `GET /fhir/Measure/poh-jeugd-monitoring`. */
export function buildMeasure(): Measure {
  return {
    resourceType: 'Measure',
    id: MEASURE_ID,
    url: MEASURE_URL,
    // 2: contacts bins 1-3 / 4-5 / 6-8 / 9-10 / 11+ (were 1 / 2-7 / 8+), with not-counted, contacts-median,
    // contact-time and children; medians are the usual median (percentile_cont).
    version: '2',
    name: 'PohJeugdMonitoring',
    title: 'Monitoring praktijkondersteuner jeugd',
    status: 'active',
    experimental: false,
    publisher: 'jeugdbrug',
    description:
      "The figures municipalities monitor the youth professional in the GP practice by, from jeugdbrug's " +
      'reporting store (pseudonymised, no identity). Counts from 1 to k − 1 are withheld, with complementary ' +
      'suppression across strata, practices and periods; a withheld count carries the data-absent-reason ' +
      'extension with code masked. Every median is the usual median (the mean of the two middle values when ' +
      'their number is even).',
    subjectCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/resource-types', code: 'EpisodeOfCare' }] },
    scoring: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-scoring', code: 'cohort', display: 'Cohort' }],
    },
    group: GROUPS.map((g) => ({
      code: { coding: [groupCoding(g.code)] },
      description: g.score ? `${g.population} ${g.score}` : g.population,
      population: [
        {
          code: {
            coding:
              g.code === 'estimated-saving'
                ? [groupCoding('p')]
                : [{ system: MEASURE_POPULATION_SYSTEM, code: 'initial-population', display: 'Initial Population' }],
          },
          description: g.population,
          // The criteria are computed in SQL over the reporting store; CQL identifiers name them, the text explains.
          criteria: { language: 'text/cql', expression: `"${g.code} population"`, description: g.population },
        },
      ],
      ...(g.stratifiers.length
        ? {
            stratifier: g.stratifiers.map((s) => ({
              code: { coding: [groupCoding(s.code)] },
              description: `${s.description} Codes: ${s.system}`,
            })),
          }
        : {}),
    })),
  };
}
