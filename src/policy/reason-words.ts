import {
  DECISION_REASON_CODES,
  type Decision,
  type DecisionReason,
  type DecisionReasonCode,
  type PersonRef,
} from './types';

/**
 * A decision in words a practice can act on, naming people by the practice's own ids as its HIS sent them:
 * "consent-missing-guardian: no consent from guardian g2 (father, has authority)". The reason codes come first and
 * stay as they are, so anything matching on codes keeps working. Ids, codes and relationships only: never a name,
 * BSN or birth date.
 */
export function decisionText(decision: Decision): string {
  const codes = distinctReasonCodes(decision).join(', ');
  const words = [...new Set(mergedReasons(decision.reasons).map((r) => reasonWords(r, decision.agreement)))].join('; ');
  const under =
    decision.effect === 'deny' && decision.agreement
      ? ` (under Agreement ${decision.agreement.id} v${decision.agreement.version})`
      : '';
  return `${codes}: ${words}${under}`;
}

/**
 * The decision's reason codes, each once, in the order first given: a deny for want of the consent of 150 guardians
 * is one `consent-missing-guardian` (the people it is about are in the reasons themselves and in the words).
 */
export function distinctReasonCodes(decision: Decision): DecisionReason['code'][] {
  return [...new Set(decision.reasons.map((r) => r.code))];
}

/**
 * Reasons of one code (and the same recorded-in-error note) as one, about all their people, each once: said in one
 * phrase ("no consent from guardian g1 and guardian g2") rather than once per person.
 */
function mergedReasons(reasons: readonly DecisionReason[]): DecisionReason[] {
  const byKey = new Map<string, DecisionReason>();
  for (const r of reasons) {
    const key = `${r.code}${r.recordedInError?.length ? ' in error' : ''}`;
    const earlier = byKey.get(key);
    if (!earlier) {
      byKey.set(key, r);
      continue;
    }
    const people = [...(earlier.people ?? [])];
    for (const p of r.people ?? []) {
      if (!people.some((q) => q.reference === p.reference)) {
        people.push(p);
      }
    }
    const details = earlier.detail.split('; ');
    byKey.set(key, {
      ...earlier,
      detail: details.includes(r.detail) ? earlier.detail : `${earlier.detail}; ${r.detail}`,
      ...(people.length > 0 ? { people } : {}),
      ...(earlier.recordedInError || r.recordedInError
        ? { recordedInError: [...new Set([...(earlier.recordedInError ?? []), ...(r.recordedInError ?? [])])] }
        : {}),
    });
  }
  return [...byKey.values()];
}

/** One person as the practice knows them: "guardian g2 (father, has authority)", "the child pat-1001". */
function personWords(p: PersonRef): string {
  if (p.role === 'child') {
    if (p.hisId !== undefined) {
      return `the child ${p.hisId}`;
    }
    return p.reference !== undefined ? `the child (${p.reference})` : 'the child';
  }
  const traits = [
    ...(p.relationship !== undefined ? [p.relationship] : []),
    ...(p.hasAuthority === undefined ? [] : [p.hasAuthority ? 'has authority' : 'no authority']),
  ];
  const id = p.hisId ?? p.reference ?? '';
  return `guardian ${id}${traits.length > 0 ? ` (${traits.join(', ')})` : ''}`;
}

function peopleWords(reason: DecisionReason): string {
  const people = reason.people ?? [];
  return people.length > 0 ? people.map(personWords).join(' and ') : 'the person who must consent';
}

/** One reason in words. Agreement reasons already say it in theirs, naming the agreement's version. */
function reasonWords(reason: DecisionReason, agreement?: Decision['agreement']): string {
  const who = peopleWords(reason);
  switch (reason.code) {
    case 'consent-missing-child':
    case 'consent-missing-guardian':
      return reason.recordedInError?.length
        ? `no consent from ${who}: the consent was recorded in error`
        : `no consent from ${who}`;
    case 'consent-withdrawn':
      return `consent from ${who} was withdrawn`;
    case 'consent-denied':
      return `${who} objects`;
    case 'consent-expired':
      return `consent from ${who} expired before the day of disclosure`;
    case 'consent-not-yet-valid':
      return `consent from ${who} is not yet valid on the day of disclosure`;
    case 'actor-not-covered':
      return `consent from ${who} does not name this municipality as recipient`;
    case 'consent-purpose-not-covered':
      return `consent from ${who} does not cover this purpose`;
    case 'consent-class-not-covered':
      return `consent from ${who} does not cover every data class sent`;
    case 'permitted-by-consent': {
      const under = agreement ? `Agreement ${agreement.id} v${agreement.version}` : 'the agreement';
      return `permitted under ${under} with the consent of ${who}`;
    }
    case 'no-agreement':
    case 'agreement-not-active':
    case 'agreement-not-yet-valid':
    case 'agreement-expired':
    case 'purpose-not-covered':
    case 'class-not-covered':
    case 'birth-date-unknown':
    case 'no-guardian-with-authority':
    case 'permitted-by-legal-basis':
    case 'permitted-as-cancellation':
    case 'permitted-as-referral-status':
    case 'referral-not-disclosed':
    case 'referral-unknown':
      return reason.detail;
  }
}

/** What a stage puts before a decision's text in a state reason (deliver.ts, redecide.ts). */
const STATE_REASON_PREFIXES = ['denied at delivery: ', 'decided again: '];

/**
 * The policy's reason codes a state reason starts with (`decisionText`, behind a stage's prefix), for a HIS to act on
 * without parsing text (README, "Why an event was denied"); empty for a reason that is no decision's.
 */
export function reasonCodesOfStateReason(reason: string | null | undefined): DecisionReasonCode[] {
  if (!reason) {
    return [];
  }
  const prefix = STATE_REASON_PREFIXES.find((p) => reason.startsWith(p));
  const rest = prefix === undefined ? reason : reason.slice(prefix.length);
  const colon = rest.indexOf(': ');
  const codes = (colon < 0 ? rest : rest.slice(0, colon)).split(', ');
  const known: readonly string[] = DECISION_REASON_CODES;
  return codes.every((c) => known.includes(c)) ? (codes as DecisionReasonCode[]) : [];
}
