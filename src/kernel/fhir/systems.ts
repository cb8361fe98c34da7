/** Code system URIs shared by mappings, policy and audit. Identifier systems live in identifiers.ts. */
export const SNOMED_SYSTEM = 'http://snomed.info/sct';
export const LOINC_SYSTEM = 'http://loinc.org';
export const ICPC_SYSTEM = 'http://hl7.org/fhir/sid/icpc-1-nl';
export const NHG_TABLE_14_SYSTEM = 'https://referentiemodel.nhg.org/tabellen/nhg-tabel-14-contactwijze';
export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const PARTICIPATION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const RESOURCE_TYPE_SYSTEM = 'http://hl7.org/fhir/resource-types';
/** iJw code lists; no official FHIR URIs exist, this is the pattern used for other iStandaarden lists. */
export const COD327_SYSTEM = 'http://istandaarden.nl/ibieb/codelijsten/COD327';
export const JZ020_SYSTEM = 'http://istandaarden.nl/ibieb/codelijsten/JZ020';
/** Ours: the purposes a processing agreement can name (referral, contact-registration, monitoring). */
export const PURPOSE_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/purpose';

/** Consent category "Privacy policy acknowledgment Document" (LOINC 59284-0). */
export const CONSENT_CATEGORY_CODE = '59284-0';
/** The scope and category codings of a privacy consent (patient-privacy, LOINC 59284-0), read and written alike. */
export const PRIVACY_CONSENT_SCOPE = { system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' } as const;
export const PRIVACY_CONSENT_CATEGORY = { system: LOINC_SYSTEM, code: CONSENT_CATEGORY_CODE } as const;
export const REFERRAL_SNOMED_CODE = '3457005';
/**
 * On a Consent given jointly: one party (performer) who withdrew it. The consent stays active for the others;
 * only when every party (or, unnamed, the HIS as a whole) withdrew does its status become inactive.
 */
export const CONSENT_WITHDRAWN_BY_EXTENSION = 'https://jeugdbrug.nl/fhir/StructureDefinition/consent-withdrawn-by';
/** When a consent was withdrawn (wholly or by some of its parties): a recording dated before it does not revive it. */
export const CONSENT_WITHDRAWN_AT_EXTENSION = 'https://jeugdbrug.nl/fhir/StructureDefinition/consent-withdrawn-at';

/**
 * On a ServiceRequest jeugdbrug serves a municipality (`GET /fhir/ServiceRequest`): a withdrawal notice was made for
 * the referral it received, since the child's consent was withdrawn, recorded in error or met by an objection. FHIR
 * has no ServiceRequest.status for "no longer covered by consent" (the referral itself stands), so a tag of ours.
 */
export const CONSENT_WITHDRAWN_TAG = {
  system: 'https://jeugdbrug.nl/fhir/CodeSystem/referral-tag',
  code: 'consent-withdrawn',
  display: 'consent no longer covers this referral: withdrawal notice made',
} as const;
