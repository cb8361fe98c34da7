/**
 * The vocabulary of sharing that the HIS dialects, the policy engine and the agreements have in common: why data is
 * shared (purposes) and what can be shared (data classes, by FHIR resource type).
 */

export const PURPOSES = ['referral', 'contact-registration', 'monitoring'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The resource types ("data classes") an agreement can allow and a consent can name. */
export const DATA_CLASSES = [
  'Patient',
  'RelatedPerson',
  'Encounter',
  'EpisodeOfCare',
  'ServiceRequest',
  'Consent',
  'Task',
] as const;
export type DataClass = (typeof DATA_CLASSES)[number];
