import type { Resource } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../../../src/contracts/his-dialect';
import { buildEncounter, buildEpisodeOfCare } from './build-care';
import { buildRecordedConsent, buildWithdrawnConsent } from './build-consent';
import { buildPatient, buildRelatedPerson } from './build-people';
import { buildServiceRequest } from './build-service-request';
import type { HisEvent } from './model';

/** The one step from the internal model to a CanonicalEvent, shared by every dialect. Pure and deterministic. */
export function toCanonicalEvent(e: HisEvent): CanonicalEvent {
  const agb = e.practice.agb;
  const childId = e.child.id;
  const relatedPersons = e.guardians.map((g) => buildRelatedPerson(agb, childId, g));
  let main: Resource[];
  switch (e.eventType) {
    case 'contact.recorded':
      main = [
        buildEpisodeOfCare(agb, childId, e.trajectory),
        buildEncounter(agb, childId, e.professional, e.trajectory, e.contact),
      ];
      break;
    case 'trajectory.closed':
      main = [buildEpisodeOfCare(agb, childId, e.trajectory)];
      break;
    case 'referral.created':
    case 'referral.cancelled':
      main = [
        buildServiceRequest(
          agb,
          childId,
          e.professional,
          e.referral,
          e.eventType === 'referral.created' ? 'active' : 'revoked',
        ),
      ];
      break;
    case 'consent.recorded':
      main = [buildRecordedConsent(agb, childId, e.consent)];
      break;
    case 'consent.withdrawn':
      main = [buildWithdrawnConsent(agb, childId, e.consent)];
      break;
  }
  return {
    eventType: e.eventType,
    sourceEventId: e.eventId,
    occurredAt: e.occurredAt,
    practice: { agb, ...(e.practice.ura ? { ura: e.practice.ura } : {}) },
    municipalityCode: e.child.municipality,
    patient: { bsn: e.child.bsn, birthDate: e.child.birthDate },
    guardians: e.guardians.map((g, i) => ({
      relatedPersonId: relatedPersons[i]?.id ?? '',
      ...(g.bsn ? { bsn: g.bsn } : {}),
      hasAuthority: g.hasAuthority,
    })),
    resources: [buildPatient(agb, e.child), ...relatedPersons, ...main],
  };
}
