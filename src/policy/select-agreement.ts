import { allowListOf, type Agreement } from './agreement';
import type { DataClass, Purpose } from '../contracts/sharing';
import type { DecisionReason, DecisionRequest } from './types';
import { dayAfter } from '../kernel/dutch-time';

// Bound once: run through tsx, each use of an imported binding goes through esbuild's CommonJS interop getters, and
// this one is called for every decision (see decide.ts).
const allowListFor = allowListOf;

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
 * The version of one agreement that governs `day`, among `versions[from..to)` (all of one id). A draft is not yet
 * agreed and a version whose validFrom lies ahead has not taken effect, so neither supersedes the version in force;
 * a later suspension or termination does. When no version is in force the newest one is returned, so its own status
 * or validFrom explains the deny.
 */
function versionInForce(versions: readonly Agreement[], from: number, to: number, day: string): Agreement {
  let inForce: Agreement | undefined;
  let newest = versions[from] as Agreement;
  for (let i = from; i < to; i++) {
    const v = versions[i] as Agreement;
    if (v.version > newest.version) {
      newest = v;
    }
    if (v.status !== 'draft' && v.validFrom <= day && (!inForce || v.version > inForce.version)) {
      inForce = v;
    }
  }
  return inForce ?? newest;
}

function coversEvery(allowList: Partial<Record<DataClass, unknown>>, classes: readonly DataClass[]): boolean {
  for (const c of classes) {
    if (allowList[c] === undefined) {
      return false;
    }
  }
  return true;
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
  const allowList = allowListFor(agreement, request.direction);
  if (!coversEvery(allowList, classes)) {
    const uncovered = classes.filter((c) => allowList[c] === undefined);
    const towards = request.direction === 'to-practice' ? ' towards the practice' : '';
    const detail = `${label(agreement)} does not cover data class ${uncovered.join(', ')}${towards}`;
    return { stage: 4, reason: { code: 'class-not-covered', detail } };
  }
  return undefined;
}

/** The reason of a selection where agreements fit; never shown (the decision rests on a fitting agreement). */
const FITS: DecisionReason = { code: 'no-agreement', detail: 'Every candidate agreement fits' };

const NONE: readonly Agreement[] = [];

const byId = (a: Agreement, b: Agreement): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The agreements between the practice and the municipality, ordered by id, the versions of one id in list order.
 * Callers pass the few agreements of these parties (the registry's findAgreements), in a new list per event, so a
 * scan is cheaper than an index kept per list.
 */
function candidatesOf(
  agreements: readonly Agreement[],
  practiceAgb: string,
  municipalityCode: string,
): readonly Agreement[] {
  // Built from a one-element literal rather than an empty list: a first push would reserve room for 16.
  let candidates: Agreement[] | undefined;
  for (const a of agreements) {
    if (a.practice.agb === practiceAgb && a.municipality.code === municipalityCode) {
      if (candidates === undefined) {
        candidates = [a];
      } else {
        candidates.push(a);
      }
    }
  }
  // A stable sort: the versions of one id keep their order, as versionInForce breaks ties by it.
  return candidates === undefined ? NONE : candidates.length > 1 ? candidates.sort(byId) : candidates;
}

/**
 * The last selection made from one agreement alone (the typical case: the parties have one agreement) and what it
 * was made for. A selection reads nothing but the agreement (immutable once loaded), the day, the purpose, the
 * direction and the classes, and its parts are only read, so a decision for the same of these takes it as it is.
 */
interface Selected {
  readonly day: string;
  readonly purpose: DecisionRequest['purpose'];
  readonly direction: DecisionRequest['direction'];
  readonly classes: readonly DataClass[];
  readonly selection: AgreementSelection;
}

const selectedFrom = new WeakMap<Agreement, Selected>();

/** Whether two lists of classes name the same classes in the same order. */
export function sameClasses(a: readonly DataClass[], b: readonly DataClass[]): boolean {
  if (a === b) {
    return true;
  }
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

/** The one agreement of `agreements` between the parties, if exactly one is and it is the only one listed. */
function onlyCandidate(agreements: readonly Agreement[], request: DecisionRequest): Agreement | undefined {
  if (agreements.length !== 1) {
    return undefined;
  }
  const a = agreements[0] as Agreement;
  return a.practice.agb === request.practiceAgb && a.municipality.code === request.municipalityCode ? a : undefined;
}

/**
 * The agreements in force between the practice and the municipality on `day` that name the purpose and every
 * requested class, ordered by id; or, when there are none, the most specific reason why. With one agreement, a
 * fitting selection is kept with it and given again while day, purpose, direction and classes stay the same (the
 * decisions of a day); a deny's reason names the request's parties and is made anew.
 */
export function selectAgreements(
  agreements: readonly Agreement[],
  request: DecisionRequest,
  classes: readonly DataClass[],
  day: string,
): AgreementSelection {
  const only = onlyCandidate(agreements, request);
  if (only !== undefined) {
    const kept = selectedFrom.get(only);
    if (
      kept !== undefined &&
      kept.day === day &&
      kept.purpose === request.purpose &&
      kept.direction === request.direction &&
      sameClasses(kept.classes, classes)
    ) {
      return kept.selection;
    }
  }
  const selection = selectAnew(agreements, request, classes, day);
  if (only === undefined || selection.fitting.length !== 1) {
    return selection;
  }
  const kept: Selected = {
    day,
    purpose: request.purpose,
    direction: request.direction,
    classes: Object.freeze([...classes]),
    selection: Object.freeze({ fitting: Object.freeze([...selection.fitting]), reason: selection.reason }),
  };
  selectedFrom.set(only, kept);
  return kept.selection;
}

function selectAnew(
  agreements: readonly Agreement[],
  request: DecisionRequest,
  classes: readonly DataClass[],
  day: string,
): AgreementSelection {
  const candidates = candidatesOf(agreements, request.practiceAgb, request.municipalityCode);
  let closest: Miss | undefined;
  let fitting: Agreement[] | undefined;
  for (let from = 0, to = 0; from < candidates.length; from = to) {
    const id = (candidates[from] as Agreement).id;
    while (to < candidates.length && (candidates[to] as Agreement).id === id) {
      to++;
    }
    const agreement = versionInForce(candidates, from, to, day);
    const miss = missOf(agreement, request, classes, day);
    if (!miss) {
      if (fitting === undefined) {
        fitting = [agreement];
      } else {
        fitting.push(agreement);
      }
    } else if (closest === undefined || miss.stage > closest.stage) {
      closest = miss;
    }
  }
  if (closest !== undefined) {
    return { fitting: fitting ?? NONE, reason: closest.reason };
  }
  if (fitting !== undefined) {
    return { fitting, reason: FITS };
  }
  const detail = `No agreement between practice ${request.practiceAgb} and municipality ${request.municipalityCode}`;
  return { fitting: NONE, reason: { code: 'no-agreement', detail } };
}

/** The agreements in force on `day` between the municipality and any practice that name `purpose`, ordered by id. */
function agreementsInForceOn(
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
    .map((versions) => versionInForce(versions, 0, versions.length, day))
    .filter(
      (a) =>
        a.status === 'active' &&
        a.validFrom <= day &&
        (a.validTo === undefined || a.validTo >= day) &&
        a.purposes.includes(purpose),
    )
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The agreements between the municipality and any practice that name `purpose` and are in force on at least one day
 * from `first` to `last` (both included), ordered by id, each version once: what an aggregate disclosure about a
 * period (the monitoring report, about no one child) rests on. Which version is in force, and whether it is, changes
 * only on a version's validFrom and on the day after a validTo, so the period's first day and those days within it
 * are the only ones to look at.
 */
export function agreementsInForceDuring(
  agreements: readonly Agreement[],
  municipalityCode: string,
  purpose: Purpose,
  first: string,
  last: string,
): Agreement[] {
  const days = new Set([first]);
  for (const a of agreements) {
    if (a.municipality.code === municipalityCode) {
      for (const day of [a.validFrom, a.validTo === undefined ? undefined : dayAfter(a.validTo)]) {
        if (day !== undefined && day > first && day <= last) {
          days.add(day);
        }
      }
    }
  }
  const found = new Set<Agreement>();
  for (const day of days) {
    for (const a of agreementsInForceOn(agreements, municipalityCode, purpose, day)) {
      found.add(a);
    }
  }
  return [...found].sort(byId);
}
