import { OperationOutcomeError } from '@medplum/core';
import { forbiddenField } from '../kernel/fhir/outcomes';
import type { Request, Response } from 'express';
import type { AuditActor } from '../audit/audit-events';
import { canActForPractice } from '../access/principal';
import { tryGetPrincipal } from '../access/authenticate';

/** The audit actor of a request: the authenticated principal, whom it acts for, and the client address. */
export function actorOf(req: Request, res: Response): AuditActor {
  const p = tryGetPrincipal(res);
  const onBehalfOf =
    p?.role === 'practice' && p.practices[0]
      ? { kind: 'practice' as const, code: p.practices[0] }
      : p?.role === 'municipality' && p.municipalities[0]
        ? { kind: 'municipality' as const, code: p.municipalities[0] }
        : undefined;
  return {
    userId: p?.id ?? 'anonymous',
    role: p?.role,
    // A person signs in to the console; on the API a key or token is a system's (a HIS, an application).
    person: /^\/console(?:[/?]|$)/.test(req.originalUrl),
    onBehalfOf,
    accessPoint: req.ip ?? 'unknown',
  };
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
