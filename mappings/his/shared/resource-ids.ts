import { deterministicId } from '../../../src/kernel/fhir/ids';

/**
 * The id of one kind from the practice and one source id, keeping the last answer: a record's Patient id is asked for
 * by every resource that points at the child (the Patient itself, each RelatedPerson, the Encounter, ...), and its
 * EpisodeOfCare's by the Encounter too, so a record hashes each of its ids once. The id depends on its parts alone.
 */
function lastKept(kind: string): (agb: string, sourceId: string) => string {
  let last = { agb: '', sourceId: '', id: '' };
  return (agb, sourceId) => {
    if (last.agb === agb && last.sourceId === sourceId && last.id !== '') {
      return last.id;
    }
    const id = deterministicId(agb, kind, sourceId);
    last = { agb, sourceId, id };
    return id;
  };
}

/**
 * The deterministic FHIR ids of everything a HIS event produces. Same practice and same source record → same id,
 * in every dialect; a re-sent or corrected record updates its resource instead of duplicating it.
 */
export const resourceIds = {
  patient: lastKept('Patient'),
  relatedPerson: (agb: string, childId: string, guardianId: string): string =>
    deterministicId(agb, 'RelatedPerson', childId, guardianId),
  episodeOfCare: lastKept('EpisodeOfCare'),
  encounter: (agb: string, contactId: string): string => deterministicId(agb, 'Encounter', contactId),
  serviceRequest: (agb: string, referralId: string): string => deterministicId(agb, 'ServiceRequest', referralId),
  consent: (agb: string, consentId: string): string => deterministicId(agb, 'Consent', consentId),
} as const;
