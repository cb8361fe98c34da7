import { buildRegistry, findAgreements } from '../../../src/event/registry';
import { decide } from '../../../src/policy/decide';
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
