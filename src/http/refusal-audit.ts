import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { AUDIT_TYPES } from '../audit/balp';
import { SYSTEM_TENANT } from '../audit/scope';
import type { PipelineContext } from '../pipeline/context';
import { REFUSAL_AUDITED } from './audit-router';
import { tryGetPrincipal } from './auth/middleware';

/**
 * Records a refused request (403) as a Security Alert AuditEvent with outcome 4, naming the principal, the route
 * and the client address, in the chain of the principal's practice (or the system chain). Query strings are left
 * out: they may hold a BSN.
 */
export async function auditRefusal(ctx: PipelineContext, req: Request, res: Response): Promise<void> {
  const p = tryGetPrincipal(res);
  // Routes that record their own, richer refusal (the audit routes) mark the response so it is not logged twice.
  if (!p || res.locals[REFUSAL_AUDITED] === true) {
    return;
  }
  const tenant = p.role === 'practice' && p.practices[0] && p.practices[0] !== '*' ? p.practices[0] : SYSTEM_TENANT;
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id: randomUUID(),
    type: AUDIT_TYPES.securityAlert,
    subtype: [{ system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType', code: 'AuthZ-Role' }],
    action: 'E',
    recorded: new Date().toISOString(),
    outcome: '4',
    outcomeDesc: `refused ${req.method} ${req.baseUrl}${req.path}`.slice(0, 300),
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser' }],
        },
        who: { identifier: { system: 'https://jeugdbrug.nl/principal', value: p.id } },
        requestor: true,
        network: { address: req.ip ?? 'unknown', type: '2' },
      },
    ],
    source: { site: 'jeugdbrug', observer: { display: 'jeugdbrug' } },
    entity: [{ what: { display: `${req.method} ${req.baseUrl}${req.path}`.slice(0, 300) } }],
  };
  await ctx.audit.append(tenant, event);
}
