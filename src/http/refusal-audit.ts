import type { Request, Response } from 'express';
import { isUuid } from '../kernel/fhir/ids';
import { AUDIT_SUBTYPES, AUDIT_TYPES, buildAuditEvent } from '../audit/audit-events';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import type { PipelineContext } from '../event/context';
import { auditRefusedReads, REFUSAL_AUDITED } from './audit-read';
import {
  tryGetDeliveryWork,
  tryGetFeedback,
  tryGetSealedEvent,
  type EventRow,
  type SealedEvent,
} from '../event/event-store';
import { findReferrals, newestOfEachReferral } from '../event/feedback';
import { jsonBodyOf } from './json-body';
import { focusKeyOf } from './status-update';
import { tryGetPrincipal } from '../access/authenticate';
import { actorOf } from './request-context';

/** Routes that name one event by id in their path: its read (API and console) and an operator's redecide
 * or remap. */
const EVENT_ROUTES: readonly { method: string; path: RegExp }[] = [
  { method: 'GET', path: /^\/his\/v1\/events\/([^/]+)$/ },
  { method: 'GET', path: /^\/console\/practice\/events\/([^/]+)$/ },
  { method: 'POST', path: /^\/admin\/v1\/events\/([^/]+)\/redecide$/ },
  { method: 'POST', path: /^\/admin\/v1\/events\/([^/]+)\/remap$/ },
];
/**
 * An operator's routes that name a delivery or a status update by id, each of one event (API and console): `table`
 * says which, as `eventOf` reads it.
 */
const EVENT_PART_ROUTES: readonly { table: 'delivery' | 'feedback'; path: RegExp }[] = [
  { table: 'delivery', path: /^\/admin\/v1\/dead-letters\/([^/]+)\/replay$/ },
  { table: 'delivery', path: /^\/console\/operator\/dead-letters\/([^/]+)\/replay$/ },
  { table: 'feedback', path: /^\/admin\/v1\/feedback\/([^/]+)\/replay$/ },
];
/** The municipality's status routes, which name a referral by anything the municipality received. */
const REFERRAL_ROUTE = /^\/municipality\/v1\/referrals\/([^/]+)\/status$/;

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** A refused request's JSON body; none for another media type (the refusal is recorded all the same). */
function jsonBodyOrNone(req: Request): unknown {
  try {
    return jsonBodyOf(req);
  } catch {
    return undefined;
  }
}

/**
 * The stored events a refused request names, whose practices' chains record the refusal: the event of an event
 * route, of a delivery or status update an operator's route names, `$explain`'s `eventId`, the newest event of each
 * referral a status route's key or a Task's `focus` names.
 */
async function eventsNamed(ctx: PipelineContext, req: Request): Promise<(EventRow & SealedEvent)[]> {
  const path = `${req.baseUrl}${req.path}`;
  const byId = async (id: string | undefined) => {
    const row = id && isUuid(id) ? await tryGetSealedEvent(ctx.db, id) : undefined;
    return row ? [row] : [];
  };
  const eventRoute = EVENT_ROUTES.find((r) => r.method === req.method && r.path.test(path));
  if (eventRoute) {
    return byId(eventRoute.path.exec(path)?.[1]);
  }
  const part = req.method === 'POST' ? EVENT_PART_ROUTES.find((r) => r.path.test(path)) : undefined;
  if (part) {
    const id = part.path.exec(path)?.[1];
    if (!id || !isUuid(id)) {
      return [];
    }
    const found = part.table === 'delivery' ? await tryGetDeliveryWork(ctx.db, id) : await tryGetFeedback(ctx.db, id);
    return byId(found?.inbox_id);
  }
  const body = req.method === 'POST' ? jsonBodyOrNone(req) : undefined;
  if (req.method === 'POST' && path === '/policy/v1/$explain') {
    const eventId = (body as { eventId?: unknown } | undefined)?.eventId;
    return byId(typeof eventId === 'string' ? eventId : undefined);
  }
  const key =
    req.method === 'POST' && path === '/fhir/Task'
      ? focusKeyOf((body as { focus?: unknown } | undefined)?.focus)
      : decoded(REFERRAL_ROUTE.exec(path)?.[1] ?? '');
  return key ? newestOfEachReferral(await findReferrals(ctx, key)) : [];
}

/**
 * Records a refused request (403) as a Security Alert AuditEvent with outcome 4, naming the principal, the route
 * and the client address, in the chain of the principal's practice (or the system chain). Query strings are left
 * out: they may hold a BSN. A request that names stored events (`eventsNamed`) is recorded where their allowed reads
 * go instead: in each event's practice chain, naming the event and the child (`auditRefusedReads`).
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
  if (rows.length > 0) {
    await auditRefusedReads(ctx, req, res, rows, `refused ${route}`);
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
