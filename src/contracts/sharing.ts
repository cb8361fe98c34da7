/**
 * The vocabulary of sharing that the HIS dialects, the policy engine and the agreements have in common: why data is
 * shared (purposes) and what can be shared (data classes, by FHIR resource type).
 */

export const PURPOSES = ['referral', 'contact-registration', 'monitoring'] as const;
export type Purpose = (typeof PURPOSES)[number];

/**
 * The purposes a child's own data is disclosed under. `monitoring` is not one: it is the anonymised figures
 * (DOMAIN.md), so under it a child's data is only counted, in the reporting store without identity, and only the
 * aggregate leaves. A consent or objection for `monitoring` therefore decides whether a child counts, never what a
 * municipality receives about the child.
 */
export const DISCLOSURE_PURPOSES = ['referral', 'contact-registration'] as const satisfies readonly Purpose[];
export type DisclosurePurpose = (typeof DISCLOSURE_PURPOSES)[number];

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

/**
 * Which way data goes: from the practice's HIS to the municipality (the default), or from the municipality's system
 * to the practice's HIS, for trajectories a municipality-employed professional registers there.
 */
export type SharingDirection = 'to-municipality' | 'to-practice';
