import type { Encounter, EncounterParticipant, EpisodeOfCare, Extension } from '@medplum/fhirtypes';
import { agbIdentifier, sourceIdSystem } from '../../../src/kernel/fhir/identifiers';
import {
  ACT_CODE_SYSTEM,
  COD327_SYSTEM,
  ICPC_SYSTEM,
  NHG_TABLE_14_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import {
  EXTENSION,
  getCoding,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  PROFESSIONAL_ROLE_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
  tryTranslate,
} from '../../../src/kernel/fhir/terminology';
import type { ContactData, ProfessionalData, TrajectoryData } from './model';
import { resourceIds } from './resource-ids';

/**
 * A trajectory as EpisodeOfCare: the help-question categories (not the ICPC code: that is medical data) as types,
 * the main one first, who referred the child (COD327, and the finer sub-type when known), and once closed the
 * outcome.
 */
export function buildEpisodeOfCare(agb: string, childId: string, t: TrajectoryData): EpisodeOfCare {
  const extension: Extension[] = [];
  const referrerType =
    t.referrerType ??
    (t.referrerSubtype ? tryTranslate(REFERRER_SUBTYPE_SYSTEM, t.referrerSubtype, COD327_SYSTEM)?.code : undefined);
  if (referrerType) {
    extension.push({ url: EXTENSION.referrerType, valueCoding: getCoding(COD327_SYSTEM, referrerType) });
  }
  if (t.referrerSubtype) {
    extension.push({
      url: EXTENSION.referrerSubtype,
      valueCoding: getCoding(REFERRER_SUBTYPE_SYSTEM, t.referrerSubtype),
    });
  }
  if (t.outcome) {
    extension.push({ url: EXTENSION.trajectoryOutcome, valueCoding: getCoding(TRAJECTORY_OUTCOME_SYSTEM, t.outcome) });
  }
  return {
    resourceType: 'EpisodeOfCare',
    id: resourceIds.episodeOfCare(agb, t.id),
    ...(extension.length ? { extension } : {}),
    identifier: [{ system: sourceIdSystem(agb, 'trajectory'), value: t.id }],
    status: t.closedOn ? 'finished' : 'active',
    type: [t.helpQuestion, ...(t.moreHelpQuestions ?? []).filter((c) => c !== t.helpQuestion)].map((code) => ({
      coding: [getCoding(HELP_QUESTION_CATEGORY_SYSTEM, code)],
    })),
    patient: { reference: `Patient/${resourceIds.patient(agb, childId)}` },
    managingOrganization: { identifier: agbIdentifier(agb) },
    period: { start: t.startDate, ...(t.closedOn ? { end: t.closedOn } : {}) },
  };
}

function participantOf(p: ProfessionalData | undefined): EncounterParticipant[] {
  if (!p) {
    return [];
  }
  const individual =
    p.agb || p.name
      ? { ...(p.agb ? { identifier: agbIdentifier(p.agb) } : {}), ...(p.name ? { display: p.name } : {}) }
      : undefined;
  return [
    {
      type: [
        { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: 'PPRF', display: 'primary performer' }] },
        ...(p.role ? [{ coding: [getCoding(PROFESSIONAL_ROLE_SYSTEM, p.role)] }] : []),
      ],
      ...(individual ? { individual } : {}),
    },
  ];
}

/**
 * A contact as Encounter: class from the NHG contact mode (the NHG code kept as the first type), the interventions
 * as further types, the ICPC code of the episode as reason, linked to its trajectory.
 */
export function buildEncounter(
  agb: string,
  childId: string,
  professional: ProfessionalData | undefined,
  t: TrajectoryData,
  c: ContactData,
): Encounter {
  const encounterClass = tryTranslate(NHG_TABLE_14_SYSTEM, c.mode, ACT_CODE_SYSTEM);
  if (!encounterClass) {
    throw new Error(`NHG contact mode ${c.mode} has no Encounter.class in the ConceptMap`);
  }
  const participant = participantOf(professional);
  return {
    resourceType: 'Encounter',
    id: resourceIds.encounter(agb, c.id),
    identifier: [{ system: sourceIdSystem(agb, 'contact'), value: c.id }],
    status: 'finished',
    class: encounterClass,
    type: [
      { coding: [getCoding(NHG_TABLE_14_SYSTEM, c.mode)] },
      ...c.interventions.map((code) => ({ coding: [getCoding(INTERVENTION_SYSTEM, code)] })),
    ],
    subject: { reference: `Patient/${resourceIds.patient(agb, childId)}` },
    episodeOfCare: [{ reference: `EpisodeOfCare/${resourceIds.episodeOfCare(agb, t.id)}` }],
    ...(participant.length ? { participant } : {}),
    period: { start: c.start },
    length: { value: c.durationMinutes, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
    ...(t.icpc ? { reasonCode: [{ coding: [getCoding(ICPC_SYSTEM, t.icpc)] }] } : {}),
    serviceProvider: { identifier: agbIdentifier(agb) },
  };
}
