import { reasonText } from '../../../src/event/decide';
import { decisionText, reasonCodesOfStateReason } from '../../../src/policy/reason-words';
import type { Decision, DecisionReason } from '../../../src/policy/types';

/** A deny for want of the consent of `n` guardians, each a reason of its own, as decide.ts makes it. */
function missingGuardians(n: number): Decision {
  const reasons: DecisionReason[] = Array.from({ length: n }, (_, i) => ({
    code: 'consent-missing-guardian',
    detail: `no consent from RelatedPerson/g${i}`,
    people: [{ reference: `RelatedPerson/g${i}`, role: 'guardian', hisId: `g${i}` }],
  }));
  return {
    effect: 'deny',
    reasons: [{ code: 'consent-missing-child', detail: 'no consent from the child' }, ...reasons],
    agreement: { id: 'a', version: 1 },
    consentIds: [],
    obligations: { allowedFields: {} },
  };
}

describe('a decision in words: each reason code once, however many people it is about', () => {
  it('names each code once in the audit text (reasonText), in the order first given', () => {
    expect(reasonText(missingGuardians(150))).toBe('consent-missing-child, consent-missing-guardian');
  });

  it('names each code once in the state text, and every person it is about once, in one phrase per code', () => {
    const text = decisionText(missingGuardians(3));
    expect(text).toBe(
      'consent-missing-child, consent-missing-guardian: no consent from the person who must consent; ' +
        'no consent from guardian g0 and guardian g1 and guardian g2 (under Agreement a v1)',
    );
  });

  it('says a reason that repeats word for word once', () => {
    const d = missingGuardians(0);
    const twice: Decision = { ...d, reasons: [d.reasons[0]!, d.reasons[0]!] };
    expect(decisionText(twice)).toBe(
      'consent-missing-child: no consent from the person who must consent (under Agreement a v1)',
    );
  });
});

describe('reasonCodesOfStateReason', () => {
  it.each([
    [
      'consent-missing-guardian, consent-missing-child: no consent from …',
      ['consent-missing-guardian', 'consent-missing-child'],
    ],
    ['decided again: consent-missing-guardian: no consent from guardian g-6', ['consent-missing-guardian']],
    ['denied at delivery: consent-withdrawn: consent from the child c-1 was withdrawn', ['consent-withdrawn']],
    [
      'referral-not-disclosed: referral r-3 was never sent to GM0226: there is nothing to cancel',
      ['referral-not-disclosed'],
    ],
    ['gm0226: HTTP 200', []],
    ['no destination configured for GM0226', []],
    [null, []],
  ])('reads %s', (reason, codes) => {
    expect(reasonCodesOfStateReason(reason)).toEqual(codes);
  });
});
