import { OperationOutcomeError } from '@medplum/core';
import { forbiddenField } from '../kernel/fhir/outcomes';
import type { Request, Response } from 'express';
import type { AuditActor } from '../audit/audit-events';
import { canActForPractice, type Principal } from '../access/principal';
import { tryGetPrincipal } from '../access/authenticate';

/**
 * The actors made so far, per principal and then per client address and whether the request is the console's. A
 * principal's requests from one address are one actor, shared by all of them: the agents of its AuditEvents are then
 * built, frozen and serialised once (audit-events.ts keeps them per actor, chain.ts the canonical text of frozen
 * parts), not again for every read audited. Weakly keyed: a principal the key store replaced takes its actors along.
 */
const actorsByPrincipal = new WeakMap<Principal, Map<string, AuditActor>>();

/** The most addresses one principal's actors are kept for; beyond that the map starts again. */
const MAX_ACTORS_PER_PRINCIPAL = 1_000;

/** The audit actor of a request: the authenticated principal, whom it acts for, and the client address. */
export function actorOf(req: Request, res: Response): AuditActor {
  const p = tryGetPrincipal(res);
  // A person signs in to the console; on the API a key or token is a system's (a HIS, an application).
  const person = /^\/console(?:[/?]|$)/.test(req.originalUrl);
  const accessPoint = req.ip ?? 'unknown';
  if (!p) {
    return newActor(undefined, person, accessPoint);
  }
  let actors = actorsByPrincipal.get(p);
  if (!actors) {
    actors = new Map();
    actorsByPrincipal.set(p, actors);
  }
  const key = `${person ? 'c' : 'a'}${accessPoint}`;
  let actor = actors.get(key);
  if (!actor) {
    if (actors.size >= MAX_ACTORS_PER_PRINCIPAL) {
      actors.clear();
    }
    actor = newActor(p, person, accessPoint);
    actors.set(key, actor);
  }
  return actor;
}

function newActor(p: Principal | undefined, person: boolean, accessPoint: string): AuditActor {
  const onBehalfOf =
    p?.role === 'practice' && p.practices[0]
      ? { kind: 'practice' as const, code: p.practices[0] }
      : p?.role === 'municipality' && p.municipalities[0]
        ? { kind: 'municipality' as const, code: p.municipalities[0] }
        : undefined;
  // A key for more than one municipality acts for each: every one is a responsible party of what it does.
  const others = p?.role === 'municipality' ? p.municipalities.slice(1).filter((m) => m !== '*') : [];
  // Frozen: one actor stands for many requests.
  return Object.freeze({
    userId: p?.id ?? 'anonymous',
    role: p?.role,
    person,
    onBehalfOf: onBehalfOf && Object.freeze(onBehalfOf),
    ...(others.length ? { alsoOnBehalfOf: Object.freeze(others) } : {}),
    accessPoint,
  });
}

/**
 * Throws 403 unless the principal may act for (send or read events of) this practice; the outcome names the field
 * that decided it (`practice.agb` of an event, by default).
 */
export function assertPracticeAccess(res: Response, practiceAgb: string, field = 'practice.agb'): void {
  const p = tryGetPrincipal(res);
  if (p && !canActForPractice(p, practiceAgb)) {
    throw new OperationOutcomeError(
      forbiddenField('The practice is not among the practices this caller acts for', field),
    );
  }
}
