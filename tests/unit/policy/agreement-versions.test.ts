import { buildRegistry, findAgreements } from '../../../src/event/registry';
import { decide } from '../../../src/policy/decide';
import { agreementsInForceDuring } from '../../../src/policy/select-agreement';
import type { Agreement } from '../../../src/policy/agreement';
import { AT, buildAgreement, buildFacts, buildRequest, MUNICIPALITY, PRACTICE_AGB } from './builders';

/** The versions an operator has loaded, as the pipeline finds them in the registry and hands them to decide(). */
function decideWith(agreements: Agreement[]) {
  const registry = buildRegistry({ agreements, destinations: [] });
  return decide(
    buildRequest({ at: AT }),
    buildFacts({ agreements: findAgreements(registry, PRACTICE_AGB, MUNICIPALITY) }),
  );
}

describe('the version of an agreement in force decides, whatever else is loaded', () => {
  const v1 = buildAgreement({ version: 1, legalBasis: 'public-task' });

  it.each<[string, Partial<Agreement>]>([
    ['a draft v2', { status: 'draft' }],
    ['a v2 that takes effect next year', { validFrom: '2026-01-01' }],
    ['a draft v2 that would also take effect next year', { status: 'draft', validFrom: '2026-01-01' }],
  ])('decides under v1 beside %s', (_name, v2) => {
    const decision = decideWith([
      v1,
      buildAgreement({ ...v2, version: 2, legalBasis: 'public-task', purposes: ['monitoring'] }),
    ]);
    expect(decision.effect).toBe('permit');
    expect(decision.agreement).toEqual({ id: v1.id, version: 1 });
  });

  it('decides under v1 beside a draft v2 and a future v3 together', () => {
    const decision = decideWith([
      buildAgreement({ version: 3, validFrom: '2030-01-01', validTo: undefined, purposes: ['monitoring'] }),
      v1,
      buildAgreement({ version: 2, status: 'draft', purposes: ['monitoring'] }),
    ]);
    expect(decision.agreement).toEqual({ id: v1.id, version: 1 });
    expect(decision.reasons[0]?.detail).toContain(`Agreement ${v1.id} v1`);
  });

  it('uses v2 from the day it takes effect', () => {
    const decision = decideWith([
      v1,
      buildAgreement({ version: 2, validFrom: '2025-06-15', legalBasis: 'public-task' }),
    ]);
    expect(decision.agreement).toEqual({ id: v1.id, version: 2 });
  });

  it('stops sharing when a later version in force suspends the agreement', () => {
    const decision = decideWith([v1, buildAgreement({ version: 2, status: 'suspended', validFrom: '2025-06-01' })]);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toEqual(['agreement-not-active']);
  });
});

describe('the agreements a report of a period rests on: in force with purpose monitoring on one day of it at least', () => {
  // v1 runs 2025-01-01 to 2026-12-31 (the builder's); v2, where a row adds one, takes effect on its own validFrom.
  const v1 = buildAgreement({ purposes: ['monitoring'] });
  const during = (agreements: Agreement[], first: string, last: string) =>
    agreementsInForceDuring(agreements, MUNICIPALITY, 'monitoring', first, last).map((a) => `v${a.version}`);

  it.each<[string, Agreement[], string, string, string[]]>([
    ['a period inside the agreement', [v1], '2026-07-01', '2026-09-30', ['v1']],
    ['a period after it ended', [v1], '2030-01-01', '2030-03-31', []],
    ['a period before it took effect', [v1], '2024-01-01', '2024-12-31', []],
    ['a period whose last day is its first', [v1], '2024-10-01', '2025-01-01', ['v1']],
    ['a period whose first day is its last', [v1], '2026-12-31', '2027-03-31', ['v1']],
    ['a period that begins the day after it ended', [v1], '2027-01-01', '2027-03-31', []],
    [
      'a draft, never agreed',
      [buildAgreement({ status: 'draft', purposes: ['monitoring'] })],
      '2026-01-01',
      '2026-12-31',
      [],
    ],
    ['an agreement without purpose monitoring', [buildAgreement()], '2026-01-01', '2026-12-31', []],
    [
      'another municipality',
      [buildAgreement({ purposes: ['monitoring'], municipality: { code: 'GM0344', name: 'Lingewaard' } })],
      '2026-01-01',
      '2026-12-31',
      [],
    ],
    [
      'a period in which a v2 suspends it',
      [v1, buildAgreement({ version: 2, status: 'suspended', validFrom: '2026-08-01', purposes: ['monitoring'] })],
      '2026-07-01',
      '2026-09-30',
      ['v1'],
    ],
    [
      'a period that begins once a v2 suspended it',
      [v1, buildAgreement({ version: 2, status: 'suspended', validFrom: '2026-08-01', purposes: ['monitoring'] })],
      '2026-08-01',
      '2026-09-30',
      [],
    ],
    [
      'a period in which a suspension is lifted by a v3',
      [
        v1,
        buildAgreement({ version: 2, status: 'suspended', validFrom: '2026-03-01', purposes: ['monitoring'] }),
        buildAgreement({ version: 3, validFrom: '2026-09-15', purposes: ['monitoring'] }),
      ],
      '2026-07-01',
      '2026-09-30',
      ['v3'],
    ],
    [
      'a period in which v1 gives way to a v2 that drops monitoring',
      [v1, buildAgreement({ version: 2, validFrom: '2026-08-01' })],
      '2026-07-01',
      '2026-09-30',
      ['v1'],
    ],
  ])('%s', (_name, agreements, first, last, expected) => {
    expect(during(agreements, first, last)).toEqual(expected);
  });
});
