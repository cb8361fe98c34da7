import { notFound, OperationOutcomeError } from '@medplum/core';
import type { Request, Response } from 'express';
import { getPrincipal } from '../access/authenticate';
import { canActForPractice, canSeeMunicipality, type Principal } from '../access/principal';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import type { Destination } from '../contracts/destination';
import type { PipelineContext } from '../event/context';
import type { Agreement } from '../policy/agreement';
import { tryGetSealedEvent, type EventRow, type SealedEvent, type TrajectoryEventRow } from '../event/event-store';
import { isUuid } from '../kernel/fhir/ids';
import type { OperatorScope } from '../reports/dead-letters/dead-letters';
import { auditRead, auditRefusedReads, NOT_IN_SCOPE, type ReadAudit } from './audit-read';

/**
 * An operator's scope on the admin routes (API and console): a key for one practice lists and acts on that
 * practice's events, dead letters, status updates and trajectory events only; a monitoring report, which is no
 * practice's, by its municipality; a destination, and its pause and health, by its municipality. Anything outside is
 * answered as an unknown id is (404), the attempt on record.
 */
export function operatorScopeOf(res: Response): OperatorScope {
  const p = getPrincipal(res);
  return { practices: p.practices, municipalities: p.municipalities };
}

/**
 * Whether the principal's scope covers a stored event (a monitoring report by its municipality): for an operator, its
 * practice scope, which also bounds the referrals whose statuses it reads (`referralFor`).
 */
export function eventInScope(p: Principal, row: Pick<EventRow, 'tenant' | 'event_type' | 'municipality'>): boolean {
  return row.event_type === MONITORING_REPORT_EVENT
    ? row.municipality !== null && canSeeMunicipality(p, row.municipality)
    : canActForPractice(p, row.tenant);
}

/**
 * Whether the event is within the caller's scope; when it is not, the refused attempt is recorded first, where the
 * event's reads are recorded: in its practice's chain with the child (`auditRefusedReads`), a monitoring report's in
 * its own chain.
 */
export async function eventInScopeOrRecorded(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  row: EventRow & SealedEvent,
): Promise<boolean> {
  if (eventInScope(getPrincipal(res), row)) {
    return true;
  }
  if (row.event_type === MONITORING_REPORT_EVENT) {
    // A report names no child: its refused read is recorded without one.
    await auditRead(ctx, req, res, refusedRead(req, `inbox/${row.id}`, row.tenant));
  } else {
    await auditRefusedReads(ctx, req, res, [row], NOT_IN_SCOPE);
  }
  return false;
}

/** Throws 404 (as for an unknown id) unless the event is within the caller's scope, the refusal recorded. */
export async function assertEventInScope(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  row: EventRow & SealedEvent,
): Promise<void> {
  if (!(await eventInScopeOrRecorded(ctx, req, res, row))) {
    throw new OperationOutcomeError(notFound);
  }
}

/**
 * Throws 404 unless stored event `id` exists and is within the caller's scope (`assertEventInScope`): what an
 * operator's action on one event (redecide, remap; API and console) checks first.
 */
export async function assertEventIdInScope(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  id: string,
): Promise<void> {
  const row = isUuid(id) ? await tryGetSealedEvent(ctx.db, id) : undefined;
  if (!row) {
    throw new OperationOutcomeError(notFound);
  }
  await assertEventInScope(ctx, req, res, row);
}

/** `assertEventInScope` for a municipality's trajectory event, recorded in its practice's chain. */
export async function assertTrajectoryEventInScope(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  row: Pick<TrajectoryEventRow, 'id' | 'tenant'>,
): Promise<void> {
  if (canActForPractice(getPrincipal(res), row.tenant)) {
    return;
  }
  await auditRead(ctx, req, res, refusedRead(req, `trajectory_event/${row.id}`, row.tenant));
  throw new OperationOutcomeError(notFound);
}

function refusedRead(req: Request, target: string, tenant: string): ReadAudit {
  return {
    query: req.originalUrl,
    interaction: 'read',
    target,
    outcome: '4',
    outcomeDesc: NOT_IN_SCOPE,
    tenants: [tenant],
  };
}

/** The destinations of the municipalities within the caller's scope: what an operator's lists show. */
export function destinationsInScope(ctx: Pick<PipelineContext, 'registry'>, res: Response): Destination[] {
  const p = getPrincipal(res);
  return ctx.registry.destinations.filter((d) => canSeeMunicipality(p, d.municipality));
}

/**
 * The agreements of a practice or a municipality within the caller's scope: an operator of a practice reads what its
 * events are decided by, whichever municipality they go to, and an operator of a municipality who sends to it.
 */
export function agreementsInScope(ctx: Pick<PipelineContext, 'registry'>, res: Response): Agreement[] {
  const p = getPrincipal(res);
  return ctx.registry.agreements.filter(
    (a) => canActForPractice(p, a.practice.agb) || canSeeMunicipality(p, a.municipality.code),
  );
}

/**
 * Destination `id`, when it is one of a municipality within the caller's scope; 404 otherwise, as for an unknown id.
 * A refused one is recorded (outcome 4) in the destination's own chain, where its pauses and resumes are.
 */
export async function getDestinationInScope(
  ctx: Pick<PipelineContext, 'audit' | 'registry'>,
  req: Request,
  res: Response,
  id: string,
): Promise<Destination> {
  const destination = ctx.registry.destinations.find((d) => d.id === id);
  if (!destination) {
    throw new OperationOutcomeError(notFound);
  }
  if (!canSeeMunicipality(getPrincipal(res), destination.municipality)) {
    const chain = `destination/${destination.id}`;
    await auditRead(ctx, req, res, refusedRead(req, chain, chain));
    throw new OperationOutcomeError(notFound);
  }
  return destination;
}
