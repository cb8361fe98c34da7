import type { Encounter, EpisodeOfCare, Resource, ServiceRequest } from '@medplum/fhirtypes';
import type { DataClass } from '../../src/contracts/sharing';
import type { MunicipalityTrajectoryEventType } from '../../src/contracts/delivery-event-type';
import { bsnIdentifier, municipalityIdentifier } from '../../src/kernel/fhir/identifiers';
import { deterministicId } from '../../src/kernel/fhir/ids';
import {
  ACT_CODE_SYSTEM,
  COD327_SYSTEM,
  JZ020_SYSTEM,
  NHG_TABLE_14_SYSTEM,
  REFERRAL_SNOMED_CODE,
  SNOMED_SYSTEM,
} from '../../src/kernel/fhir/systems';
import {
  EXTENSION,
  getCoding,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
  tryTranslate,
} from '../../src/kernel/fhir/terminology';
import type { TrajectoryEvent, TrajectoryEventKind } from './trajectory-event';

/**
 * A municipality-registered trajectory event as FHIR for the practice's HIS. Pure.
 *
 * - every event carries the trajectory as EpisodeOfCare: `active` from its start date, `finished` at closure with
 *   the period's end and the trajectory-outcome extension; managed by the municipality;
 * - a contact is an Encounter (class from the NHG contact mode, the contact mode and the intervention codes as
 *   types, the duration as length) linked to the EpisodeOfCare: Encounter rather than Communication because it
 *   is a contact with the professional, as the HIS direction models it, and it is a data class consents name;
 * - a referral is a ServiceRequest (SNOMED 3457005 "Patient referral") with the target as performerType and the
 *   JZ020 product category, when given, as category, requested by the municipality;
 * - who referred the child (COD327), when given, is the EpisodeOfCare's referrer-type extension, as from the HIS.
 *
 * The child is referenced by BSN (a logical reference): it is the practice's own patient, and nothing else about
 * the child is sent. Ids are deterministic from the municipality's ids, so a repeat maps to the same resources.
 */

/** The municipality's own ids (trajectory, contact, referral), one naming system per municipality and kind. */
function municipalityIdSystem(municipality: string, kind: 'trajectory' | 'contact' | 'referral'): string {
  return `https://jeugdbrug.nl/fhir/NamingSystem/${municipality}/${kind}`;
}

export function deliveryEventTypeOf(kind: TrajectoryEventKind): MunicipalityTrajectoryEventType {
  return `municipality.trajectory.${kind}`;
}

/** The data classes an event of this kind discloses to the practice: what the policy engine is asked about. */
export function dataClassesOfTrajectoryEvent(kind: TrajectoryEventKind): DataClass[] {
  switch (kind) {
    case 'intake':
    case 'closure':
      return ['EpisodeOfCare'];
    case 'contact':
      return ['EpisodeOfCare', 'Encounter'];
    case 'referral':
      return ['EpisodeOfCare', 'ServiceRequest'];
  }
}

export function toPracticeResources(e: TrajectoryEvent): Resource[] {
  const episode = episodeOf(e);
  switch (e.type) {
    case 'intake':
    case 'closure':
      return [episode];
    case 'contact':
      return [episode, encounterOf(e, episode)];
    case 'referral':
      return [episode, serviceRequestOf(e)];
  }
}

const patientOf = (e: TrajectoryEvent) => ({ type: 'Patient' as const, identifier: bsnIdentifier(e.child.bsn) });
const municipalityOf = (e: TrajectoryEvent) => ({
  type: 'Organization' as const,
  identifier: municipalityIdentifier(e.municipality),
});

function episodeOf(e: TrajectoryEvent): EpisodeOfCare {
  const closed = e.type === 'closure';
  const { referrerType } = e.trajectory;
  const extension = [
    // Who referred the child, as the HIS direction carries it: what the monitoring report's inflow counts by.
    ...(referrerType ? [{ url: EXTENSION.referrerType, valueCoding: getCoding(COD327_SYSTEM, referrerType) }] : []),
    ...(closed && e.outcome
      ? [{ url: EXTENSION.trajectoryOutcome, valueCoding: getCoding(TRAJECTORY_OUTCOME_SYSTEM, e.outcome) }]
      : []),
  ];
  return {
    resourceType: 'EpisodeOfCare',
    id: deterministicId('municipality', e.municipality, 'trajectory', e.trajectory.id),
    ...(extension.length > 0 ? { extension } : {}),
    identifier: [{ system: municipalityIdSystem(e.municipality, 'trajectory'), value: e.trajectory.id }],
    status: closed ? 'finished' : 'active',
    ...(e.helpQuestion ? { type: [{ coding: [getCoding(HELP_QUESTION_CATEGORY_SYSTEM, e.helpQuestion)] }] } : {}),
    patient: patientOf(e),
    managingOrganization: municipalityOf(e),
    period: { start: e.trajectory.startDate, ...(closed ? { end: e.date } : {}) },
  };
}

function encounterOf(e: TrajectoryEvent, episode: EpisodeOfCare): Encounter {
  const contact = e.contact;
  if (!contact) {
    throw new Error('a contact event without its contact');
  }
  const encounterClass = tryTranslate(NHG_TABLE_14_SYSTEM, contact.mode, ACT_CODE_SYSTEM);
  if (!encounterClass) {
    throw new Error(`NHG contact mode ${contact.mode} has no Encounter.class in the ConceptMap`);
  }
  return {
    resourceType: 'Encounter',
    id: deterministicId('municipality', e.municipality, 'contact', e.eventId),
    identifier: [{ system: municipalityIdSystem(e.municipality, 'contact'), value: e.eventId }],
    status: 'finished',
    class: encounterClass,
    type: [
      { coding: [getCoding(NHG_TABLE_14_SYSTEM, contact.mode)] },
      ...contact.interventions.map((code) => ({ coding: [getCoding(INTERVENTION_SYSTEM, code)] })),
    ],
    subject: patientOf(e),
    episodeOfCare: [{ reference: `EpisodeOfCare/${episode.id ?? ''}` }],
    period: { start: e.date },
    length: { value: contact.durationMinutes, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
    serviceProvider: municipalityOf(e),
  };
}

function serviceRequestOf(e: TrajectoryEvent): ServiceRequest {
  const referral = e.referral;
  if (!referral) {
    throw new Error('a referral event without its referral');
  }
  return {
    resourceType: 'ServiceRequest',
    id: deterministicId('municipality', e.municipality, 'referral', referral.id),
    identifier: [{ system: municipalityIdSystem(e.municipality, 'referral'), value: referral.id }],
    status: 'active',
    intent: 'order',
    code: { coding: [{ system: SNOMED_SYSTEM, code: REFERRAL_SNOMED_CODE, display: 'Patient referral' }] },
    subject: patientOf(e),
    authoredOn: e.date,
    requester: municipalityOf(e),
    performerType: { coding: [getCoding(REFERRAL_TARGET_SYSTEM, referral.target)] },
    ...(referral.productCategory
      ? { category: [{ coding: [getCoding(JZ020_SYSTEM, referral.productCategory)] }] }
      : {}),
  };
}
