import type { Consent, ConsentProvision, ConsentProvisionActor } from '@medplum/fhirtypes';
import { MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../kernel/fhir/systems';
import type { DataClass, Purpose } from '../contracts/sharing';

/**
 * What one person's FHIR Consents say about one disclosure: permit, deny (an objection), or nothing, and then why
 * nothing. Who that person must be (child, guardian with authority) is decided in decide.ts.
 */

/** The disclosure a consent is held against. */
export interface ConsentContext {
  /** Europe/Amsterdam calendar day of the disclosure (YYYY-MM-DD): date-only periods are compared with it. */
  readonly day: string;
  /** The moment of disclosure in epoch ms: periods given as dateTime are compared with it. */
  readonly atMs: number;
  readonly municipalityCode: string;
  readonly purpose: Purpose;
  readonly classes: readonly DataClass[];
}

/** Why a consent of the right person does not cover the disclosure. */
export type ConsentMissCode =
  | 'consent-not-yet-valid'
  | 'consent-expired'
  | 'actor-not-covered'
  | 'consent-purpose-not-covered'
  | 'consent-class-not-covered';

/** A near miss, or a permit that was withdrawn (its consent is now `inactive`). */
export type StanceMissCode = ConsentMissCode | 'consent-withdrawn';

/** One person's stance on the whole disclosure (every requested class). */
export type Stance =
  | { readonly kind: 'permit'; readonly consentIds: readonly string[] }
  | { readonly kind: 'deny'; readonly consentIds: readonly string[] }
  | {
      readonly kind: 'silent';
      /** The most telling near miss, if any consent of this person came close. */
      readonly miss?: { readonly code: StanceMissCode; readonly consentId: string } | undefined;
    };

/** The consents one person performed that can count: active ones, and inactive (withdrawn) ones for the reason. */
export interface PersonConsents {
  readonly active: Consent[];
  readonly withdrawn: Consent[];
}

const PATIENT_PRIVACY = 'patient-privacy';
const RECIPIENT_ROLE = 'IRCP';
const DATE_ONLY = /^\d{4}(-\d{2}(-\d{2})?)?$/;

// Consents come from the store as they were recorded, not re-validated here: elements FHIR requires (scope,
// category, actor.role, actor.reference) are still read as possibly absent, and a consent lacking them never counts.

function isPrivacyConsent(consent: Consent): boolean {
  return (
    consent.scope?.coding?.some((c) => c.system === CONSENT_SCOPE_SYSTEM && c.code === PATIENT_PRIVACY) === true &&
    consent.category?.some(
      (cc) => cc.coding?.some((c) => c.system === LOINC_SYSTEM && c.code === CONSENT_CATEGORY_CODE) === true,
    )
  );
}

/**
 * Groups the consents that can count by performer reference (`Patient/{id}`, `RelatedPerson/{id}`). Consents of
 * another scope or category, or naming another patient, never count; only `active` ones speak, `inactive` ones
 * are kept to say a consent was withdrawn; draft, proposed, rejected and entered-in-error count for nothing.
 */
export function indexConsents(consents: readonly Consent[], patientId: string): Map<string, PersonConsents> {
  const byPerformer = new Map<string, PersonConsents>();
  const patientReference = `Patient/${patientId}`;
  for (const consent of consents) {
    if (consent.status !== 'active' && consent.status !== 'inactive') {
      continue;
    }
    if (!isPrivacyConsent(consent)) {
      continue;
    }
    const subject = consent.patient?.reference;
    if (subject !== undefined && subject !== patientReference) {
      continue;
    }
    for (const performer of consent.performer ?? []) {
      const reference = performer.reference;
      if (reference === undefined) {
        continue;
      }
      let entry = byPerformer.get(reference);
      if (!entry) {
        entry = { active: [], withdrawn: [] };
        byPerformer.set(reference, entry);
      }
      (consent.status === 'active' ? entry.active : entry.withdrawn).push(consent);
    }
  }
  return byPerformer;
}

// A period given as a date is compared by Amsterdam calendar day (a consent ending "2025-06-15" still holds all of
// that day); one given as a dateTime is compared by instant. A date that cannot be read never covers the moment.
function startsBy(start: string, ctx: ConsentContext): boolean {
  if (DATE_ONLY.test(start)) {
    return start <= ctx.day.slice(0, start.length);
  }
  return Date.parse(start) <= ctx.atMs;
}

function lastsUntil(end: string, ctx: ConsentContext): boolean {
  if (DATE_ONLY.test(end)) {
    return ctx.day.slice(0, end.length) <= end;
  }
  return ctx.atMs <= Date.parse(end);
}

function isMunicipalityRecipient(actor: ConsentProvisionActor, municipalityCode: string): boolean {
  const identifier = actor.reference?.identifier;
  return (
    identifier?.system === MUNICIPALITY_CODE_SYSTEM &&
    identifier.value === municipalityCode &&
    actor.role?.coding?.some((c) => c.system === PARTICIPATION_TYPE_SYSTEM && c.code === RECIPIENT_ROLE) === true
  );
}

/**
 * Restrictions this engine does not evaluate (codes, single resources, data periods, security labels) make a rule
 * cover only part of a class. Such a permit cannot allow the whole class; such a deny is honoured for the whole
 * class. Either way the engine errs towards not disclosing.
 */
function hasPartialRestriction(p: ConsentProvision): boolean {
  return (
    (p.code !== undefined && p.code.length > 0) ||
    (p.data !== undefined && p.data.length > 0) ||
    (p.securityLabel !== undefined && p.securityLabel.length > 0) ||
    p.dataPeriod !== undefined
  );
}

/** Why a rule does not apply to the disclosure regardless of class, or undefined when it does. */
function scopeMiss(p: ConsentProvision, type: 'permit' | 'deny', ctx: ConsentContext): ConsentMissCode | undefined {
  const period = p.period;
  if (period?.start !== undefined && !startsBy(period.start, ctx)) {
    return 'consent-not-yet-valid';
  }
  if (period?.end !== undefined && !lastsUntil(period.end, ctx)) {
    return 'consent-expired';
  }
  if (
    p.actor !== undefined &&
    p.actor.length > 0 &&
    !p.actor.some((a) => isMunicipalityRecipient(a, ctx.municipalityCode))
  ) {
    return 'actor-not-covered';
  }
  if (
    p.purpose !== undefined &&
    p.purpose.length > 0 &&
    !p.purpose.some((c) => c.system === PURPOSE_SYSTEM && c.code === ctx.purpose)
  ) {
    return 'consent-purpose-not-covered';
  }
  if (type === 'permit' && hasPartialRestriction(p)) {
    return 'consent-class-not-covered';
  }
  return undefined;
}

function coversClass(p: ConsentProvision, dataClass: DataClass): boolean {
  return (
    p.class === undefined ||
    p.class.length === 0 ||
    p.class.some((c) => c.system === RESOURCE_TYPE_SYSTEM && c.code === dataClass)
  );
}

interface RuleMatch {
  readonly type: 'permit' | 'deny';
  /** 0 for the root provision, +1 per level of nesting: deeper rules are exceptions to their parent. */
  readonly depth: number;
}

const ROOT_PERMIT: RuleMatch = { type: 'permit', depth: 0 };
const ROOT_DENY: RuleMatch = { type: 'deny', depth: 0 };

/**
 * The most specific rule under a matching provision for one class. Nested provisions are exceptions that only
 * apply inside their parent; at equal depth a deny wins. A nested rule without a type keeps its parent's.
 */
function mostSpecific(
  p: ConsentProvision,
  type: 'permit' | 'deny',
  ctx: ConsentContext,
  dataClass: DataClass,
  depth: number,
): RuleMatch {
  const children = p.provision;
  let best: RuleMatch = depth === 0 ? (type === 'permit' ? ROOT_PERMIT : ROOT_DENY) : { type, depth };
  if (children === undefined) {
    return best;
  }
  for (const child of children) {
    const childType = child.type ?? type;
    if (!coversClass(child, dataClass) || scopeMiss(child, childType, ctx) !== undefined) {
      continue;
    }
    const match = mostSpecific(child, childType, ctx, dataClass, depth + 1);
    if (match.depth > best.depth || (match.depth === best.depth && match.type === 'deny')) {
      best = match;
    }
  }
  return best;
}

/** A consent's answer for one class. */
interface Verdict {
  readonly type: 'permit' | 'deny';
  readonly depth: number;
  readonly consent: Consent;
}

interface Miss {
  readonly code: ConsentMissCode;
  readonly consent: Consent;
}

/** Consent.dateTime in epoch ms; a consent without a readable one counts as the oldest. */
function timeOf(consent: Consent): number {
  const time = consent.dateTime === undefined ? Number.NaN : Date.parse(consent.dateTime);
  return Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time;
}

/**
 * Later consents supersede earlier ones; then the more specific rule; then a deny over a permit. Times are only
 * parsed when two consents of one person meet, which keeps the common case (one consent each) cheap.
 */
function supersedes(a: Verdict, b: Verdict): boolean {
  if (a.consent !== b.consent) {
    const ta = timeOf(a.consent);
    const tb = timeOf(b.consent);
    if (ta !== tb) {
      return ta > tb;
    }
  }
  if (a.depth !== b.depth) {
    return a.depth > b.depth;
  }
  return a.type === 'deny' && b.type === 'permit';
}

/**
 * Holds one consent against every requested class: a verdict where its rules apply, else (when `misses` is given)
 * why its root rule does not.
 */
function evaluate(
  consent: Consent,
  ctx: ConsentContext,
  verdicts: (Verdict | undefined)[],
  misses: (Miss | undefined)[] | undefined,
): void {
  const root = consent.provision;
  // Without a root type the consent does not say whether it permits or objects: it cannot be acted on.
  if (root?.type === undefined) {
    return;
  }
  const scope = scopeMiss(root, root.type, ctx);
  for (let i = 0; i < ctx.classes.length; i++) {
    const dataClass = ctx.classes[i] as DataClass;
    if (scope === undefined && coversClass(root, dataClass)) {
      const match = mostSpecific(root, root.type, ctx, dataClass, 0);
      const verdict: Verdict = { type: match.type, depth: match.depth, consent };
      const current = verdicts[i];
      if (current === undefined || supersedes(verdict, current)) {
        verdicts[i] = verdict;
      }
    } else if (misses !== undefined) {
      const current = misses[i];
      if (current === undefined || timeOf(consent) > timeOf(current.consent)) {
        misses[i] = { code: scope ?? 'consent-class-not-covered', consent };
      }
    }
  }
}

function addId(ids: string[], consent: Consent): void {
  const id = consent.id;
  if (id !== undefined && id !== '' && !ids.includes(id)) {
    ids.push(id);
  }
}

const SILENT: Stance = { kind: 'silent' };

/**
 * One person's stance on the disclosure: deny when any requested class is denied, permit when every class is
 * permitted, otherwise silent with the most telling near miss: a withdrawn consent that would have permitted,
 * else the latest consent that came close.
 */
export function stanceOf(person: PersonConsents | undefined, ctx: ConsentContext): Stance {
  if (!person) {
    return SILENT;
  }
  const n = ctx.classes.length;
  const verdicts = new Array<Verdict | undefined>(n).fill(undefined);
  const misses = new Array<Miss | undefined>(n).fill(undefined);
  for (const consent of person.active) {
    evaluate(consent, ctx, verdicts, misses);
  }

  const denyIds: string[] = [];
  const permitIds: string[] = [];
  let denied = false;
  let permitted = 0;
  for (const verdict of verdicts) {
    if (verdict?.type === 'deny') {
      denied = true;
      addId(denyIds, verdict.consent);
    } else if (verdict?.type === 'permit') {
      permitted++;
      addId(permitIds, verdict.consent);
    }
  }
  if (denied) {
    return { kind: 'deny', consentIds: denyIds };
  }
  if (permitted === n) {
    return { kind: 'permit', consentIds: permitIds };
  }
  return { kind: 'silent', miss: withdrawnPermit(person.withdrawn, ctx, verdicts) ?? latestMiss(misses, verdicts) };
}

/** The latest withdrawn consent that would now permit a class nothing else covers. */
function withdrawnPermit(
  withdrawn: readonly Consent[],
  ctx: ConsentContext,
  verdicts: readonly (Verdict | undefined)[],
): { code: 'consent-withdrawn'; consentId: string } | undefined {
  let latest: Consent | undefined;
  for (const consent of withdrawn) {
    const wouldBe = new Array<Verdict | undefined>(ctx.classes.length).fill(undefined);
    evaluate(consent, ctx, wouldBe, undefined);
    const fillsGap = wouldBe.some((v, i) => v?.type === 'permit' && verdicts[i] === undefined);
    if (fillsGap && (latest === undefined || timeOf(consent) > timeOf(latest))) {
      latest = consent;
    }
  }
  return latest === undefined ? undefined : { code: 'consent-withdrawn', consentId: latest.id ?? '' };
}

function latestMiss(
  misses: readonly (Miss | undefined)[],
  verdicts: readonly (Verdict | undefined)[],
): { code: ConsentMissCode; consentId: string } | undefined {
  let latest: Miss | undefined;
  for (let i = 0; i < misses.length; i++) {
    const miss = misses[i];
    if (
      miss !== undefined &&
      verdicts[i] === undefined &&
      (latest === undefined || timeOf(miss.consent) > timeOf(latest.consent))
    ) {
      latest = miss;
    }
  }
  return latest === undefined ? undefined : { code: latest.code, consentId: latest.consent.id ?? '' };
}
