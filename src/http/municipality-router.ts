import type { Router } from 'express';
import { exactRouter } from './exact-routing';
import type { PipelineContext } from '../event/context';
import { listReferralFeedback } from '../event/event-store';
import { getReferralTimeline } from '../reports/referral-timeline/timeline';
import {
  tryGetReferralCancellation,
  tryGetReferralWithdrawalNotice,
} from '../reports/referral-timeline/received-referrals';
import { parseStatusUpdate, recordAndAnswer, referralFor, statusUpdateView } from './status-update';
import { trajectoryEventSchema } from '../../mappings/practice/trajectory-event';
import { receiveTrajectoryEvent, trajectoryEventView } from '../event/trajectory-events';
import { assertNoQuery, parseOrThrow } from '../kernel/zod-outcome';
import { getPrincipal } from '../access/authenticate';
import { assertCanSeeMunicipality, assertRole } from '../access/principal';
import { actorOf } from './request-context';
import { getRequestTrace } from './access-log';
import { auditEventRead } from './audit-read';
import { organisationAgent } from '../audit/audit-events';
import { jsonBodyOf } from './json-body';
import { names } from './route-target';

/** `/municipality/v1`: what municipalities use (status feedback on referrals delivered to them). */
export function municipalityRouter(ctx: PipelineContext): Router {
  const router = exactRouter();

  /**
   * A municipality's status on a referral delivered to it, addressed by anything it received that names it
   * (`findReferrals`): 202 with the stored update (its Task included), which goes on to the practice's HIS; 200 with
   * the update recorded for a repeat. 404 for an unknown referral and for one not delivered to the caller's
   * municipality, 409 for one on its way to it, cancelled by the practice, named by a bare value two practices share,
   * or a status that may not follow the current one; 422 naming the field for a bad body or an Idempotency-Key sent
   * again with another body.
   */
  router.post('/referrals/:id/status', names('referral', 'id'), async (req, res) => {
    // Only a municipality says what became of its referral; operators may read the status (GET), not make it.
    assertRole(getPrincipal(res), 'municipality');
    assertNoQuery(req);
    const update = parseStatusUpdate(jsonBodyOf(req));
    const target = await referralFor(ctx, req, res, req.params.id);
    await recordAndAnswer(ctx, req, res, target, update);
  });

  /** The status updates sent on one referral, whether each reached the practice, and the timeline; audited. */
  router.get('/referrals/:id/status', names('referral', 'id'), async (req, res) => {
    assertRole(getPrincipal(res), 'municipality', 'operator');
    const { referral, municipality } = await referralFor(ctx, req, res, req.params.id);
    await auditEventRead(ctx, req, res, referral.row, [organisationAgent('destination', 'municipality', municipality)]);
    res.json({
      referral: referral.row.id,
      statusUpdates: (await listReferralFeedback(ctx.db, referral.row.id)).map((u) =>
        statusUpdateView(ctx, getPrincipal(res), u, referral.row.id),
      ),
      timeline: await getReferralTimeline(ctx, referral.row),
      // The practice's cancellation that reached the municipality (the day it cancelled, when it came), else null.
      cancelledByPractice: (await tryGetReferralCancellation(ctx, referral.row.id)) ?? null,
      // The child's consent no longer covers the referral (withdrawn, recorded in error, an objection): when jeugdbrug
      // made the withdrawal notice to the municipality, and its delivery's state; else null.
      withdrawalNotice:
        (await tryGetReferralWithdrawalNotice(ctx, referral.row.id, destinationsOf(municipality))) ?? null,
    });
  });

  /**
   * A trajectory event the municipality registered in its own system (intake, contact, referral, closure), for the
   * child's practice: 202 with its id and decision, on its way to the practice's HIS; 200 with the same answer for a
   * repeated `eventId` (202 when the first was never acknowledged: its request failed, 503, after storing it); 403 when the caller does not act for `municipality` or no agreement with the practice names
   * the municipality as system of record; 422 naming the field for a bad body (free text included).
   */
  router.post('/trajectories/events', async (req, res) => {
    // Only a municipality registers its trajectories: an operator's key reaches every practice, not one municipality.
    assertRole(getPrincipal(res), 'municipality');
    assertNoQuery(req);
    const event = parseOrThrow(trajectoryEventSchema, jsonBodyOf(req));
    assertCanSeeMunicipality(getPrincipal(res), event.municipality);
    const actor = {
      ...actorOf(req, res),
      onBehalfOf: { kind: 'municipality' as const, code: event.municipality },
      alsoOnBehalfOf: undefined,
    };
    const { row, duplicate } = await receiveTrajectoryEvent(ctx, event, actor, getRequestTrace(res).traceId);
    ctx.metrics.processed.inc({ stage: 'trajectory-received', result: duplicate ? 'duplicate' : row.state });
    res.status(duplicate ? 200 : 202).json(trajectoryEventView(row));
  });

  /** The destinations of `municipality` (its referrals reach it there). */
  const destinationsOf = (municipality: string): string[] =>
    ctx.registry.destinations.filter((d) => d.municipality === municipality).map((d) => d.id);

  return router;
}
