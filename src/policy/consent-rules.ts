import type { DataClass, Purpose, SharingDirection } from '../contracts/sharing';
import type {
  CompiledConsent,
  CompiledProvision,
  ConsentMissCode,
  Held,
  PartyIds,
  PeriodBound,
} from './compiled-consent';

/**
 * What one person's consents say about one disclosure: permit, deny (an objection), or nothing, and then why
 * nothing. Who that person must be (child, guardian with authority) is decided in decide.ts.
 *
 * The consents arrive compiled (compiled-consent.ts): the pipeline compiles each stored version once and reuses it
 * from decision to decision (consent-cache.ts), and what a compiled consent says about a disclosure is kept with it
 * until the next disclosure it is held against differs (Held). The rules allocate nothing while evaluating.
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
  readonly consents: readonly CompiledConsent[];
  /** The child's Patient id: a consent naming another patient never counts. */
  readonly childId: string;
  /** Which way the data would go: whose allow-list a permit carries. */
  readonly direction: SharingDirection;
}

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

/** Whether `list` holds `value`; a plain loop, as the engine asks this for every rule, class and person. */
function holds(list: readonly string[], value: string): boolean {
  for (let i = 0; i < list.length; i++) {
    if (list[i] === value) {
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

// The person whose consents are read is passed as two arguments rather than a key object, which a decision would
// make per person: `child` (then `id` is of `Patient/{id}`) or not (`RelatedPerson/{id}`).

function names(parties: PartyIds, child: boolean, id: string): boolean {
  return holds(child ? parties.patients : parties.relatedPersons, id);
}

function standingOf(consent: CompiledConsent, child: boolean, id: string, ctx: ConsentContext): Standing {
  // Most of a child's consents are another person's: the performer is asked first.
  if (!names(consent.performers, child, id) || !consent.counts) {
    return undefined;
  }
  if (consent.namesPatient && consent.patientId !== ctx.childId) {
    return undefined;
  }
  const status = consent.status;
  if (status === 'entered-in-error') {
    return 'entered-in-error';
  }
  return status === 'active' && !names(consent.withdrawnBy, child, id) ? 'active' : 'withdrawn';
}

// A day bound is compared by Amsterdam calendar day at its own precision (a consent ending "2025-06-15" still holds
// all of that day; one ending "2025" all of that year); an instant by epoch ms, where NaN never compares true.
function startsBy(start: PeriodBound, ctx: ConsentContext): boolean {
  if ('ms' in start) {
    return start.ms <= ctx.atMs;
  }
  const day = start.day;
  return day.length === ctx.day.length ? day <= ctx.day : day <= ctx.day.slice(0, day.length);
}

function lastsUntil(end: PeriodBound, ctx: ConsentContext): boolean {
  if ('ms' in end) {
    return ctx.atMs <= end.ms;
  }
  const day = end.day;
  return day.length === ctx.day.length ? ctx.day <= day : ctx.day.slice(0, day.length) <= day;
}

/**
 * Why a rule does not apply to the disclosure regardless of class, or undefined when it does. A rule naming no
 * actor, purpose or class restricts nothing there. Restrictions this engine does not evaluate (codes, single
 * resources, data periods, security labels) make a rule cover only part of a class: such a permit cannot allow the
 * whole class; such a deny is honoured for the whole class. Either way the engine errs towards not disclosing.
 */
function scopeMiss(p: CompiledProvision, type: 'permit' | 'deny', ctx: ConsentContext): ConsentMissCode | undefined {
  if (p.start !== undefined && !startsBy(p.start, ctx)) {
    return 'consent-not-yet-valid';
  }
  if (p.end !== undefined && !lastsUntil(p.end, ctx)) {
    return 'consent-expired';
  }
  if (p.recipients !== undefined && !holds(p.recipients, ctx.municipalityCode)) {
    return 'actor-not-covered';
  }
  if (p.purposes !== undefined && !holds(p.purposes, ctx.purpose)) {
    return 'consent-purpose-not-covered';
  }
  if (type === 'permit' && p.partial) {
    return 'consent-class-not-covered';
  }
  return undefined;
}

function coversClass(p: CompiledProvision, dataClass: DataClass): boolean {
  return p.classes === undefined || holds(p.classes, dataClass);
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
  p: CompiledProvision,
  type: 'permit' | 'deny',
  ctx: ConsentContext,
  dataClass: DataClass,
  depth: number,
): number {
  let best = weight(type, depth);
  const provisions = p.provisions;
  for (let i = 0; i < provisions.length; i++) {
    const child = provisions[i] as CompiledProvision;
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
    const time = c.time;
    const currentTime = current.time;
    if (time !== currentTime) {
      return time > currentTime;
    }
  }
  return w > currentW;
}

function isHeldAgainst(h: Held, ctx: ConsentContext): boolean {
  const classes = ctx.classes;
  if (
    h.day !== ctx.day ||
    h.municipalityCode !== ctx.municipalityCode ||
    h.purpose !== ctx.purpose ||
    h.classes.length !== classes.length
  ) {
    return false;
  }
  for (let i = 0; i < classes.length; i++) {
    if (h.classes[i] !== classes[i]) {
      return false;
    }
  }
  return true;
}

/**
 * The consent held against every requested class; undefined when its root rule has no type: then it does not say
 * whether it permits or objects, and cannot be acted on.
 */
function heldAgainst(c: CompiledConsent, ctx: ConsentContext): Held | undefined {
  const root = c.provision;
  if (root?.type === undefined) {
    return undefined;
  }
  let h = c.held;
  if (h === undefined) {
    h = {
      day: '',
      municipalityCode: '',
      purpose: ctx.purpose,
      classes: [],
      weights: [],
      misses: [],
    };
    c.held = h;
  } else if (!c.byInstant && isHeldAgainst(h, ctx)) {
    return h;
  }
  h.day = ctx.day;
  h.municipalityCode = ctx.municipalityCode;
  h.purpose = ctx.purpose;
  const n = ctx.classes.length;
  h.classes.length = n;
  h.weights.length = n;
  h.misses.length = n;
  const scope = scopeMiss(root, root.type, ctx);
  for (let i = 0; i < n; i++) {
    const dataClass = ctx.classes[i] as DataClass;
    h.classes[i] = dataClass;
    if (scope === undefined && coversClass(root, dataClass)) {
      h.weights[i] = mostSpecific(root, root.type, ctx, dataClass, 0);
      h.misses[i] = undefined;
    } else {
      h.weights[i] = -1;
      h.misses[i] = scope ?? 'consent-class-not-covered';
    }
  }
  return h;
}

/**
 * Holds one consent against every requested class: a verdict where its rules apply, else (when `withMisses`) why
 * its root rule does not.
 */
function evaluate(c: CompiledConsent, ctx: ConsentContext, s: Slots, withMisses: boolean): void {
  const h = heldAgainst(c, ctx);
  if (h === undefined) {
    return;
  }
  for (let i = 0; i < ctx.classes.length; i++) {
    const w = h.weights[i] ?? -1;
    if (w >= 0) {
      const current = s.verdict[i];
      if (current === undefined || supersedes(w, c, s.weight[i] ?? -1, current)) {
        s.weight[i] = w;
        s.verdict[i] = c;
      }
    } else if (withMisses) {
      const current = s.miss[i];
      if (current === undefined || c.time > current.time) {
        s.missCode[i] = h.misses[i];
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
 * Holds the person's active consents against every requested class into `slots` (with the near misses when
 * `withMisses`); false when the person performed no consent that counts at all.
 */
function weighActive(child: boolean, id: string, ctx: ConsentContext, withMisses: boolean): boolean {
  slots.reset(ctx.classes.length);
  let any = false;
  const consents = ctx.consents;
  for (let i = 0; i < consents.length; i++) {
    const c = consents[i] as CompiledConsent;
    const standing = standingOf(c, child, id, ctx);
    if (standing === 'active') {
      evaluate(c, ctx, slots, withMisses);
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

/** What onlyActive finds besides the index of a person's one active consent. */
const NO_ACTIVE = -1;
const SEVERAL_ACTIVE = -2;

/** The index in `ctx.consents` of the person's one active consent, else NO_ACTIVE or SEVERAL_ACTIVE. */
function onlyActive(child: boolean, id: string, ctx: ConsentContext): number {
  let only = NO_ACTIVE;
  const consents = ctx.consents;
  for (let i = 0; i < consents.length; i++) {
    if (standingOf(consents[i] as CompiledConsent, child, id, ctx) === 'active') {
      if (only !== NO_ACTIVE) {
        return SEVERAL_ACTIVE;
      }
      only = i;
    }
  }
  return only;
}

/**
 * permitsEveryClass for a person with one active consent (the usual case): nothing supersedes it, so its own
 * answer for each class is the verdict.
 */
function permitsAlone(c: CompiledConsent, ctx: ConsentContext, ids: string[]): boolean {
  const h = heldAgainst(c, ctx);
  if (h === undefined) {
    return false;
  }
  for (let i = 0; i < ctx.classes.length; i++) {
    const w = h.weights[i] ?? -1;
    if (w < 0 || isDeny(w)) {
      return false;
    }
  }
  addId(ids, c);
  return true;
}

/**
 * Whether the person permits every requested class, adding the ids of the consents that do to `ids`: the common
 * case, asked without building a stance.
 */
export function permitsEveryClass(child: boolean, id: string, ctx: ConsentContext, ids: string[]): boolean {
  const n = ctx.classes.length;
  const only = onlyActive(child, id, ctx);
  if (only >= 0 && n > 0) {
    return permitsAlone(ctx.consents[only] as CompiledConsent, ctx, ids);
  }
  if (!weighActive(child, id, ctx, false) || deniedOrPermitted(n) !== n) {
    return false;
  }
  for (let i = 0; i < n; i++) {
    addId(ids, slots.verdict[i] as CompiledConsent);
  }
  return true;
}

/**
 * The stance of one person on the disclosure: deny
 * when any requested class is denied, permit when every class is permitted, otherwise silent with the most telling
 * near miss: a withdrawn consent that would have permitted, else the latest consent that came close.
 */
export function stanceOf(child: boolean, id: string, ctx: ConsentContext): Stance {
  if (!weighActive(child, id, ctx, true)) {
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
      addId(permitIds, slots.verdict[i] as CompiledConsent);
    }
    return { kind: 'permit', consentIds: permitIds };
  }
  return {
    kind: 'silent',
    miss:
      voidedPermit(child, id, 'withdrawn', 'consent-withdrawn', ctx) ??
      voidedPermit(child, id, 'entered-in-error', 'consent-entered-in-error', ctx) ??
      latestMiss(n),
  };
}

/**
 * The latest of the person's withdrawn (or voided) consents that would now permit a class nothing else covers (uses
 * `slots` of stanceOf).
 */
function voidedPermit<C extends 'consent-withdrawn' | 'consent-entered-in-error'>(
  child: boolean,
  id: string,
  standing: 'withdrawn' | 'entered-in-error',
  code: C,
  ctx: ConsentContext,
): { code: C; consentId: string } | undefined {
  let latest: CompiledConsent | undefined;
  const n = ctx.classes.length;
  for (const c of ctx.consents) {
    if (standingOf(c, child, id, ctx) !== standing) {
      continue;
    }
    wouldBe.reset(n);
    evaluate(c, ctx, wouldBe, false);
    let fillsGap = false;
    for (let i = 0; i < n; i++) {
      fillsGap ||=
        wouldBe.verdict[i] !== undefined && !isDeny(wouldBe.weight[i] ?? 0) && slots.verdict[i] === undefined;
    }
    if (fillsGap && (latest === undefined || c.time > latest.time)) {
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
    if (miss !== undefined && slots.verdict[i] === undefined && (latest === undefined || miss.time > latest.time)) {
      latest = miss;
      code = slots.missCode[i];
    }
  }
  return latest === undefined || code === undefined ? undefined : { code, consentId: latest.id ?? '' };
}
