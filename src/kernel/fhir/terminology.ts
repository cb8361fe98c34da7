import type { CodeSystem, CodeSystemConcept, Coding, ConceptMap } from '@medplum/fhirtypes';
import ageBand from '../../../mappings/terminology/codesystem-age-band.json';
import cod327 from '../../../mappings/terminology/codesystem-cod327-referrer-type.json';
import guardianRelationship from '../../../mappings/terminology/codesystem-guardian-relationship.json';
import helpQuestionCategory from '../../../mappings/terminology/codesystem-help-question-category.json';
import intervention from '../../../mappings/terminology/codesystem-intervention.json';
import jz020 from '../../../mappings/terminology/codesystem-jz020-product-category.json';
import monitoring from '../../../mappings/terminology/codesystem-monitoring.json';
import professionalRole from '../../../mappings/terminology/codesystem-professional-role.json';
import purpose from '../../../mappings/terminology/codesystem-purpose.json';
import referralAllocation from '../../../mappings/terminology/codesystem-referral-allocation.json';
import referralRejectionReason from '../../../mappings/terminology/codesystem-referral-rejection-reason.json';
import referralStatus from '../../../mappings/terminology/codesystem-referral-status.json';
import referralTarget from '../../../mappings/terminology/codesystem-referral-target.json';
import referrerSubtype from '../../../mappings/terminology/codesystem-referrer-subtype.json';
import trajectoryOutcome from '../../../mappings/terminology/codesystem-trajectory-outcome.json';
import guardianRoleCode from '../../../mappings/terminology/conceptmap-guardian-relationship-role-code.json';
import icpcHelpQuestion from '../../../mappings/terminology/conceptmap-icpc-help-question-category.json';
import nhgEncounterClass from '../../../mappings/terminology/conceptmap-nhg-14-encounter-class.json';
import referralStatusTaskStatus from '../../../mappings/terminology/conceptmap-referral-status-task-status.json';
import referrerSubtypeCod327 from '../../../mappings/terminology/conceptmap-referrer-subtype-cod327.json';

/**
 * The code tables under `mappings/terminology/` (FHIR CodeSystems and ConceptMaps), indexed once at load for
 * lookups by system and code. Mappings ask here instead of holding code lists of their own, so adding a code is a
 * JSON edit.
 */

/** One known code with its display, as a Coding can carry it. */
export interface Concept {
  readonly system: string;
  readonly code: string;
  readonly display?: string | undefined;
}

function asCodeSystem(json: { resourceType: string; url: string; concept: unknown[] }): CodeSystem {
  if (json.resourceType !== 'CodeSystem' || !json.url) {
    throw new Error(`Not a CodeSystem with a url: ${json.url}`);
  }
  return json as CodeSystem;
}

function asConceptMap(json: { resourceType: string; url: string; group: unknown[] }): ConceptMap {
  if (json.resourceType !== 'ConceptMap' || !json.url) {
    throw new Error(`Not a ConceptMap with a url: ${json.url}`);
  }
  return json as ConceptMap;
}

/** Every CodeSystem, for integrity tests and for serving them. */
export const CODE_SYSTEMS: readonly CodeSystem[] = [
  asCodeSystem(helpQuestionCategory),
  asCodeSystem(intervention),
  asCodeSystem(trajectoryOutcome),
  asCodeSystem(referralTarget),
  asCodeSystem(professionalRole),
  asCodeSystem(guardianRelationship),
  asCodeSystem(purpose),
  asCodeSystem(cod327),
  asCodeSystem(jz020),
  asCodeSystem(referralStatus),
  asCodeSystem(referralRejectionReason),
  asCodeSystem(referralAllocation),
  asCodeSystem(referrerSubtype),
  asCodeSystem(ageBand),
  asCodeSystem(monitoring),
];
/** Every ConceptMap. */
export const CONCEPT_MAPS: readonly ConceptMap[] = [
  asConceptMap(nhgEncounterClass),
  asConceptMap(icpcHelpQuestion),
  asConceptMap(guardianRoleCode),
  asConceptMap(referralStatusTaskStatus),
  asConceptMap(referrerSubtypeCod327),
];

/** Our own code systems; their URIs come from the tables themselves. */
export const HELP_QUESTION_CATEGORY_SYSTEM = helpQuestionCategory.url;
export const INTERVENTION_SYSTEM = intervention.url;
export const TRAJECTORY_OUTCOME_SYSTEM = trajectoryOutcome.url;
export const REFERRAL_TARGET_SYSTEM = referralTarget.url;
export const PROFESSIONAL_ROLE_SYSTEM = professionalRole.url;
export const GUARDIAN_RELATIONSHIP_SYSTEM = guardianRelationship.url;
/** A referral's status at the municipality (Task.businessStatus), and why one was rejected (Task.statusReason). */
export const REFERRAL_STATUS_SYSTEM = referralStatus.url;
export const REFERRAL_REJECTION_REASON_SYSTEM = referralRejectionReason.url;
/** The kinds of detail of a status update (Task.output.type): its day, the decision, the provider, care's dates. */
export const REFERRAL_ALLOCATION_SYSTEM = referralAllocation.url;
export const REFERRER_SUBTYPE_SYSTEM = referrerSubtype.url;
export const AGE_BAND_SYSTEM = ageBand.url;
/** The codes of the monitoring Measure: its groups, stratifiers and categories without a list of their own. */
export const MONITORING_SYSTEM = monitoring.url;
/** HL7 v3 RoleCode, for RelatedPerson.relationship. */
export const ROLE_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';

/** Extensions of ours (their StructureDefinitions are not published yet). */
export const EXTENSION = {
  /** RelatedPerson: whether this parent or guardian holds parental authority (gezag); valueBoolean. */
  parentalAuthority: 'https://jeugdbrug.nl/fhir/StructureDefinition/parental-authority',
  /** Patient.address: the CBS municipality of residence; valueIdentifier in MUNICIPALITY_CODE_SYSTEM. */
  municipality: 'https://jeugdbrug.nl/fhir/StructureDefinition/municipality',
  /** EpisodeOfCare and ServiceRequest: who referred (COD327); valueCoding. */
  referrerType: 'https://jeugdbrug.nl/fhir/StructureDefinition/referrer-type',
  /** EpisodeOfCare: how the trajectory ended; valueCoding in TRAJECTORY_OUTCOME_SYSTEM. */
  trajectoryOutcome: 'https://jeugdbrug.nl/fhir/StructureDefinition/trajectory-outcome',
  /** EpisodeOfCare: who referred, finer than COD327; valueCoding in REFERRER_SUBTYPE_SYSTEM. */
  referrerSubtype: 'https://jeugdbrug.nl/fhir/StructureDefinition/referrer-subtype',
} as const;

const concepts = new Map<string, Map<string, Concept>>();
/** `system|code` → its English designation (the displays are Dutch), for words shown in English. */
const englishDisplays = new Map<string, string>();
/** `source|target` → source code → target codings. */
const translations = new Map<string, Map<string, Coding[]>>();

function addConcept(system: string, code: string, display: string | undefined): void {
  let bySystem = concepts.get(system);
  if (!bySystem) {
    bySystem = new Map();
    concepts.set(system, bySystem);
  }
  const known = bySystem.get(code);
  // A CodeSystem's display wins over one a ConceptMap repeats.
  if (!known || (!known.display && display)) {
    bySystem.set(code, { system, code, ...(display ? { display } : {}) });
  }
}

function indexCodeSystem(cs: CodeSystem): void {
  const walk = (list: readonly CodeSystemConcept[] | undefined): void => {
    for (const c of list ?? []) {
      if (concepts.get(cs.url ?? '')?.has(c.code ?? '')) {
        throw new Error(`Duplicate code ${c.code} in ${cs.url}`);
      }
      addConcept(cs.url ?? '', c.code ?? '', c.display);
      const english = c.designation?.find((d) => d.language === 'en')?.value;
      if (english) {
        englishDisplays.set(`${cs.url ?? ''}|${c.code ?? ''}`, english);
      }
      walk(c.concept);
    }
  };
  walk(cs.concept);
}

function indexConceptMap(cm: ConceptMap): void {
  for (const g of cm.group ?? []) {
    const source = g.source ?? '';
    const target = g.target ?? '';
    const key = `${source}|${target}`;
    const map = translations.get(key) ?? new Map<string, Coding[]>();
    translations.set(key, map);
    for (const el of g.element ?? []) {
      const code = el.code ?? '';
      // Codes a map knows are known codes of the source system (NHG, ICPC: tables we do not own in full).
      if (!CODE_SYSTEMS.some((cs) => cs.url === source)) {
        addConcept(source, code, el.display);
      }
      const targets: Coding[] = [];
      for (const t of el.target ?? []) {
        if (t.code && t.equivalence !== 'unmatched' && t.equivalence !== 'disjoint') {
          targets.push({ system: target, code: t.code, ...(t.display ? { display: t.display } : {}) });
          if (!CODE_SYSTEMS.some((cs) => cs.url === target)) {
            addConcept(target, t.code, t.display);
          }
        }
      }
      map.set(code, targets);
    }
  }
}

for (const cs of CODE_SYSTEMS) {
  indexCodeSystem(cs);
}
for (const cm of CONCEPT_MAPS) {
  indexConceptMap(cm);
}

/** The concept, or undefined when the tables do not know the code. */
export function tryGetConcept(system: string, code: string): Concept | undefined {
  return concepts.get(system)?.get(code);
}

/**
 * A code's words in a language: the display (Dutch) for `nl`, its `en` designation for `en`, falling back on the
 * display where the table has no English; undefined when the tables do not know the code.
 */
export function tryGetDisplayIn(system: string, code: string, language: 'nl' | 'en'): string | undefined {
  const display = tryGetConcept(system, code)?.display;
  return language === 'en' ? (englishDisplays.get(`${system}|${code}`) ?? display) : display;
}

/** Whether the tables know this code in this system. */
export function isKnownCode(system: string, code: string): boolean {
  return concepts.get(system)?.has(code) ?? false;
}

/** Every code the tables know in a system, in table order. */
export function codesOf(system: string): readonly string[] {
  return [...(concepts.get(system)?.keys() ?? [])];
}

/** Lists up to this many codes in an answer; a longer list is pointed to instead. */
const CODES_QUOTED = 20;

/**
 * The message for a code the tables do not know in `system`, named by `label`: the codes it takes (or where they
 * are listed), never the value sent, which may be a name or a BSN put in the wrong field.
 */
export function unknownCodeMessage(system: string, label: string): string {
  const codes = codesOf(system);
  return codes.length > 0 && codes.length <= CODES_QUOTED
    ? `unknown ${label}: one of ${codes.join(', ')}`
    : `unknown ${label}: see mappings/terminology for the codes`;
}

/** A Coding with the table's display; throws for an unknown code (input validation should have caught it). */
export function getCoding(system: string, code: string): Coding {
  const c = tryGetConcept(system, code);
  if (!c) {
    throw new Error(`Unknown code ${code} in ${system}`);
  }
  return { system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) };
}

/** The first target of a code in a ConceptMap from `sourceSystem` to `targetSystem`, or undefined. */
export function tryTranslate(sourceSystem: string, code: string, targetSystem: string): Coding | undefined {
  return translations.get(`${sourceSystem}|${targetSystem}`)?.get(code)?.[0];
}

/** The reverse: the source code whose first target is this code, or undefined. */
export function tryTranslateBack(targetSystem: string, code: string, sourceSystem: string): string | undefined {
  for (const [source, targets] of translations.get(`${sourceSystem}|${targetSystem}`) ?? []) {
    if (targets[0]?.code === code) {
      return source;
    }
  }
  return undefined;
}
