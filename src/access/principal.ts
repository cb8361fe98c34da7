import { createHash } from 'node:crypto';
import { OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import { forbiddenField } from '../kernel/fhir/outcomes';

/** Who a caller is, as far as authorisation cares. See DOMAIN.md, "Users of jeugdbrug". */
export const ROLES = ['practice', 'municipality', 'auditor', 'operator'] as const;

/** The kind of caller: a GP practice's HIS, a municipality's system, an auditor, or an operator. */
export type Role = (typeof ROLES)[number];

/**
 * A scope entry meaning "every practice" or "every municipality". Only auditors and operators may hold it: a
 * practice or municipality system always acts for named tenants, so a wildcard there is a configuration mistake.
 */
export const ALL = '*';

/** Roles that may hold the `'*'` scope entry. */
const WILDCARD_ROLES: readonly Role[] = ['auditor', 'operator'];
/** Who may read consents: a municipality learns the decisions only by what is delivered to it. */
export const CONSENT_READERS: readonly Role[] = ['practice', 'auditor', 'operator'];

/**
 * An authenticated caller. Carries only identifiers of systems and tenants (key id or token subject, AGB codes,
 * CBS municipality codes), never personal data, so it may be logged and put in audit records as is.
 *
 * Scopes: an empty list means no practice (or municipality) at all; a list containing `'*'` means all of them.
 */
export interface Principal {
  /** Stable id, namespaced by how the caller authenticated (`api-key:<id>` or `jwt:<issuer>#<sub>`). */
  readonly id: string;
  readonly role: Role;
  /** AGB codes of the practices this caller acts for, or `['*']`. */
  readonly practices: readonly string[];
  /** CBS municipality codes (`GM0226`) this caller acts for or may see, or `['*']`. */
  readonly municipalities: readonly string[];
  readonly via: 'api-key' | 'jwt';
}

/** A practice scope: AGB codes of 8 digits, or `'*'`. */
export const practiceScopeSchema = z.array(z.string().regex(/^(\d{8}|\*)$/, "an AGB code of 8 digits, or '*'"));

/** A municipality scope: CBS codes such as `GM0226`, or `'*'`. */
export const municipalityScopeSchema = z.array(
  z.string().regex(/^(GM\d{4}|\*)$/, "a CBS municipality code such as GM0226, or '*'"),
);

/**
 * What is wrong with a role and scope combination, or undefined when it is sound. Shared by API keys and JWTs so
 * that both credentials grant exactly the same kinds of principal.
 */
export function scopeProblem(
  role: Role,
  practices: readonly string[],
  municipalities: readonly string[],
): { field: 'practices' | 'municipalities'; message: string } | undefined {
  if (!WILDCARD_ROLES.includes(role)) {
    if (practices.includes(ALL)) {
      return { field: 'practices', message: `'*' is only allowed for roles ${WILDCARD_ROLES.join(', ')}` };
    }
    if (municipalities.includes(ALL)) {
      return { field: 'municipalities', message: `'*' is only allowed for roles ${WILDCARD_ROLES.join(', ')}` };
    }
  }
  // A practice or municipality system without a tenant could do nothing; it is a mistake worth reporting early.
  if (role === 'practice' && practices.length === 0) {
    return { field: 'practices', message: 'a practice needs at least one AGB code' };
  }
  if (role === 'municipality' && municipalities.length === 0) {
    return { field: 'municipalities', message: 'a municipality needs at least one municipality code' };
  }
  return undefined;
}

/** Whether a value is one of the known roles. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Builds a frozen principal, so no later code can widen a caller's scope by mutating it. */
export function createPrincipal(p: Principal): Principal {
  return Object.freeze({
    id: p.id,
    role: p.role,
    practices: Object.freeze([...p.practices]),
    municipalities: Object.freeze([...p.municipalities]),
    via: p.via,
  });
}

function inScope(scope: readonly string[], value: string): boolean {
  return scope.includes(ALL) || scope.includes(value);
}

/**
 * Whether the principal is an auditor of municipalities alone (no practice in scope): the municipality's own privacy
 * officer. It sees what the municipality role sees, and asks for monitoring figures as a municipality does, so that
 * a key held by the municipality learns nothing the municipality itself is kept from (docs/audit.md, Scope).
 */
export function isMunicipalityAuditor(p: Principal): boolean {
  return p.role === 'auditor' && p.practices.length === 0 && p.municipalities.length > 0;
}

/** Whether the principal's practice scope covers this AGB code (scope only; check the role with `assertRole`). */
export function canActForPractice(p: Principal, agb: string): boolean {
  return inScope(p.practices, agb);
}

/** Whether the principal's municipality scope covers this CBS code (scope only; check the role with `assertRole`). */
export function canSeeMunicipality(p: Principal, code: string): boolean {
  return inScope(p.municipalities, code);
}

/**
 * Throws a 403 unless the principal has one of the roles. It names `Authorization`: the role of the credential sent
 * there decided, and the caller learns which roles the route is for.
 */
export function assertRole(p: Principal, ...roles: readonly Role[]): void {
  if (!roles.includes(p.role)) {
    throw new OperationOutcomeError(
      forbiddenField(`This is for the roles ${roles.join(', ')}; the caller has the role ${p.role}`, 'Authorization'),
    );
  }
}

/** Throws a 403 unless the principal may act for this practice. */
export function assertCanActForPractice(p: Principal, agb: string): void {
  if (!canActForPractice(p, agb)) {
    throw new OperationOutcomeError(forbiddenField(`The caller does not act for practice ${agb}`, 'Authorization'));
  }
}

/** Throws a 403 naming `expression` unless the principal may see this municipality. */
export function assertCanSeeMunicipality(p: Principal, code: string, expression = 'municipality'): void {
  if (!canSeeMunicipality(p, code)) {
    throw new OperationOutcomeError(forbiddenField(`The caller does not act for municipality ${code}`, expression));
  }
}

/**
 * A principal's id as logs show it: an API key's as is (the operator chose it), a JWT's with its subject replaced by
 * a pseudonym (`sub-` and 16 hex digits of its SHA-256), the same for the same subject. Identity providers often use
 * an e-mail address or a name as `sub`, which is personal data and must not reach stdout; the audit trail and the
 * console keep the full id. The hash is not keyed: whoever guesses a subject can confirm it, as from the audit.
 */
export function loggedPrincipalId(principal: Pick<Principal, 'id' | 'via'>): string {
  if (principal.via !== 'jwt') {
    return principal.id;
  }
  const at = principal.id.lastIndexOf('#');
  const sub = principal.id.slice(at + 1);
  return `${principal.id.slice(0, at + 1)}sub-${createHash('sha256').update(sub).digest('hex').slice(0, 16)}`;
}
