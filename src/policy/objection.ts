import type { Consent } from '@medplum/fhirtypes';

/**
 * A Consent that records an objection: its provision denies. What the practice console lists as an objection, and
 * what the receipt of a consent event keeps of it (`inbox.records_objection`, migration 084).
 */
export function isObjection(consent: Consent): boolean {
  return consent.provision?.type === 'deny';
}
