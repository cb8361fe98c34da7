import type { Coding, Consent, ConsentProvision } from '@medplum/fhirtypes';
import type { DataClass, Purpose, SharingDirection } from '../contracts/sharing';
import { MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  CONSENT_WITHDRAWN_BY_EXTENSION,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../kernel/fhir/systems';

/**
 * What one person's FHIR Consents say about one disclosure: permit, deny (an objection), or nothing, and then why
 * nothing. Who that person must be (child, guardian with authority) is decided in decide.ts.
 *
 * The consents are read as FHIR, in place. The pipeline loads a child's consents anew for every event, so each
 * consent object meets one decision: a compiled copy, or a cache entry per object, costs more than it saves. The
 * rules below read only the elements they compare and allocate nothing while evaluating.
 */

/** The disclosure a consent is held against, and the consents of the child it is about. */
export interface ConsentContext {
  /** Europe/Amsterdam calendar day of the disclosure (YYYY-MM-DD): date-only periods are compared with it. */
  readonly day: string;
  /** The moment of disclosure in epoch ms: periods given as dateTime are compared with it. */
  readonly atMs: number;
  readonly municipalityCode: string;
  readonly purpose: Purpose;
  readonly classes: readonly DataClass[];
  /** Every consent known for the child, in any status, as the caller loaded them. */
  readonly consents: readonly Consent[];
  /** `Patient/{id}` of the child: a consent naming another patient never counts. */
  readonly patientReference: string;
  /** Which way the data would go: whose allow-list a permit carries. */
  readonly direction: SharingDirection;
}

/** Why a consent of the right person does not cover the disclosure. */
export type ConsentMissCode =
  | 'consent-not-yet-valid'
  | 'consent-expired'
  | 'actor-not-covered'
  | 'consent-purpose-not-covered'
  | 'consent-class-not-covered';

/** A near miss, or a permit that was withdrawn or voided as recorded in error. */
export type StanceMissCode = ConsentMissCode | 'consent-withdrawn' | 'consent-entered-in-error';

/** One person's stance on the whole disclosure (every requested class). */
export type Stance =
  | { readonly kind: 'permit'; readonly consentIds: readonly string[] }
  | { readonly kind: 'deny'; readonly consentIds: readonly string[] }
  | {
      readonly kind: 'silent';
      /** The most telling near miss, if any consent of this person came close. */
      readonly miss?: { readonly code: StanceMissCode; readonly consentId: string } | undefined;
    };

// Local copies of the systems compared for every rule and class: run through tsx (as `npm start` does), an imported
// binding is read through two getters of esbuild's CommonJS interop on every use, which measured at a tenth of a
// decision's cost.
const CLASS_SYSTEM: string = RESOURCE_TYPE_SYSTEM;
const PURPOSE_CODES_SYSTEM: string = PURPOSE_SYSTEM;
const MUNICIPALITY_SYSTEM: string = MUNICIPALITY_CODE_SYSTEM;
const WITHDRAWN_BY: string = CONSENT_WITHDRAWN_BY_EXTENSION;

/** The codings that make a consent one this engine reads, and an actor its recipient. */
const PRIVACY_SCOPE = { system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' } as const;
const PRIVACY_CATEGORY = { system: LOINC_SYSTEM, code: CONSENT_CATEGORY_CODE } as const;
const RECIPIENT_ROLE = { system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP' } as const;

function hasCoding(codings: readonly Coding[] | undefined, wanted: { system: string; code: string }): boolean {
  if (codings !== undefined) {
    for (const c of codings) {
      if (c.system === wanted.system && c.code === wanted.code) {
        return true;
      }
    }
  }
  return false;
}

/** The parties (performer references) who withdrew a consent they gave jointly with others. */
export function withdrawnParties(consent: Consent): string[] {
  return (consent.extension ?? [])
    .filter((e) => e.url === CONSENT_WITHDRAWN_BY_EXTENSION)
    .map((e) => e.valueReference?.reference)
    .filter((r): r is string => r !== undefined);
}

function hasWithdrawn(consent: Consent, party: string): boolean {
  if (consent.extension !== undefined) {
    for (const e of consent.extension) {
      if (e.url === WITHDRAWN_BY && e.valueReference?.reference === party) {
        return true;
      }
    }
  }
  return false;
}

function performedBy(consent: Consent, reference: string): boolean {
  if (consent.performer !== undefined) {
    for (const p of consent.performer) {
      if (p.reference === reference) {
        return true;
      }
    }
  }
  return false;
}

// Consents come from the store as they were recorded, not re-validated here: elements FHIR requires (scope,
// category, actor.role, actor.reference) are still read as possibly absent, and a consent lacking them never counts.
function isPrivacyConsent(consent: Consent): boolean {
  if (!hasCoding(consent.scope?.coding, PRIVACY_SCOPE) || consent.category === undefined) {
    return false;
  }
  for (const category of consent.category) {
    if (hasCoding(category.coding, PRIVACY_CATEGORY)) {
      return true;
    }
  }
  return false;
}

/**
 * How a consent counts for one of its performers. Consents of another scope or category, or naming another patient,
 * never count; only `active` ones speak, and only for the parties who have not withdrawn them; `inactive` and
 * `entered-in-error` ones are kept to say a consent was withdrawn or voided; draft, proposed and rejected count for
 * nothing.
 */
type Standing = 'active' | 'withdrawn' | 'entered-in-error' | undefined;

function standingOf(consent: Consent, person: string, ctx: ConsentContext): Standing {
  // Most of a child's consents are another person's: the performer is asked first.
  if (!performedBy(consent, person)) {
    return undefined;
  }
  const status = consent.status;
  if (status !== 'active' && status !== 'inactive' && status !== 'entered-in-error') {
    return undefined;
  }
  const patient = consent.patient?.reference;
  if ((patient !== undefined && patient !== ctx.patientReference) || !isPrivacyConsent(consent)) {
    return undefined;
  }
  if (status === 'entered-in-error') {
    return 'entered-in-error';
  }
  return status === 'active' && !hasWithdrawn(consent, person) ? 'active' : 'withdrawn';
}

/** Consent.dateTime in epoch ms; a consent without a readable one counts as the oldest. Read only to compare two. */
function consentTime(consent: Consent): number {
  const time = consent.dateTime === undefined ? Number.NaN : Date.parse(consent.dateTime);
  return Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time;
}

/** YYYY, YYYY-MM or YYYY-MM-DD: a (partial) calendar day, compared by day rather than by instant. */
function isDateOnly(value: string): boolean {
  const length = value.length;
  if (length !== 4 && length !== 7 && length !== 10) {
    return false;
  }
  for (let i = 0; i < length; i++) {
    const ch = value.charCodeAt(i);
    const ok = i === 4 || i === 7 ? ch === 45 /* - */ : ch >= 48 && ch <= 57;
    if (!ok) {
      return false;
    }
  }
  return true;
}

// A period given as a date is compared by Amsterdam calendar day (a consent ending "2025-06-15" still holds all of
// that day); one given as a dateTime is compared by instant. A date that cannot be read parses to NaN, which never
// compares true: it never covers the moment.
function startsBy(start: string, ctx: ConsentContext): boolean {
  return isDateOnly(start) ? start <= ctx.day.slice(0, start.length) : Date.parse(start) <= ctx.atMs;
}

function lastsUntil(end: string, ctx: ConsentContext): boolean {
  return isDateOnly(end) ? ctx.day.slice(0, end.length) <= end : ctx.atMs <= Date.parse(end);
}

/** Whether the rule names the municipality as recipient (IRCP); a rule naming no actor at all restricts nothing. */
function namesRecipient(p: ConsentProvision, municipalityCode: string): boolean {
  if (p.actor === undefined || p.actor.length === 0) {
    return true;
  }
  for (const a of p.actor) {
    const identifier = a.reference?.identifier;
    if (
      identifier?.system === MUNICIPALITY_SYSTEM &&
      identifier.value === municipalityCode &&
      hasCoding(a.role?.coding, RECIPIENT_ROLE)
    ) {
      return true;
    }
  }
  return false;
}

/** Whether `codings` name `code` in `system`; naming no coding at all restricts nothing. */
function namesCode(codings: readonly Coding[] | undefined, system: string, code: string): boolean {
  if (codings === undefined || codings.length === 0) {
    return true;
  }
  for (const c of codings) {
    if (c.system === system && c.code === code) {
      return true;
    }
  }
  return false;
}

/** Restrictions the engine does not evaluate (codes, data, security labels, data period): only part of a class. */
function isPartial(p: ConsentProvision): boolean {
  return (
    (p.code !== undefined && p.code.length > 0) ||
    (p.data !== undefined && p.data.length > 0) ||
    (p.securityLabel !== undefined && p.securityLabel.length > 0) ||
    p.dataPeriod !== undefined
  );
}

/**
 * Why a rule does not apply to the disclosure regardless of class, or undefined when it does. Restrictions this
 * engine does not evaluate (codes, single resources, data periods, security labels) make a rule cover only part of
 * a class: such a permit cannot allow the whole class; such a deny is honoured for the whole class. Either way the
 * engine errs towards not disclosing.
 */
function scopeMiss(p: ConsentProvision, type: 'permit' | 'deny', ctx: ConsentContext): ConsentMissCode | undefined {
  const period = p.period;
  if (period?.start !== undefined && !startsBy(period.start, ctx)) {
    return 'consent-not-yet-valid';
  }
  if (period?.end !== undefined && !lastsUntil(period.end, ctx)) {
    return 'consent-expired';
  }
  if (!namesRecipient(p, ctx.municipalityCode)) {
    return 'actor-not-covered';
  }
  if (!namesCode(p.purpose, PURPOSE_CODES_SYSTEM, ctx.purpose)) {
    return 'consent-purpose-not-covered';
  }
  if (type === 'permit' && isPartial(p)) {
    return 'consent-class-not-covered';
  }
  return undefined;
}

function coversClass(p: ConsentProvision, dataClass: DataClass): boolean {
  return namesCode(p.class, CLASS_SYSTEM, dataClass);
}

/**
 * A rule's weight as one number: 2 × its depth (0 for the root provision, +1 per level of nesting: deeper rules are
 * exceptions to their parent), plus 1 for a deny, so at equal depth a deny outweighs a permit.
 */
function weight(type: 'permit' | 'deny', depth: number): number {
  return 2 * depth + (type === 'deny' ? 1 : 0);
}

const isDeny = (w: number): boolean => (w & 1) === 1;

/**
 * The most specific rule under a matching provision for one class, as a weight. Nested provisions are exceptions
 * that only apply inside their parent; at equal depth a deny wins. A nested rule without a type keeps its parent's.
 */
function mostSpecific(
  p: ConsentProvision,
  type: 'permit' | 'deny',
  ctx: ConsentContext,
  dataClass: DataClass,
  depth: number,
): number {
  let best = weight(type, depth);
  if (p.provision === undefined) {
    return best;
  }
  for (const child of p.provision) {
    const childType = child.type ?? type;
    if (!coversClass(child, dataClass) || scopeMiss(child, childType, ctx) !== undefined) {
      continue;
    }
    const match = mostSpecific(child, childType, ctx, dataClass, depth + 1);
    if (match > best) {
      best = match;
    }
  }
  return best;
}

/**
 * Per requested class, the verdict so far (weight and consent) and the latest near miss. Reused from decision to
 * decision: the engine is synchronous, so one set of slots is enough and a decision allocates none.
 */
class Slots {
  weight: number[] = [];
  verdict: (Consent | undefined)[] = [];
  missCode: (ConsentMissCode | undefined)[] = [];
  miss: (Consent | undefined)[] = [];

  reset(n: number): void {
    for (let i = 0; i < n; i++) {
      this.weight[i] = -1;
      this.verdict[i] = undefined;
      this.missCode[i] = undefined;
      this.miss[i] = undefined;
    }
  }
}

const slots = new Slots();
const wouldBe = new Slots();

/**
 * Later consents supersede earlier ones; then the more specific rule; then a deny over a permit. A rule of the same
 * consent never meets another of its own for one class (mostSpecific already chose), so time only compares two.
 */
function supersedes(w: number, c: Consent, currentW: number, current: Consent): boolean {
  if (c !== current) {
    const time = consentTime(c);
    const currentTime = consentTime(current);
    if (time !== currentTime) {
      return time > currentTime;
    }
  }
  return w > currentW;
}

/**
 * Holds one consent against every requested class: a verdict where its rules apply, else (when `withMisses`) why
 * its root rule does not.
 */
function evaluate(c: Consent, ctx: ConsentContext, s: Slots, withMisses: boolean): void {
  const root = c.provision;
  // Without a root type the consent does not say whether it permits or objects: it cannot be acted on.
  if (root?.type === undefined) {
    return;
  }
  const scope = scopeMiss(root, root.type, ctx);
  for (let i = 0; i < ctx.classes.length; i++) {
    const dataClass = ctx.classes[i] as DataClass;
    if (scope === undefined && coversClass(root, dataClass)) {
      const w = mostSpecific(root, root.type, ctx, dataClass, 0);
      const current = s.verdict[i];
      if (current === undefined || supersedes(w, c, s.weight[i] ?? -1, current)) {
        s.weight[i] = w;
        s.verdict[i] = c;
      }
    } else if (withMisses) {
      const current = s.miss[i];
      if (current === undefined || consentTime(c) > consentTime(current)) {
        s.missCode[i] = scope ?? 'consent-class-not-covered';
        s.miss[i] = c;
      }
    }
  }
}

function addId(ids: string[], c: Consent): void {
  const id = c.id;
  if (id !== undefined && id !== '' && !ids.includes(id)) {
    ids.push(id);
  }
}

const SILENT: Stance = { kind: 'silent' };

/**
 * Holds the person's active consents against every requested class into `slots`; false when the person performed
 * no consent that counts at all.
 */
function weighActive(person: string, ctx: ConsentContext): boolean {
  slots.reset(ctx.classes.length);
  let any = false;
  for (const c of ctx.consents) {
    const standing = standingOf(c, person, ctx);
    if (standing === 'active') {
      evaluate(c, ctx, slots, true);
    }
    any ||= standing !== undefined;
  }
  return any;
}

/** Whether `slots` deny any class; else how many classes they permit. */
function deniedOrPermitted(n: number): number {
  let permitted = 0;
  for (let i = 0; i < n; i++) {
    if (slots.verdict[i] !== undefined) {
      if (isDeny(slots.weight[i] ?? 0)) {
        return -1;
      }
      permitted++;
    }
  }
  return permitted;
}

/**
 * Whether the person permits every requested class, adding the ids of the consents that do to `ids`: the common
 * case, asked without building a stance.
 */
export function permitsEveryClass(person: string, ctx: ConsentContext, ids: string[]): boolean {
  const n = ctx.classes.length;
  if (!weighActive(person, ctx) || deniedOrPermitted(n) !== n) {
    return false;
  }
  for (let i = 0; i < n; i++) {
    addId(ids, slots.verdict[i] as Consent);
  }
  return true;
}

/**
 * The stance of one person (a performer reference: `Patient/{id}`, `RelatedPerson/{id}`) on the disclosure: deny
 * when any requested class is denied, permit when every class is permitted, otherwise silent with the most telling
 * near miss: a withdrawn consent that would have permitted, else the latest consent that came close.
 */
export function stanceOf(person: string, ctx: ConsentContext): Stance {
  if (!weighActive(person, ctx)) {
    return SILENT;
  }
  const n = ctx.classes.length;
  const permitted = deniedOrPermitted(n);
  if (permitted < 0) {
    const denyIds: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = slots.verdict[i];
      if (v !== undefined && isDeny(slots.weight[i] ?? 0)) {
        addId(denyIds, v);
      }
    }
    return { kind: 'deny', consentIds: denyIds };
  }
  if (permitted === n) {
    const permitIds: string[] = [];
    for (let i = 0; i < n; i++) {
      addId(permitIds, slots.verdict[i] as Consent);
    }
    return { kind: 'permit', consentIds: permitIds };
  }
  return {
    kind: 'silent',
    miss:
      voidedPermit(person, 'withdrawn', 'consent-withdrawn', ctx) ??
      voidedPermit(person, 'entered-in-error', 'consent-entered-in-error', ctx) ??
      latestMiss(n),
  };
}

/**
 * The latest of the person's withdrawn (or voided) consents that would now permit a class nothing else covers (uses
 * `slots` of stanceOf).
 */
function voidedPermit<C extends 'consent-withdrawn' | 'consent-entered-in-error'>(
  person: string,
  standing: 'withdrawn' | 'entered-in-error',
  code: C,
  ctx: ConsentContext,
): { code: C; consentId: string } | undefined {
  let latest: Consent | undefined;
  const n = ctx.classes.length;
  for (const c of ctx.consents) {
    if (standingOf(c, person, ctx) !== standing) {
      continue;
    }
    wouldBe.reset(n);
    evaluate(c, ctx, wouldBe, false);
    let fillsGap = false;
    for (let i = 0; i < n; i++) {
      fillsGap ||=
        wouldBe.verdict[i] !== undefined && !isDeny(wouldBe.weight[i] ?? 0) && slots.verdict[i] === undefined;
    }
    if (fillsGap && (latest === undefined || consentTime(c) > consentTime(latest))) {
      latest = c;
    }
  }
  return latest === undefined ? undefined : { code, consentId: latest.id ?? '' };
}

function latestMiss(n: number): { code: ConsentMissCode; consentId: string } | undefined {
  let latest: Consent | undefined;
  let code: ConsentMissCode | undefined;
  for (let i = 0; i < n; i++) {
    const miss = slots.miss[i];
    if (
      miss !== undefined &&
      slots.verdict[i] === undefined &&
      (latest === undefined || consentTime(miss) > consentTime(latest))
    ) {
      latest = miss;
      code = slots.missCode[i];
    }
  }
  return latest === undefined || code === undefined ? undefined : { code, consentId: latest.id ?? '' };
}
