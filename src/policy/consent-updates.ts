import type { Consent, Extension } from '@medplum/fhirtypes';
import { CONSENT_WITHDRAWN_BY_EXTENSION } from '../kernel/fhir/systems';
import { withdrawnParties } from './compiled-consent';

/**
 * How a consent event changes what the consent registry holds for that consent (same deterministic id):
 *
 * - recorded (active): replaces what was there, as a corrected re-send does;
 * - entered-in-error: the stored consent is kept as it was but voided, so it no longer counts and decisions can say
 *   it was recorded in error rather than withdrawn; a later withdrawal does not revive it;
 * - withdrawn (inactive): a withdrawal by some of the parties of a joint consent removes only their permission
 *   (they are listed in an extension, the consent stays active for the others); a withdrawal by every party, or
 *   one that names nobody, makes the whole consent inactive. What was consented to is kept either way, so a
 *   decision can say which consent was withdrawn.
 *
 * Pure: the event store reads the stored consent, calls this, and writes the result.
 */
export function applyConsentUpdate(stored: Consent | undefined, update: Consent): Consent {
  if (!stored) {
    return update;
  }
  switch (update.status) {
    case 'entered-in-error':
      return { ...stored, status: 'entered-in-error' };
    case 'inactive':
      return withdraw(stored, update);
    case 'draft':
    case 'proposed':
    case 'active':
    case 'rejected':
    case undefined:
      return update;
  }
}

function withdraw(stored: Consent, withdrawal: Consent): Consent {
  if (stored.status === 'entered-in-error' || stored.status === 'inactive') {
    return stored;
  }
  const parties = (stored.performer ?? []).map((p) => p.reference).filter((r): r is string => r !== undefined);
  const named = (withdrawal.performer ?? []).map((p) => p.reference).filter((r): r is string => r !== undefined);
  const ofThisConsent = named.filter((r) => parties.includes(r));
  const withdrawn = [...new Set([...withdrawnParties(stored), ...ofThisConsent])];
  // Naming nobody, or only people who were no party to it, withdraws the whole consent: when in doubt, share less.
  const everyone = ofThisConsent.length === 0 || parties.every((r) => withdrawn.includes(r));
  const others = (stored.extension ?? []).filter((e) => e.url !== CONSENT_WITHDRAWN_BY_EXTENSION);
  const marks: Extension[] = withdrawn.map((reference) => ({
    url: CONSENT_WITHDRAWN_BY_EXTENSION,
    valueReference: { reference },
  }));
  const extension = [...others, ...marks];
  return {
    ...stored,
    status: everyone ? 'inactive' : 'active',
    ...(extension.length > 0 ? { extension } : {}),
  };
}
