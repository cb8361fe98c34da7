import { deterministicId } from '../../../src/kernel/fhir/ids';

/**
 * The deterministic FHIR ids of everything a HIS event produces. Same practice and same source record → same id,
 * in every dialect; a re-sent or corrected record updates its resource instead of duplicating it.
 */
export const resourceIds = {
  patient: (agb: string, childId: string): string => deterministicId(agb, 'Patient', childId),
  relatedPerson: (agb: string, childId: string, guardianId: string): string =>
    deterministicId(agb, 'RelatedPerson', childId, guardianId),
  episodeOfCare: (agb: string, trajectoryId: string): string => deterministicId(agb, 'EpisodeOfCare', trajectoryId),
  encounter: (agb: string, contactId: string): string => deterministicId(agb, 'Encounter', contactId),
  serviceRequest: (agb: string, referralId: string): string => deterministicId(agb, 'ServiceRequest', referralId),
  consent: (agb: string, consentId: string): string => deterministicId(agb, 'Consent', consentId),
} as const;
