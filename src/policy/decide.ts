import type { Consent } from '@medplum/fhirtypes';
import { allowListOf, type Agreement, type LegalBasis } from './agreement';
import type { DataClass, SharingDirection } from '../contracts/sharing';
import { ageOnDay, CHILD_ALONE_FROM, CHILD_SPEAKS_FROM } from './age';
import { amsterdamDay } from '../kernel/dutch-time';
import { permitsEveryClass, stanceOf, type ConsentContext, type Stance, type StanceMissCode } from './consent-rules';
import { compileConsent, type CompiledConsent } from './compiled-consent';
import { sameClasses as sameClassList, selectAgreements } from './select-agreement';
import type {
  AgreementRef,
  CancelledReferral,
  Decision,
  DecisionFacts,
  DecisionObligations,
  DecisionReason,
  DecisionRequest,
  DenyReasonCode,
  GuardianFact,
  PersonRef,
} from './types';

// The functions of other modules that every decision calls, bound once. Run through tsx (as `npm start` and the
// bench run the product), each use of an imported binding goes through two getters of esbuild's CommonJS interop,
// the inner one a megamorphic property lookup: about a fifth of a decision's time when measured.
const dayInAmsterdam = amsterdamDay;
const selectFitting = selectAgreements;
const permitsEvery = permitsEveryClass;
const ageOn = ageOnDay;
const sameClasses = sameClassList;

/**
 * The policy engine: whether data about a child may go from a GP practice to a municipality, and on what grounds.
 * Pure and synchronous; the caller loads the facts and records the decision. The rules are those of the domain
 * brief (DOMAIN.md, "Consent and legal basis").
 */

/** Who speaks for the child on a given day: the child, guardians with authority, or both. */
interface Speakers {
  readonly child: boolean;
  readonly guardians: boolean;
}

type Person = PersonRef;

type MutablePerson = { -readonly [K in keyof Person]: Person[K] };

// People are built field by field rather than with conditional spreads: an absent id stays an absent key, and the
// spread's temporary objects cost more than the rest of building a person.
function childOf(facts: Pick<DecisionFacts, 'patient'>): Person {
  const child: MutablePerson = { role: 'child' };
  // `$explain` about a child described by BSN, with no consent on record to name its Patient id: no reference.
  if (facts.patient.id !== '') {
    child.reference = `Patient/${facts.patient.id}`;
  }
  if (facts.patient.hisId !== undefined) {
    child.hisId = facts.patient.hisId;
  }
  return child;
}

/** A person in a reason's detail: by reference, or by role when the id is unknown (a child `$explain` describes). */
function named(person: Person): string {
  return person.reference ?? `the ${person.role}`;
}

/** The child as the practice knows it (its HIS's own id), in a reason it must act on; jeugdbrug's id otherwise. */
function childWords(child: Person): string {
  return child.hisId !== undefined ? `the child ${child.hisId}` : named(child);
}

/** The allow-lists of one list of requested classes, in one direction. */
interface ObligationsOf {
  readonly classes: readonly DataClass[];
  readonly obligations: DecisionObligations;
}

/**
 * What a decision repeats from an agreement, made once per agreement object: its parts of a decision are shared,
 * frozen, by every decision under it (the agreement named, the allow-lists), so a permit copies no list.
 */
interface CompiledAgreement {
  readonly label: string;
  /** The start of a permit-by-consent reason's detail, before the people who consented. */
  readonly consentOf: string;
  readonly ref: AgreementRef;
  readonly fields: Record<SharingDirection, Partial<Record<DataClass, readonly string[]>>>;
  /** Per direction, the obligations of the lists of classes asked so far, at most KEPT_CLASS_LISTS of them. */
  readonly obligations: Record<SharingDirection, ObligationsOf[]>;
  /** What a cancellation of a referral may carry under this agreement (CANCELLATION_FIELDS within its allow-list). */
  readonly cancellation: DecisionObligations;
}

/** Requests ask for a handful of combinations of the seven data classes; beyond this many, each permit makes its own. */
const KEPT_CLASS_LISTS = 16;

const NO_FIELDS: readonly string[] = Object.freeze([]);
const NO_IDS: readonly string[] = NO_FIELDS;
const NO_OBLIGATIONS: DecisionObligations = Object.freeze({ allowedFields: Object.freeze({}) });

const compiledAgreements = new WeakMap<Agreement, CompiledAgreement>();

function compileAgreement(agreement: Agreement): CompiledAgreement {
  let c = compiledAgreements.get(agreement);
  if (c === undefined) {
    // Copied before freezing: the agreement's own lists stay as the registry holds them.
    const fieldsOf = (direction: SharingDirection) => {
      const fields: Partial<Record<DataClass, readonly string[]>> = {};
      const allowList = allowListOf(agreement, direction);
      for (const [dataClass, allowed] of Object.entries(allowList) as [DataClass, { fields: string[] }][]) {
        fields[dataClass] = Object.freeze([...allowed.fields]);
      }
      return fields;
    };
    const label = `Agreement ${agreement.id} v${agreement.version}`;
    c = {
      label,
      consentOf: `${label} (consent): consent of `,
      ref: Object.freeze({ id: agreement.id, version: agreement.version }),
      fields: { 'to-municipality': fieldsOf('to-municipality'), 'to-practice': fieldsOf('to-practice') },
      obligations: { 'to-municipality': [], 'to-practice': [] },
      cancellation: cancellationObligations(fieldsOf('to-municipality')),
    };
    compiledAgreements.set(agreement, c);
  }
  return c;
}

/**
 * What identifies a referral and its cancellation at the municipality, and nothing more: the ServiceRequest's
 * business identifier, its status (revoked) and the elements FHIR requires of it, and the child's identifier the
 * municipality filed the referral under. No guardians, no reason, no codes: the municipality has the referral.
 */
const CANCELLATION_FIELDS: Partial<Record<DataClass, readonly string[]>> = {
  ServiceRequest: ['identifier', 'status', 'intent', 'subject'],
  Patient: ['identifier'],
};

/** CANCELLATION_FIELDS as far as the agreement's allow-list goes: never more than the referral itself could carry. */
function cancellationObligations(allowList: Partial<Record<DataClass, readonly string[]>>): DecisionObligations {
  const allowedFields: Partial<Record<DataClass, readonly string[]>> = {};
  for (const [dataClass, fields] of Object.entries(CANCELLATION_FIELDS) as [DataClass, readonly string[]][]) {
    const agreed = allowList[dataClass];
    if (agreed !== undefined) {
      allowedFields[dataClass] = Object.freeze(fields.filter((f) => agreed.includes(f)));
    }
  }
  return Object.freeze({ allowedFields: Object.freeze(allowedFields) });
}

/**
 * The cancellation of a referral, decided on what became of the referral at this municipality rather than on a new
 * consent: one that reached it is withdrawn there under the agreement it came under (a withdrawal is what the family
 * would want, and it tells the municipality nothing it does not hold; an objection since does not stop it), with
 * CANCELLATION_FIELDS only. One that never went there has nothing to cancel, which the deny says in words. Undefined
 * for a referral jeugdbrug never received: whether the municipality holds it is unknown, so the ordinary rules decide
 * as for any disclosure.
 */
function decideCancellation(
  agreement: Agreement,
  cancels: CancelledReferral,
  municipalityCode: string,
): Decision | undefined {
  const compiled = compileAgreement(agreement);
  if (cancels.at === 'not-disclosed') {
    const detail = `referral ${cancels.referralId} was never sent to ${municipalityCode}: there is nothing to cancel`;
    return deny([{ code: 'referral-not-disclosed', detail }], agreement);
  }
  if (cancels.at === 'unknown') {
    return undefined;
  }
  const detail =
    `${compiled.label} (${agreement.legalBasis}): the cancellation of referral ${cancels.referralId}, ` +
    `sent to ${municipalityCode} under it; identifiers and status only`;
  return {
    effect: 'permit',
    reasons: [{ code: 'permitted-as-cancellation', detail }],
    agreement: compiled.ref,
    legalBasis: agreement.legalBasis,
    consentIds: NO_IDS,
    obligations: compiled.cancellation,
  };
}

/**
 * A municipality's status on a referral (accepted, rejected, closed, with its reason), going back to the practice that
 * sent the referral: decided on the agreement the referral went to that municipality under, as its delivery recorded
 * it (`agreement`), not on a consent. It answers the practice's own request about its own patient, the family's
 * consents and objections are about what goes to the municipality, and a withdrawal or objection since is when the
 * practice most needs to hear how the referral ended; so nothing but the missing agreement denies it. `legalBasis`:
 * that agreement's, while it is still configured. A referral whose delivery has no agreement on record (and none in
 * force that fits it) is denied `no-agreement`: nothing names the ground the exchange rests on.
 */
export function decideReferralStatus(a: {
  readonly referralId: string;
  readonly municipalityCode: string;
  readonly agreement: AgreementRef | undefined;
  readonly legalBasis?: LegalBasis | undefined;
}): Decision {
  if (a.agreement === undefined) {
    const detail =
      `No agreement is on record for the delivery of referral ${a.referralId} to ${a.municipalityCode}, ` +
      'and none in force fits it: nothing names the ground its status would go back on';
    return deny([{ code: 'no-agreement', detail }]);
  }
  const { id, version } = a.agreement;
  const detail =
    `Agreement ${id} v${version}${a.legalBasis ? ` (${a.legalBasis})` : ''}: the status from ${a.municipalityCode} ` +
    `on referral ${a.referralId}, which it received under this agreement, back to the practice; no consent decides it`;
  return {
    effect: 'permit',
    reasons: [{ code: 'permitted-as-referral-status', detail }],
    agreement: { id, version },
    ...(a.legalBasis ? { legalBasis: a.legalBasis } : {}),
    consentIds: NO_IDS,
    obligations: NO_OBLIGATIONS,
  };
}

/** The ordinary decision of a cancellation jeugdbrug cannot place, denied: say first why it was judged as new. */
function unknownReferralDenied(decision: Decision, cancels: CancelledReferral, municipalityCode: string): Decision {
  const detail =
    `jeugdbrug never received referral ${cancels.referralId}, so whether ${municipalityCode} holds it is unknown ` +
    'and its cancellation is judged as a disclosure of its own';
  return { ...decision, reasons: [{ code: 'referral-unknown', detail }, ...decision.reasons] };
}

function label(agreement: Agreement): string {
  return compileAgreement(agreement).label;
}

function deny(reasons: DecisionReason[], agreement?: Agreement, consentIds: readonly string[] = NO_IDS): Decision {
  if (agreement === undefined) {
    return { effect: 'deny', reasons, consentIds, obligations: NO_OBLIGATIONS };
  }
  return {
    effect: 'deny',
    reasons,
    agreement: compileAgreement(agreement).ref,
    legalBasis: agreement.legalBasis,
    consentIds,
    obligations: NO_OBLIGATIONS,
  };
}

function permit(
  agreement: Agreement,
  classes: readonly DataClass[],
  reason: DecisionReason,
  consentIds: readonly string[],
  direction: SharingDirection,
  compiled: CompiledAgreement = compileAgreement(agreement),
): Decision {
  return {
    effect: 'permit',
    reasons: [reason],
    agreement: compiled.ref,
    legalBasis: agreement.legalBasis,
    consentIds,
    obligations: obligationsOf(compiled, classes, direction),
  };
}

/** The allow-list of each requested class in one direction, made once per agreement and list of classes. */
function obligationsOf(
  agreement: CompiledAgreement,
  classes: readonly DataClass[],
  direction: SharingDirection,
): DecisionObligations {
  const kept = agreement.obligations[direction];
  for (const k of kept) {
    if (sameClasses(k.classes, classes)) {
      return k.obligations;
    }
  }
  const allowedFields: Partial<Record<DataClass, readonly string[]>> = {};
  const fields = agreement.fields[direction];
  for (const c of classes) {
    allowedFields[c] = fields[c] ?? NO_FIELDS;
  }
  const obligations: DecisionObligations = Object.freeze({ allowedFields: Object.freeze(allowedFields) });
  if (kept.length < KEPT_CLASS_LISTS) {
    kept.push({ classes: Object.freeze([...classes]), obligations });
  }
  return obligations;
}

const GUARDIANS_SPEAK: Speakers = Object.freeze({ child: false, guardians: true });
const BOTH_SPEAK: Speakers = Object.freeze({ child: true, guardians: true });
const CHILD_SPEAKS: Speakers = Object.freeze({ child: true, guardians: false });

function speakersAt(age: number): Speakers {
  return age < CHILD_SPEAKS_FROM ? GUARDIANS_SPEAK : age < CHILD_ALONE_FROM ? BOTH_SPEAK : CHILD_SPEAKS;
}

/** Whether a guardian before `index` already listed this id with authority (compared by id, not built reference). */
function listedBefore(guardians: DecisionFacts['guardians'], index: number, relatedPersonId: string): boolean {
  for (let i = 0; i < index; i++) {
    const g = guardians[i] as GuardianFact;
    if (g.hasAuthority && g.relatedPersonId === relatedPersonId) {
      return true;
    }
  }
  return false;
}

/**
 * Guardians with authority, once each, and their RelatedPerson ids at the same index; an id listed twice counts as
 * having authority if either entry says so. Each list is made at its final length: a list that grows from empty
 * reserves room for 17 on its first push, the larger part of what a decision allocated when measured.
 */
function guardiansWithAuthority(facts: Pick<DecisionFacts, 'guardians'>): {
  guardians: Person[];
  ids: string[];
} {
  const guardians = facts.guardians;
  let count = 0;
  for (let i = 0; i < guardians.length; i++) {
    const g = guardians[i] as GuardianFact;
    if (g.hasAuthority && !listedBefore(guardians, i, g.relatedPersonId)) {
      count++;
    }
  }
  const out = new Array<Person>(count);
  const ids = new Array<string>(count);
  for (let i = 0, k = 0; i < guardians.length; i++) {
    const g = guardians[i] as GuardianFact;
    if (g.hasAuthority && !listedBefore(guardians, i, g.relatedPersonId)) {
      const guardian: MutablePerson = {
        reference: `RelatedPerson/${g.relatedPersonId}`,
        role: 'guardian',
        hasAuthority: true,
      };
      if (g.hisId !== undefined) {
        guardian.hisId = g.hisId;
      }
      if (g.relationship !== undefined) {
        guardian.relationship = g.relationship;
      }
      out[k] = guardian;
      ids[k] = g.relatedPersonId;
      k++;
    }
  }
  return { guardians: out, ids };
}

/**
 * The people who may have to speak, read from the facts. The pipeline loads the facts anew for every event, so this
 * is made per decision and kept nowhere.
 */
interface Parties {
  readonly child: Person;
  /** The child's Patient id. */
  readonly childId: string;
  readonly guardians: readonly Person[];
  /** The RelatedPerson id of each of `guardians`, at the same index. */
  readonly guardianIds: readonly string[];
}

function addIds(target: string[], ids: readonly string[]): void {
  for (const id of ids) {
    if (!target.includes(id)) {
      target.push(id);
    }
  }
}

/** Why one required person's consent is lacking, or undefined when they permit. */
function lackingReason(
  person: Person,
  stance: Stance,
): { reason: DecisionReason; consentIds: readonly string[] } | undefined {
  switch (stance.kind) {
    case 'permit':
      return undefined;
    case 'deny': {
      const consents = stance.consentIds.map((id) => `Consent/${id}`).join(', ');
      const detail = `${consents} of ${named(person)} denies this disclosure`;
      return { reason: { code: 'consent-denied', detail, people: [person] }, consentIds: stance.consentIds };
    }
    case 'silent': {
      const miss = stance.miss;
      if (miss?.code === 'consent-entered-in-error') {
        // Voided as recorded by mistake: it never counted, so the consent is missing, not withdrawn.
        const code: DenyReasonCode = person.role === 'child' ? 'consent-missing-child' : 'consent-missing-guardian';
        const detail = `No consent of ${named(person)} covers this disclosure (Consent/${miss.consentId} was recorded in error)`;
        return { reason: { code, detail, people: [person], recordedInError: [miss.consentId] }, consentIds: [] };
      }
      if (!miss) {
        const code: DenyReasonCode = person.role === 'child' ? 'consent-missing-child' : 'consent-missing-guardian';
        const detail = `No consent of ${named(person)} covers this disclosure`;
        return { reason: { code, detail, people: [person] }, consentIds: [] };
      }
      const detail = `Consent/${miss.consentId} of ${named(person)}: ${MISS_DETAIL[miss.code]}`;
      return {
        reason: { code: miss.code, detail, people: [person] },
        consentIds: miss.consentId === '' ? [] : [miss.consentId],
      };
    }
  }
}

const MISS_DETAIL: Record<Exclude<StanceMissCode, 'consent-entered-in-error'>, string> = {
  'consent-withdrawn': 'withdrawn (inactive)',
  'consent-not-yet-valid': 'not yet valid on the day of disclosure',
  'consent-expired': 'expired before the day of disclosure',
  'actor-not-covered': 'does not name the municipality as recipient (IRCP)',
  'consent-purpose-not-covered': 'does not cover the purpose',
  'consent-class-not-covered': 'does not cover every requested data class',
};

/**
 * The common case of legal basis consent, without the bookkeeping of reasons: everyone the child's age names has
 * permitted (then guardian rule `all` and `any` agree). Undefined when someone has not, and the full rules decide.
 */
function everyonePermits(
  agreement: Agreement,
  classes: readonly DataClass[],
  facts: Parties,
  ctx: ConsentContext,
  speakers: Speakers,
): Decision | undefined {
  const permitIds: string[] = [];
  // At its final length (see guardiansWithAuthority): everyone who speaks, once each, when this returns a permit.
  const people = new Array<Person>((speakers.child ? 1 : 0) + (speakers.guardians ? facts.guardians.length : 0));
  let k = 0;
  let consented = '';
  if (speakers.child) {
    if (!permitsEvery(true, facts.childId, ctx, permitIds)) {
      return undefined;
    }
    consented = named(facts.child);
    people[k++] = facts.child;
  }
  if (speakers.guardians) {
    if (facts.guardians.length === 0) {
      return undefined;
    }
    for (let i = 0; i < facts.guardians.length; i++) {
      const guardian = facts.guardians[i] as Person;
      if (!permitsEvery(false, facts.guardianIds[i] as string, ctx, permitIds)) {
        return undefined;
      }
      consented = consented === '' ? named(guardian) : `${consented}, ${named(guardian)}`;
      people[k++] = guardian;
    }
  }
  const compiled = compileAgreement(agreement);
  const detail = compiled.consentOf + consented;
  return permit(
    agreement,
    classes,
    { code: 'permitted-by-consent', detail, people },
    permitIds,
    ctx.direction,
    compiled,
  );
}

/** Legal basis consent: the people the child's age names must have permitted. */
function decideByConsent(
  agreement: Agreement,
  classes: readonly DataClass[],
  facts: Parties,
  ctx: ConsentContext,
  age: number | undefined,
): Decision {
  const { child } = facts;
  if (age === undefined) {
    const detail = `${childWords(child)} has no usable birth date, so who must consent is unknown`;
    return deny([{ code: 'birth-date-unknown', detail }], agreement);
  }
  const speakers = speakersAt(age);
  const fast = everyonePermits(agreement, classes, facts, ctx, speakers);
  if (fast) {
    return fast;
  }
  const reasons: DecisionReason[] = [];
  const denyIds: string[] = [];
  const permitIds: string[] = [];
  const consented: Person[] = [];

  if (speakers.child) {
    const stance = stanceOf(true, facts.childId, ctx);
    const lacking = lackingReason(child, stance);
    if (lacking) {
      reasons.push(lacking.reason);
      addIds(denyIds, lacking.consentIds);
    } else {
      addIds(permitIds, stance.kind === 'permit' ? stance.consentIds : []);
      consented.push(child);
    }
  }

  let overruled = '';
  if (speakers.guardians) {
    const guardians = facts.guardians;
    if (guardians.length === 0) {
      const detail = `No guardian with parental authority is known for ${childWords(child)}`;
      reasons.push({ code: 'no-guardian-with-authority', detail });
    }
    const guardianReasons: DecisionReason[] = [];
    const notDecisive: string[] = [];
    const guardianDenyIds: string[] = [];
    let permitting = 0;
    for (let i = 0; i < guardians.length; i++) {
      const guardian = guardians[i] as Person;
      const stance = stanceOf(false, facts.guardianIds[i] as string, ctx);
      const lacking = lackingReason(guardian, stance);
      if (lacking) {
        guardianReasons.push(lacking.reason);
        notDecisive.push(`${named(guardian)} (${lacking.reason.code})`);
        addIds(guardianDenyIds, lacking.consentIds);
      } else {
        permitting++;
        addIds(permitIds, stance.kind === 'permit' ? stance.consentIds : []);
        consented.push(guardian);
      }
    }
    // Rule `any`: one guardian with authority may speak for a presumably agreeing other, so the others' silence
    // does not decide; an explicit objection by a guardian with authority still does (deny wins).
    const objections = guardianReasons.filter((r) => r.code === 'consent-denied');
    const anyRule = agreement.guardianRule === 'any';
    const satisfied = anyRule ? permitting > 0 && objections.length === 0 : permitting === guardians.length;
    if (!satisfied) {
      reasons.push(...(anyRule && permitting > 0 ? objections : guardianReasons));
      addIds(denyIds, guardianDenyIds);
    } else if (notDecisive.length > 0) {
      overruled = `; not decisive under guardian rule any: ${notDecisive.join(', ')}`;
    }
  }

  if (reasons.length > 0) {
    return deny(reasons, agreement, denyIds);
  }
  const detail = `${label(agreement)} (consent): consent of ${consented.map(named).join(', ')}${overruled}`;
  return permit(
    agreement,
    classes,
    { code: 'permitted-by-consent', detail, people: consented },
    permitIds,
    ctx.direction,
  );
}

/** Other legal bases: the basis itself permits, unless the agreement honours objections and someone who speaks objects. */
function decideByLegalBasis(
  agreement: Agreement,
  classes: readonly DataClass[],
  facts: Parties,
  ctx: ConsentContext,
  age: number | undefined,
): Decision {
  const basis = `${label(agreement)} rests on ${agreement.legalBasis}`;
  if (!agreement.objectionBlocks) {
    return permit(
      agreement,
      classes,
      { code: 'permitted-by-legal-basis', detail: `${basis}; objections do not block it` },
      [],
      ctx.direction,
    );
  }
  // Without a birth date we cannot tell who speaks, so an objection by anyone who might is honoured.
  const speakers = age === undefined ? BOTH_SPEAK : speakersAt(age);
  const persons: Person[] = [...(speakers.child ? [facts.child] : []), ...(speakers.guardians ? facts.guardians : [])];
  const ids: string[] = [...(speakers.child ? [facts.childId] : []), ...(speakers.guardians ? facts.guardianIds : [])];
  const reasons: DecisionReason[] = [];
  const objectionIds: string[] = [];
  for (let i = 0; i < persons.length; i++) {
    const person = persons[i] as Person;
    // The child, if speaking, comes first.
    const stance = stanceOf(speakers.child && i === 0, ids[i] as string, ctx);
    if (stance.kind === 'deny') {
      const consents = stance.consentIds.map((id) => `Consent/${id}`).join(', ');
      const detail = `${consents} of ${named(person)} objects to this disclosure under ${agreement.legalBasis}`;
      reasons.push({ code: 'consent-denied', detail, people: [person] });
      addIds(objectionIds, stance.consentIds);
    }
  }
  if (reasons.length > 0) {
    return deny(reasons, agreement, objectionIds);
  }
  return permit(
    agreement,
    classes,
    { code: 'permitted-by-legal-basis', detail: `${basis}; no objection blocks it` },
    [],
    ctx.direction,
  );
}

function namedBefore(requested: readonly DataClass[], index: number): boolean {
  for (let i = 0; i < index; i++) {
    if (requested[i] === requested[index]) {
      return true;
    }
  }
  return false;
}

/** The classes once each, in request order; the request's own list when it names none twice (the usual case). */
function distinct(requested: readonly DataClass[]): readonly DataClass[] {
  for (let i = 1; i < requested.length; i++) {
    if (namedBefore(requested, i)) {
      const classes: DataClass[] = [];
      for (const c of requested) {
        if (!classes.includes(c)) {
          classes.push(c);
        }
      }
      return classes;
    }
  }
  return requested;
}

/** The consents compiled: the facts' own list when it holds compiled ones only (the pipeline's case). */
function compiledOf(consents: readonly (Consent | CompiledConsent)[]): readonly CompiledConsent[] {
  for (const c of consents) {
    if ('resourceType' in c) {
      return consents.map((each) => ('resourceType' in each ? compileConsent(each) : each));
    }
  }
  return consents as readonly CompiledConsent[];
}

/** Decides whether `request` may be disclosed given `facts`; pure, synchronous, never does I/O. */
export function decide(request: DecisionRequest, facts: DecisionFacts<Consent | CompiledConsent>): Decision {
  const day = dayInAmsterdam(request.at);
  const classes = distinct(request.dataClasses);
  if (classes.length === 0) {
    return deny([{ code: 'class-not-covered', detail: 'No data class was requested' }]);
  }
  const selection = selectFitting(facts.agreements, request, classes, day);
  if (selection.fitting.length === 0) {
    return deny([selection.reason]);
  }
  const cancels = request.cancels;
  if (cancels !== undefined) {
    const decision = decideCancellation(selection.fitting[0] as Agreement, cancels, request.municipalityCode);
    if (decision !== undefined) {
      return decision;
    }
  }
  const withAuthority = guardiansWithAuthority(facts);
  const parties: Parties = {
    child: childOf(facts),
    childId: facts.patient.id,
    guardians: withAuthority.guardians,
    guardianIds: withAuthority.ids,
  };
  const ctx: ConsentContext = {
    day,
    atMs: request.at.getTime(),
    municipalityCode: request.municipalityCode,
    purpose: request.purpose,
    classes,
    consents: compiledOf(facts.consents),
    childId: facts.patient.id,
    direction: request.direction ?? 'to-municipality',
  };
  const age = facts.patient.birthDate === undefined ? undefined : ageOn(facts.patient.birthDate, day);
  // Overlapping agreements are each a lawful ground: the first (by id) that permits is used, else the first's deny.
  let first: Decision | undefined;
  for (const agreement of selection.fitting) {
    const decision =
      agreement.legalBasis === 'consent'
        ? decideByConsent(agreement, classes, parties, ctx, age)
        : decideByLegalBasis(agreement, classes, parties, ctx, age);
    if (decision.effect === 'permit') {
      return decision;
    }
    first ??= decision;
  }
  const denied = first ?? deny([selection.reason]);
  return cancels === undefined ? denied : unknownReferralDenied(denied, cancels, request.municipalityCode);
}
