import { decide } from '../../../src/policy/decide';
import { selectAgreements } from '../../../src/policy/select-agreement';
import type { Agreement } from '../../../src/policy/agreement';
import type { DecisionRequest } from '../../../src/policy/types';
import { buildAgreement, buildRequest, DAY } from './builders';
import { randomCases } from './random-facts';

/**
 * selectAgreements keeps the last fitting selection made from a lone agreement and gives it again for the same day,
 * purpose, direction and classes. These pin that it is given only then: decisions on agreement objects shared from
 * case to case (so a kept selection is there to be wrongly reused) equal those on fresh copies (nothing kept).
 */
const MOMENTS = ['2025-06-16T08:00:00Z', '2027-01-01T08:00:00Z', '2025-06-15T08:00:00Z'];

describe('the selection kept with a lone agreement', () => {
  it('decides exactly as a fresh copy of the agreement would, while day, purpose, classes and parties change', () => {
    const shared = new Map<string, Agreement>();
    const sharedOf = (a: Agreement): Agreement => {
      const key = JSON.stringify(a);
      const known = shared.get(key);
      if (known !== undefined) {
        return known;
      }
      shared.set(key, a);
      return a;
    };
    const directions = [undefined, 'to-municipality', 'to-practice'] as const;
    const differing: string[] = [];
    let cases = 0;
    for (const { request, facts } of randomCases(31, 600)) {
      // Moments on either side of the agreements' validFrom (2025-06-16) and validTo (2026-12-31) as well.
      const at = cases % 5 < 2 ? request.at : new Date(MOMENTS[cases % 3] as string);
      const asked: DecisionRequest = { ...request, at, direction: directions[cases % 3] };
      const viaShared = JSON.stringify(decide(asked, { ...facts, agreements: facts.agreements.map(sharedOf) }));
      const fresh = JSON.stringify(
        decide(asked, { ...facts, agreements: facts.agreements.map((a) => structuredClone(a)) }),
      );
      if (viaShared !== fresh) {
        differing.push(`case ${cases}: ${viaShared} instead of ${fresh}`);
      }
      cases++;
    }
    expect(differing).toEqual([]);
    expect(cases).toBe(600);
    // Few enough agreement objects that most decisions met a kept selection.
    expect(shared.size).toBeLessThan(10);
  });

  it('is given again only for the same day, purpose, direction and classes', () => {
    const agreement = buildAgreement();
    const request = buildRequest();
    const classes = request.dataClasses;
    const kept = selectAgreements([agreement], request, classes, DAY);
    expect(kept.fitting).toEqual([agreement]);
    // The same again, classes in an equal list: the kept selection itself.
    expect(selectAgreements([agreement], request, ['Patient', 'ServiceRequest'], DAY)).toBe(kept);
    const differently: [DecisionRequest, readonly string[], string, string][] = [
      [request, classes, '2027-01-01', 'agreement-expired'],
      [request, classes, '2024-12-31', 'agreement-not-yet-valid'],
      [{ ...request, purpose: 'monitoring' }, classes, DAY, 'purpose-not-covered'],
      [{ ...request, direction: 'to-practice' }, classes, DAY, 'class-not-covered'],
      [{ ...request, municipalityCode: 'GM0344' }, classes, DAY, 'no-agreement'],
      [{ ...request, practiceAgb: '99999999' }, classes, DAY, 'no-agreement'],
      [request, ['Patient', 'Consent'], DAY, 'class-not-covered'],
    ];
    for (const [asked, askedClasses, day, code] of differently) {
      // Kept for the request as made, then asked otherwise: never the kept selection.
      expect(selectAgreements([agreement], request, classes, DAY)).toBe(kept);
      const other = selectAgreements([agreement], asked, askedClasses as DecisionRequest['dataClasses'], day);
      expect([other.fitting, other.reason.code]).toEqual([[], code]);
    }
  });
});
