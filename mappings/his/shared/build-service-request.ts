import type { ServiceRequest } from '@medplum/fhirtypes';
import { agbIdentifier, sourceIdSystem } from '../../../src/kernel/fhir/identifiers';
import {
  COD327_SYSTEM,
  ICPC_SYSTEM,
  JZ020_SYSTEM,
  REFERRAL_SNOMED_CODE,
  SNOMED_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import { EXTENSION, getCoding, REFERRAL_TARGET_SYSTEM } from '../../../src/kernel/fhir/terminology';
import type { ProfessionalData, ReferralData } from './model';
import { resourceIds } from './resource-ids';

/**
 * A referral (opschaling) as ServiceRequest: active when created, revoked when cancelled (same id, so the
 * cancellation replaces it). The iJw codes municipalities think in ride along: JZ020 as category, COD327 as
 * extension, the kind of receiver as performerType.
 */
export function buildServiceRequest(
  agb: string,
  childId: string,
  professional: ProfessionalData | undefined,
  r: ReferralData,
  status: 'active' | 'revoked',
): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id: resourceIds.serviceRequest(agb, r.id),
    ...(r.referrerType
      ? { extension: [{ url: EXTENSION.referrerType, valueCoding: getCoding(COD327_SYSTEM, r.referrerType) }] }
      : {}),
    // The referral id first: what jeugdbrug, the status routes and the receivers' conditional updates address it by.
    identifier: [{ system: sourceIdSystem(agb, 'referral'), value: r.id }, ...(r.hisIdentifiers ?? [])],
    status,
    intent: 'order',
    ...(r.productCategory ? { category: [{ coding: [getCoding(JZ020_SYSTEM, r.productCategory)] }] } : {}),
    code: { coding: [{ system: SNOMED_SYSTEM, code: REFERRAL_SNOMED_CODE, display: 'Patient referral' }] },
    subject: { reference: `Patient/${resourceIds.patient(agb, childId)}` },
    ...(r.authoredOn ? { authoredOn: r.authoredOn } : {}),
    // The professional who referred; the practice stands in when the HIS does not name them.
    requester: { identifier: agbIdentifier(professional?.agb ?? agb) },
    ...(r.target ? { performerType: { coding: [getCoding(REFERRAL_TARGET_SYSTEM, r.target)] } } : {}),
    ...(r.icpc ? { reasonCode: [{ coding: [getCoding(ICPC_SYSTEM, r.icpc)] }] } : {}),
    ...(r.reasonText ? { note: [{ text: r.reasonText }] } : {}),
  };
}
