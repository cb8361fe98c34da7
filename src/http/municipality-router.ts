import { Router } from 'express';
import type { PipelineContext } from '../event/context';
import { recordStatusUpdate } from '../event/feedback';
import { listFeedbackOf, type FeedbackRow } from '../event/event-store';
import { getReferralTimeline } from '../reports/referral-timeline/timeline';
import { actorOf } from './request-context';
import { parseStatusUpdate, referralFor, requestKeyOf } from './status-update';

/** `/municipality/v1`: what municipalities use (status feedback on referrals delivered to them). */
export function municipalityRouter(ctx: PipelineContext): Router {
  const router = Router();

  /**
   * A municipality's status on a referral delivered to it, addressed by our id or by the ServiceRequest identifier
   * it received: 202 with the stored update (its Task included), which goes on to the practice's HIS. 404 for an
   * unknown referral, 403 for one delivered to another municipality, 409 for one not delivered yet or a status that
   * may not follow the current one, 422 naming the field for a bad body.
   */
  router.post('/referrals/:id/status', async (req, res) => {
    const { referral, municipality } = await referralFor(ctx, req.params.id, res);
    const update = parseStatusUpdate(req.body);
    const requestKey = requestKeyOf(req.get('idempotency-key'));
    const actor = { ...actorOf(req, res), onBehalfOf: { kind: 'municipality' as const, code: municipality } };
    const { feedback, duplicate } = await recordStatusUpdate(ctx, {
      referral,
      municipality,
      update,
      actor,
      requestKey,
    });
    ctx.metrics.processed.inc({ stage: 'feedback-received', result: duplicate ? 'duplicate' : 'accepted' });
    res.status(duplicate ? 200 : 202).json(statusUpdateView(feedback));
  });

  /** The status updates sent on one referral, whether each reached the practice, and the timeline. */
  router.get('/referrals/:id/status', async (req, res) => {
    const { referral } = await referralFor(ctx, req.params.id, res);
    res.json({
      referral: referral.row.id,
      statusUpdates: (await listFeedbackOf(ctx.db, referral.row.id)).map(statusUpdateView),
      timeline: await getReferralTimeline(ctx, referral.row),
    });
  });

  return router;
}

/** What the API shows of a status update: no free text beyond what the municipality sent itself. */
export function statusUpdateView(f: FeedbackRow): Record<string, unknown> {
  return {
    id: f.id,
    referral: f.inbox_id,
    status: f.status,
    date: f.status_date,
    serviceRequestStatus: f.service_request_status,
    task: f.task,
    delivery: {
      state: f.state,
      attempts: f.attempts,
      lastStatus: f.last_status,
      lastError: f.last_error,
      deliveredAt: f.delivered_at,
    },
    createdAt: f.created_at,
  };
}
