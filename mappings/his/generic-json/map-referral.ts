import type { Patient, RelatedPerson, ServiceRequest } from '@medplum/fhirtypes';
import { deterministicId } from '../../../src/fhir/ids';
import { AGB_SYSTEM, BSN_SYSTEM } from '../../../src/fhir/identifiers';
import type { CanonicalEvent } from '../../../src/ingest/dialect';
import type { GenericEvent } from './schema';

/** Maps a generic `referral.created` event to Patient, RelatedPerson(s) and a ServiceRequest. */
export function mapReferral(e: GenericEvent): CanonicalEvent {
  const agb = e.practice.agb;
  const patientId = deterministicId(agb, 'Patient', e.child.id);
  const patient: Patient = {
    resourceType: 'Patient',
    id: patientId,
    identifier: [{ system: BSN_SYSTEM, value: e.child.bsn }],
    birthDate: e.child.birthDate,
    ...(e.child.name ? { name: [e.child.name] } : {}),
  };
  const guardians = e.guardians.map((g) => {
    const rp: RelatedPerson = {
      resourceType: 'RelatedPerson',
      id: deterministicId(agb, 'RelatedPerson', e.child.id, g.id),
      patient: { reference: `Patient/${patientId}` },
      ...(g.bsn ? { identifier: [{ system: BSN_SYSTEM, value: g.bsn }] } : {}),
      ...(g.name ? { name: [g.name] } : {}),
    };
    return { rp, guardian: g };
  });
  const serviceRequest: ServiceRequest = {
    resourceType: 'ServiceRequest',
    id: deterministicId(agb, 'ServiceRequest', e.referral.id),
    identifier: [{ system: `urn:agb:${agb}:referral`, value: e.referral.id }],
    status: 'active',
    intent: 'order',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '3457005', display: 'Patient referral' }] },
    subject: { reference: `Patient/${patientId}` },
    authoredOn: e.referral.authoredOn,
    requester: { identifier: { system: AGB_SYSTEM, value: e.professional.agb ?? agb } },
    ...(e.referral.reasonText ? { note: [{ text: e.referral.reasonText }] } : {}),
  };
  return {
    eventType: e.eventType,
    sourceEventId: e.eventId,
    occurredAt: e.occurredAt,
    practice: { agb, ura: e.practice.ura },
    municipalityCode: e.child.municipality,
    patient: { bsn: e.child.bsn, birthDate: e.child.birthDate },
    guardians: guardians.map(({ rp, guardian }) => ({
      relatedPersonId: rp.id ?? '',
      bsn: guardian.bsn,
      hasAuthority: guardian.hasAuthority,
    })),
    resources: [patient, ...guardians.map((g) => g.rp), serviceRequest],
  };
}
