import { getStatus, OperationOutcomeError } from '@medplum/core';
import {
  assertCanActForPractice,
  assertCanSeeMunicipality,
  assertRole,
  canActForPractice,
  canSeeMunicipality,
  createPrincipal,
  scopeProblem,
  type Principal,
  type Role,
} from '../../../src/access/principal';

function principal(overrides: Partial<Principal> = {}): Principal {
  return createPrincipal({
    id: 'api-key:test',
    role: 'practice',
    practices: ['01234567'],
    municipalities: [],
    via: 'api-key',
    ...overrides,
  });
}

describe('practice scope', () => {
  it.each([
    ['a listed practice', ['01234567'], '01234567', true],
    ['a practice that is not listed', ['01234567'], '76543210', false],
    ['any practice when the scope is empty', [], '01234567', false],
    ["any practice when the scope is '*'", ['*'], '76543210', true],
  ])('lets a principal act for %s: %p with %s gives %s', (_name, practices, agb, expected) => {
    expect(canActForPractice(principal({ role: 'auditor', practices }), agb)).toBe(expected);
  });

  it('throws a 403 when the principal may not act for the practice', () => {
    const p = principal();
    expect(() => assertCanActForPractice(p, '01234567')).not.toThrow();
    expect(() => assertCanActForPractice(p, '76543210')).toThrow(OperationOutcomeError);
  });
});

describe('municipality scope', () => {
  it.each([
    ['a listed municipality', ['GM0226'], 'GM0226', true],
    ['a municipality that is not listed', ['GM0226'], 'GM0363', false],
    ['any municipality when the scope is empty', [], 'GM0226', false],
    ["any municipality when the scope is '*'", ['*'], 'GM0363', true],
  ])('lets a principal see %s: %p with %s gives %s', (_name, municipalities, code, expected) => {
    expect(canSeeMunicipality(principal({ role: 'auditor', municipalities }), code)).toBe(expected);
  });

  it('throws a 403 when the principal may not see the municipality', () => {
    const p = principal({ role: 'municipality', practices: [], municipalities: ['GM0226'] });
    expect(() => assertCanSeeMunicipality(p, 'GM0226')).not.toThrow();
    expect(() => assertCanSeeMunicipality(p, 'GM0363')).toThrow(OperationOutcomeError);
  });
});

describe('assertRole', () => {
  it('passes a principal whose role is among the allowed ones', () => {
    expect(() => assertRole(principal({ role: 'auditor' }), 'auditor', 'operator')).not.toThrow();
  });

  it('throws a 403 OperationOutcomeError for any other role', () => {
    let thrown: unknown;
    try {
      assertRole(principal({ role: 'practice' }), 'auditor', 'operator');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OperationOutcomeError);
    expect(getStatus((thrown as OperationOutcomeError).outcome)).toBe(403);
  });
});

describe('scopeProblem', () => {
  it.each<[string, Role, string[], string[], string | undefined]>([
    ['a practice with one AGB code', 'practice', ['01234567'], [], undefined],
    ['a practice without AGB codes', 'practice', [], [], 'practices'],
    ["a practice with '*'", 'practice', ['*'], [], 'practices'],
    ["a municipality with '*' municipalities", 'municipality', [], ['*'], 'municipalities'],
    ['a municipality without codes', 'municipality', [], [], 'municipalities'],
    ["an auditor with '*' everywhere", 'auditor', ['*'], ['*'], undefined],
    ['an operator without any scope', 'operator', [], [], undefined],
  ])('judges %s', (_name, role, practices, municipalities, field) => {
    expect(scopeProblem(role, practices, municipalities)?.field).toBe(field);
  });
});

describe('createPrincipal', () => {
  it('returns a principal whose scope cannot be widened afterwards', () => {
    const p = principal();
    expect(() => (p.practices as string[]).push('76543210')).toThrow(TypeError);
    expect(() => {
      (p as { role: Role }).role = 'operator';
    }).toThrow(TypeError);
    expect(p).toEqual({
      id: 'api-key:test',
      role: 'practice',
      practices: ['01234567'],
      municipalities: [],
      via: 'api-key',
    });
  });
});
