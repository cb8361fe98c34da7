import { Router } from 'express';
import type { PipelineContext } from '../event/context';
import { listFeedbackOf } from '../event/event-store';
import { getReferralTimeline } from '../reports/referral-timeline/timeline';
import { parseStatusUpdate, recordAndAnswer, referralFor, statusUpdateView } from './status-update';

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
    const target = await referralFor(ctx, req.params.id, res);
    await recordAndAnswer(ctx, req, res, target, parseStatusUpdate(req.body));
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
