import { allowListOf, type Agreement } from './agreement';
import type { DataClass, Purpose } from '../contracts/sharing';
import type { DecisionReason, DecisionRequest } from './types';

/**
 * Which processing agreement a disclosure may rest on. Only the version of each agreement that is in force counts,
 * and when none fits, the reason given is that of the candidate that came closest.
 */

export interface AgreementSelection {
  /** Agreements that fit, ordered by id; empty when none does. */
  readonly fitting: readonly Agreement[];
  /** When none fits: the reason of the candidate that came closest. */
  readonly reason: DecisionReason;
}

/** How far a candidate got through the checks: a higher stage is a more specific reason. */
interface Miss {
  readonly stage: number;
  readonly reason: DecisionReason;
}

function label(agreement: Agreement): string {
  return `Agreement ${agreement.id} v${agreement.version}`;
}

/**
 * The version of one agreement that governs `day`. A draft is not yet agreed and a version whose validFrom lies
 * ahead has not taken effect, so neither supersedes the version in force; a later suspension or termination does.
 * When no version is in force the newest one is returned, so its own status or validFrom explains the deny.
 */
function versionInForce(versions: readonly [Agreement, ...Agreement[]], day: string): Agreement {
  let inForce: Agreement | undefined;
  let newest = versions[0];
  for (const v of versions) {
    if (v.version > newest.version) {
      newest = v;
    }
    if (v.status !== 'draft' && v.validFrom <= day && (!inForce || v.version > inForce.version)) {
      inForce = v;
    }
  }
  return inForce ?? newest;
}

function missOf(
  agreement: Agreement,
  request: DecisionRequest,
  classes: readonly DataClass[],
  day: string,
): Miss | undefined {
  if (agreement.status !== 'active') {
    return { stage: 1, reason: { code: 'agreement-not-active', detail: `${label(agreement)} is ${agreement.status}` } };
  }
  if (day < agreement.validFrom) {
    const detail = `${label(agreement)} takes effect on ${agreement.validFrom}`;
    return { stage: 2, reason: { code: 'agreement-not-yet-valid', detail } };
  }
  if (agreement.validTo !== undefined && day > agreement.validTo) {
    return {
      stage: 2,
      reason: { code: 'agreement-expired', detail: `${label(agreement)} ended on ${agreement.validTo}` },
    };
  }
  if (!agreement.purposes.includes(request.purpose)) {
    const detail = `${label(agreement)} does not cover purpose ${request.purpose}`;
    return { stage: 3, reason: { code: 'purpose-not-covered', detail } };
  }
  const allowList = allowListOf(agreement, request.direction);
  if (classes.some((c) => allowList[c] === undefined)) {
    const uncovered = classes.filter((c) => allowList[c] === undefined);
    const towards = request.direction === 'to-practice' ? ' towards the practice' : '';
    const detail = `${label(agreement)} does not cover data class ${uncovered.join(', ')}${towards}`;
    return { stage: 4, reason: { code: 'class-not-covered', detail } };
  }
  return undefined;
}

/** The reason of a selection where agreements fit; never shown (the decision rests on a fitting agreement). */
const FITS: DecisionReason = { code: 'no-agreement', detail: 'Every candidate agreement fits' };

/** Per practice, per municipality: each agreement id (sorted) with all its versions. */
type AgreementIndex = Map<string, Map<string, readonly (readonly [Agreement, ...Agreement[]])[]>>;

// Agreements are configuration, loaded once: the grouping by parties and id is made once per list, not per decision.
const indexes = new WeakMap<readonly Agreement[], AgreementIndex>();

function indexAgreements(agreements: readonly Agreement[]): AgreementIndex {
  let index = indexes.get(agreements);
  if (index === undefined) {
    const grouped = new Map<string, Map<string, Map<string, [Agreement, ...Agreement[]]>>>();
    for (const a of agreements) {
      let byMunicipality = grouped.get(a.practice.agb);
      if (!byMunicipality) {
        byMunicipality = new Map();
        grouped.set(a.practice.agb, byMunicipality);
      }
      let byId = byMunicipality.get(a.municipality.code);
      if (!byId) {
        byId = new Map();
        byMunicipality.set(a.municipality.code, byId);
      }
      const versions = byId.get(a.id);
      if (versions) {
        versions.push(a);
      } else {
        byId.set(a.id, [a]);
      }
    }
    index = new Map(
      [...grouped].map(([agb, byMunicipality]) => [
        agb,
        new Map(
          [...byMunicipality].map(([code, byId]) => [
            code,
            [...byId.keys()].sort().map((id) => byId.get(id) as [Agreement, ...Agreement[]]),
          ]),
        ),
      ]),
    );
    indexes.set(agreements, index);
  }
  return index;
}

/**
 * The agreements in force between the practice and the municipality on `day` that name the purpose and every
 * requested class, ordered by id; or, when there are none, the most specific reason why.
 */
export function selectAgreements(
  agreements: readonly Agreement[],
  request: DecisionRequest,
  classes: readonly DataClass[],
  day: string,
): AgreementSelection {
  const candidates = indexAgreements(agreements).get(request.practiceAgb)?.get(request.municipalityCode) ?? [];
  let closest: Miss | undefined;
  const fitting: Agreement[] = [];
  for (const versions of candidates) {
    const agreement = versionInForce(versions, day);
    const miss = missOf(agreement, request, classes, day);
    if (!miss) {
      fitting.push(agreement);
    } else if (closest === undefined || miss.stage > closest.stage) {
      closest = miss;
    }
  }
  if (closest !== undefined) {
    return { fitting, reason: closest.reason };
  }
  if (fitting.length > 0) {
    return { fitting, reason: FITS };
  }
  const detail = `No agreement between practice ${request.practiceAgb} and municipality ${request.municipalityCode}`;
  return { fitting, reason: { code: 'no-agreement', detail } };
}

/**
 * The agreements in force on `day` between the municipality and any practice that name `purpose`, ordered by id:
 * what an aggregate disclosure (the monitoring report, about no one child) rests on.
 */
export function agreementsInForceFor(
  agreements: readonly Agreement[],
  municipalityCode: string,
  purpose: Purpose,
  day: string,
): Agreement[] {
  const byId = new Map<string, [Agreement, ...Agreement[]]>();
  for (const a of agreements) {
    if (a.municipality.code === municipalityCode) {
      const versions = byId.get(a.id);
      if (versions) {
        versions.push(a);
      } else {
        byId.set(a.id, [a]);
      }
    }
  }
  return [...byId.values()]
    .map((versions) => versionInForce(versions, day))
    .filter(
      (a) =>
        a.status === 'active' &&
        a.validFrom <= day &&
        (a.validTo === undefined || a.validTo >= day) &&
        a.purposes.includes(purpose),
    )
    .sort((a, b) => a.id.localeCompare(b.id));
}
