import type { Consent } from '@medplum/fhirtypes';
import type { DataClass, Purpose } from '../contracts/sharing';
import { CONSENT_WITHDRAWN_BY_EXTENSION } from '../kernel/fhir/systems';
import {
  compileConsent,
  consentTime,
  type CompiledBound,
  type CompiledConsent,
  type CompiledRule,
} from './compiled-consent';

/**
 * What one person's FHIR Consents say about one disclosure: permit, deny (an objection), or nothing, and then why
 * nothing. Who that person must be (child, guardian with authority) is decided in decide.ts. The consents are read
 * in their compiled form (compiled-consent.ts), so a decision only compares.
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

/**
 * The consents one person performed that can count: active ones; and, for the reason only, those this person
 * withdrew (the whole consent inactive, or this party named as withdrawing a joint one) and those voided as
 * recorded in error.
 */
export interface PersonConsents {
  readonly active: CompiledConsent[];
  readonly withdrawn: CompiledConsent[];
  readonly enteredInError: CompiledConsent[];
}

/** The parties (performer references) who withdrew a consent they gave jointly with others. */
export function withdrawnParties(consent: Consent): string[] {
  return (consent.extension ?? [])
    .filter((e) => e.url === CONSENT_WITHDRAWN_BY_EXTENSION)
    .map((e) => e.valueReference?.reference)
    .filter((r): r is string => r !== undefined);
}

/**
 * Groups the consents that can count by performer reference (`Patient/{id}`, `RelatedPerson/{id}`). Consents of
 * another scope or category, or naming another patient, never count; only `active` ones speak, and only for the
 * parties who have not withdrawn them; `inactive` and `entered-in-error` ones are kept to say a consent was
 * withdrawn or voided; draft, proposed and rejected count for nothing.
 */
export function indexConsents(consents: readonly Consent[], patientId: string): Map<string, PersonConsents> {
  const byPerformer = new Map<string, PersonConsents>();
  const patientReference = `Patient/${patientId}`;
  for (const consent of consents) {
    const c = compileConsent(consent);
    if (c.status !== 'active' && c.status !== 'inactive' && c.status !== 'entered-in-error') {
      continue;
    }
    if (!c.isPrivacy) {
      continue;
    }
    if (c.patientReference !== undefined && c.patientReference !== patientReference) {
      continue;
    }
    const withdrew = consent.extension === undefined ? [] : withdrawnParties(consent);
    for (const reference of c.performers) {
      let entry = byPerformer.get(reference);
      if (!entry) {
        entry = { active: [], withdrawn: [], enteredInError: [] };
        byPerformer.set(reference, entry);
      }
      if (c.status === 'entered-in-error') {
        entry.enteredInError.push(c);
      } else if (c.status === 'active' && !withdrew.includes(reference)) {
        entry.active.push(c);
      } else {
        entry.withdrawn.push(c);
      }
    }
  }
  return byPerformer;
}

// A period given as a date is compared by Amsterdam calendar day (a consent ending "2025-06-15" still holds all of
// that day); one given as a dateTime is compared by instant. A date that cannot be read never covers the moment.
function startsBy(start: CompiledBound, ctx: ConsentContext): boolean {
  return start.kind === 'day' ? start.day <= ctx.day.slice(0, start.day.length) : start.ms <= ctx.atMs;
}

function lastsUntil(end: CompiledBound, ctx: ConsentContext): boolean {
  return end.kind === 'day' ? ctx.day.slice(0, end.day.length) <= end.day : ctx.atMs <= end.ms;
}

/**
 * Why a rule does not apply to the disclosure regardless of class, or undefined when it does. Restrictions this
 * engine does not evaluate (codes, single resources, data periods, security labels) make a rule cover only part of
 * a class: such a permit cannot allow the whole class; such a deny is honoured for the whole class. Either way the
 * engine errs towards not disclosing.
 */
function scopeMiss(p: CompiledRule, type: 'permit' | 'deny', ctx: ConsentContext): ConsentMissCode | undefined {
  if (p.start !== undefined && !startsBy(p.start, ctx)) {
    return 'consent-not-yet-valid';
  }
  if (p.end !== undefined && !lastsUntil(p.end, ctx)) {
    return 'consent-expired';
  }
  if (p.recipients !== undefined && !p.recipients.includes(ctx.municipalityCode)) {
    return 'actor-not-covered';
  }
  if (p.purposes !== undefined && !p.purposes.includes(ctx.purpose)) {
    return 'consent-purpose-not-covered';
  }
  if (type === 'permit' && p.partial) {
    return 'consent-class-not-covered';
  }
  return undefined;
}

function coversClass(p: CompiledRule, dataClass: DataClass): boolean {
  return p.classes === undefined || p.classes.includes(dataClass);
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
  p: CompiledRule,
  type: 'permit' | 'deny',
  ctx: ConsentContext,
  dataClass: DataClass,
  depth: number,
): number {
  let best = weight(type, depth);
  for (const child of p.children) {
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
  verdict: (CompiledConsent | undefined)[] = [];
  missCode: (ConsentMissCode | undefined)[] = [];
  miss: (CompiledConsent | undefined)[] = [];

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
function supersedes(w: number, c: CompiledConsent, currentW: number, current: CompiledConsent): boolean {
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
function evaluate(c: CompiledConsent, ctx: ConsentContext, s: Slots, withMisses: boolean): void {
  const root = c.root;
  // Without a root type the consent does not say whether it permits or objects: it cannot be acted on.
  if (root === undefined || root.type === undefined) {
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

function addId(ids: string[], c: CompiledConsent): void {
  const id = c.id;
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
  slots.reset(n);
  for (const c of person.active) {
    evaluate(c, ctx, slots, true);
  }
  let denied = false;
  let permitted = 0;
  for (let i = 0; i < n; i++) {
    if (slots.verdict[i] !== undefined) {
      if (isDeny(slots.weight[i] ?? 0)) {
        denied = true;
      } else {
        permitted++;
      }
    }
  }
  if (denied) {
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
    // The common case, one consent permitting every class.
    const first = slots.verdict[0];
    let single = true;
    for (let i = 1; i < n; i++) {
      single &&= slots.verdict[i] === first;
    }
    if (single && first !== undefined) {
      return first.id === undefined || first.id === '' ? PERMIT_NO_IDS : { kind: 'permit', consentIds: [first.id] };
    }
    const permitIds: string[] = [];
    for (let i = 0; i < n; i++) {
      addId(permitIds, slots.verdict[i] as CompiledConsent);
    }
    return { kind: 'permit', consentIds: permitIds };
  }
  return {
    kind: 'silent',
    miss:
      voidedPermit(person.withdrawn, 'consent-withdrawn', ctx) ??
      voidedPermit(person.enteredInError, 'consent-entered-in-error', ctx) ??
      latestMiss(n),
  };
}

const PERMIT_NO_IDS: Stance = { kind: 'permit', consentIds: [] };

/**
 * The latest withdrawn (or voided) consent that would now permit a class nothing else covers (uses `slots` of
 * stanceOf).
 */
function voidedPermit<C extends 'consent-withdrawn' | 'consent-entered-in-error'>(
  voided: readonly CompiledConsent[],
  code: C,
  ctx: ConsentContext,
): { code: C; consentId: string } | undefined {
  let latest: CompiledConsent | undefined;
  const n = ctx.classes.length;
  for (const c of voided) {
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
  let latest: CompiledConsent | undefined;
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
