import type { Decision, DecisionReason, PersonRef } from './types';

/**
 * A decision in words a practice can act on, naming people by the practice's own ids as its HIS sent them:
 * "consent-missing-guardian: no consent from guardian g2 (father, has authority)". The reason codes come first and
 * stay as they are, so anything matching on codes keeps working. Ids, codes and relationships only: never a name,
 * BSN or birth date.
 */
export function decisionText(decision: Decision): string {
  const codes = decision.reasons.map((r) => r.code).join(', ');
  const words = decision.reasons.map((r) => reasonWords(r, decision.agreement)).join('; ');
  const under =
    decision.effect === 'deny' && decision.agreement
      ? ` (under Agreement ${decision.agreement.id} v${decision.agreement.version})`
      : '';
  return `${codes}: ${words}${under}`;
}

/** One person as the practice knows them: "guardian g2 (father, has authority)", "the child pat-1001". */
function personWords(p: PersonRef): string {
  if (p.role === 'child') {
    return p.hisId !== undefined ? `the child ${p.hisId}` : `the child (${p.reference})`;
  }
  const traits = [
    ...(p.relationship !== undefined ? [p.relationship] : []),
    ...(p.hasAuthority === undefined ? [] : [p.hasAuthority ? 'has authority' : 'no authority']),
  ];
  const id = p.hisId ?? p.reference;
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
      return reason.detail;
  }
}
