import type { Consent, Extension } from '@medplum/fhirtypes';
import { CONSENT_WITHDRAWN_AT_EXTENSION, CONSENT_WITHDRAWN_BY_EXTENSION } from '../kernel/fhir/systems';
import { withdrawalRecordedAt, withdrawnParties } from './compiled-consent';

/**
 * How a consent event changes what the consent registry holds for that consent (same deterministic id):
 *
 * - recorded (active): replaces what was there, as a corrected re-send does; but it never revives a voided consent,
 *   nor one withdrawn at or after the moment it is dated: a recording that arrives late (after its withdrawal) or is
 *   sent again (an HIS re-sending its consents) gets the withdrawal applied again. Only a recording dated after the
 *   withdrawal replaces it: the consent given anew;
 * - entered-in-error: the stored consent is kept as it was but voided, so it no longer counts and decisions can say
 *   it was recorded in error rather than withdrawn; nothing revives it;
 * - withdrawn (inactive): a withdrawal by some of the parties of a joint consent removes only their permission
 *   (they are listed in an extension, the consent stays active for the others: a second guardian's permission, or
 *   the child's alone once 16, may still be enough); a withdrawal by every party, one that names nobody, or one by
 *   someone who gave no part of it (a parent withdrawing a 16-year-old's own consent) makes the whole consent
 *   inactive: when in doubt, share less. Whoever it names is listed as withdrawing, party to it or not, never the
 *   child in their stead. What was consented to is kept either way, so a decision can say which consent was
 *   withdrawn.
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
    case 'active':
    case undefined:
      return record(stored, update);
    case 'draft':
    case 'proposed':
    case 'rejected':
      return update;
  }
}

/** A recording over what is stored: see `applyConsentUpdate`. */
function record(stored: Consent, update: Consent): Consent {
  if (stored.status === 'entered-in-error') {
    return stored;
  }
  const withdrawnAt = withdrawnAtOf(stored);
  if (withdrawnAt === undefined) {
    return update;
  }
  if (withdrawnAt !== null && update.dateTime !== undefined && update.dateTime > withdrawnAt) {
    return update;
  }
  // The withdrawal is the newer word: those it named stay withdrawn (all of them, when it named no one). A withdrawal
  // stored before its consent arrived is the stored consent itself, inactive, with its performers and no marks.
  const marked = withdrawnParties(stored);
  const named = marked.length > 0 ? marked : stored.status === 'inactive' ? referencesOf(stored) : [];
  return withdraw(
    { ...update, extension: update.extension?.filter((e) => e.url !== CONSENT_WITHDRAWN_BY_EXTENSION) },
    {
      ...stored,
      status: 'inactive',
      dateTime: withdrawnAt ?? undefined,
      performer: named.map((reference) => ({ reference })),
    },
  );
}

/**
 * When the stored consent was withdrawn: as recorded with the withdrawal, else (stored before that was kept) the
 * consent's own moment, which a re-sent recording does not pass; null when that is not known either (nothing then
 * revives it: when in doubt, share less). Undefined when nothing of it is withdrawn.
 */
function withdrawnAtOf(stored: Consent): string | null | undefined {
  const marked = withdrawalRecordedAt(stored);
  if (marked !== undefined) {
    return marked;
  }
  return stored.status === 'inactive' || withdrawnParties(stored).length > 0 ? (stored.dateTime ?? null) : undefined;
}

/**
 * Whom a withdrawal names who gave no part of the stored consent (a guardian withdrawing a 16-year-old's own
 * consent): it still withdraws the whole consent, and the practice is told (a warning on the receipt).
 */
export function withdrawersNotGivers(stored: Consent | undefined, update: Consent): string[] {
  if (!stored || update.status !== 'inactive') {
    return [];
  }
  const parties = referencesOf(stored);
  return referencesOf(update).filter((r) => !parties.includes(r));
}

function referencesOf(c: Consent): string[] {
  return (c.performer ?? []).map((p) => p.reference).filter((r): r is string => r !== undefined);
}

function withdraw(stored: Consent, withdrawal: Consent): Consent {
  if (stored.status === 'entered-in-error' || stored.status === 'inactive') {
    return stored;
  }
  const parties = referencesOf(stored);
  const named = referencesOf(withdrawal);
  const ofThisConsent = named.filter((r) => parties.includes(r));
  const withdrawn = [...new Set([...withdrawnParties(stored), ...named])];
  // Naming nobody, or only people who were no party to it, withdraws the whole consent: when in doubt, share less.
  const everyone = ofThisConsent.length === 0 || parties.every((r) => withdrawn.includes(r));
  const others = (stored.extension ?? []).filter(
    (e) => e.url !== CONSENT_WITHDRAWN_BY_EXTENSION && e.url !== CONSENT_WITHDRAWN_AT_EXTENSION,
  );
  const marks: Extension[] = withdrawn.map((reference) => ({
    url: CONSENT_WITHDRAWN_BY_EXTENSION,
    valueReference: { reference },
  }));
  // The latest withdrawal's moment (else the consent's own): a recording dated before it cannot undo it.
  const at = [withdrawal.dateTime, withdrawnAtOf(stored), stored.dateTime]
    .filter((d): d is string => typeof d === 'string' && d !== '')
    .sort()
    .at(-1);
  const extension = [...others, ...marks, ...(at ? [{ url: CONSENT_WITHDRAWN_AT_EXTENSION, valueDateTime: at }] : [])];
  return {
    ...stored,
    status: everyone ? 'inactive' : 'active',
    ...(extension.length > 0 ? { extension } : {}),
  };
}
