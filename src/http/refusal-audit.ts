import type { Request, Response } from 'express';
import { isUuid } from '../kernel/fhir/ids';
import { AUDIT_SUBTYPES, AUDIT_TYPES, buildAuditEvent } from '../audit/audit-events';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import type { PipelineContext } from '../event/context';
import { auditEventRead, REFUSAL_AUDITED } from './audit-read';
import { tryGetSealedEvent } from '../event/event-store';
import { tryGetPrincipal } from '../access/authenticate';
import { actorOf } from './request-context';

/** The route that names one HIS event by id. */
const EVENT_ROUTE = /^\/his\/v1\/events\/([^/]+)$/;

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
  const route = `${req.method} ${req.baseUrl}${req.path}`.slice(0, 300);
  // A refused read of one event goes where its allowed reads go: the event's practice chain, naming the event and
  // the child, so the practice's log and a search by the event or the child show the attempt.
  const eventId = EVENT_ROUTE.exec(`${req.baseUrl}${req.path}`)?.[1];
  const row = req.method === 'GET' && eventId && isUuid(eventId) ? await tryGetSealedEvent(ctx.db, eventId) : undefined;
  if (row) {
    await auditEventRead(ctx, req, res, row, undefined, `refused ${route}`);
    return;
  }
  const tenant = p.role === 'practice' && p.practices[0] && p.practices[0] !== '*' ? p.practices[0] : SYSTEM_TENANT;
  const event = buildAuditEvent({
    actor: actorOf(req, res),
    type: AUDIT_TYPES.securityAlert,
    subtype: AUDIT_SUBTYPES.authzRole,
    action: 'E',
    outcome: '4',
    outcomeDesc: `refused ${route}`,
    entities: [{ what: { display: route } }],
  });
  await ctx.audit.append(tenant, event);
}
