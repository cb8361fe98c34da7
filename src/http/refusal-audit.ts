import type { Request, Response } from 'express';
import { isUuid } from '../kernel/fhir/ids';
import { AUDIT_SUBTYPES, AUDIT_TYPES, buildAuditEvent } from '../audit/audit-events';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import type { PipelineContext } from '../event/context';
import { auditRefusedReadsAndOwnRow, REFUSAL_AUDITED } from './audit-read';
import {
  tryGetDeliveryWork,
  tryGetFeedback,
  tryGetSealedEvent,
  type EventRow,
  type SealedEvent,
} from '../event/event-store';
import { findReferrals, newestOfEachReferral } from '../event/feedback';
import { fhirResourceBodyOf, jsonBodyOf } from './json-body';
import { declaredTargetOf } from './route-target';
import { tryGetPrincipal } from '../access/authenticate';
import { actorOf } from './request-context';

/**
 * A refused request's JSON body (a FHIR resource's by any of its names too: `POST /fhir/Task`); none for another media
 * type (the refusal is recorded all the same).
 */
function jsonBodyOrNone(req: Request): unknown {
  for (const bodyOf of [jsonBodyOf, fhirResourceBodyOf]) {
    try {
      return bodyOf(req);
    } catch {
      // Not this kind of body: the next, or none.
    }
  }
  return undefined;
}

/**
 * The stored events a refused request names, whose practices' chains record the refusal: what its route declares
 * (`route-target.ts`): an event, the event of a delivery or status update, or the newest event of each referral a
 * municipality's key names.
 */
async function eventsNamed(ctx: PipelineContext, req: Request): Promise<(EventRow & SealedEvent)[]> {
  const named = declaredTargetOf(req, jsonBodyOrNone);
  const key = named?.key;
  if (!named || !key) {
    return [];
  }
  const byId = async (id: string | undefined) => {
    const row = id && isUuid(id) ? await tryGetSealedEvent(ctx.db, id) : undefined;
    return row ? [row] : [];
  };
  switch (named.kind) {
    case 'event':
      return byId(key);
    case 'delivery':
      return byId(isUuid(key) ? (await tryGetDeliveryWork(ctx.db, key))?.inbox_id : undefined);
    case 'feedback':
      return byId(isUuid(key) ? (await tryGetFeedback(ctx.db, key))?.inbox_id : undefined);
    case 'referral':
      return newestOfEachReferral(await findReferrals(ctx, key));
  }
}

/**
 * Records a refused request (403) as a Security Alert AuditEvent with outcome 4, naming the principal, the route
 * and the client address, in the chain of the principal's practice (or the system chain). Query strings are left
 * out: they may hold a BSN. A request whose route names stored events (`eventsNamed`) is recorded where their allowed
 * reads go instead: in each event's practice chain, naming the event and the child (`auditRefusedReadsAndOwnRow`); a
 * municipality's is recorded in the system chain as well, without them, as for a request naming nothing stored.
 */
export async function auditRefusal(ctx: PipelineContext, req: Request, res: Response): Promise<void> {
  const p = tryGetPrincipal(res);
  // Routes that record their own, richer refusal (the audit routes) mark the response so it is not logged twice.
  if (!p || res.locals[REFUSAL_AUDITED] === true) {
    return;
  }
  const route = `${req.method} ${req.baseUrl}${req.path}`.slice(0, 300);
  // A refused request about an event or referral goes where its allowed reads go: the event's practice chain, naming
  // the event and the child, so the practice's log and a search by the event or the child show the attempt.
  const rows = await eventsNamed(ctx, req);
  // A municipality's auditor does not see those rows (they name the other child and event): its own side is the row
  // below, the same as for a request that names nothing stored.
  await auditRefusedReadsAndOwnRow(ctx, req, res, rows, `refused ${route}`, () => {
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
    return ctx.audit.append(tenant, event).then(() => undefined);
  });
}
