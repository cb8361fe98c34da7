import { conflict, forbidden, notFound, OperationOutcomeError } from '@medplum/core';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { text } from '../kernel/fhir/fields';
import { REFERRAL_STATUSES } from '../../mappings/practice/to-task';
import { isValidAgb, isValidIsoDate } from '../kernel/fhir/identifiers';
import { fieldIssue, unprocessableIssues } from '../kernel/fhir/outcomes';
import { parseOrThrow } from '../kernel/zod-outcome';
import { JZ020_SYSTEM } from '../kernel/fhir/systems';
import { isKnownCode } from '../kernel/fhir/terminology';
import type { PipelineContext } from '../event/context';
import { recordStatusUpdate, tryGetReferral, type DeliveredReferral } from '../event/feedback';
import { listFeedbackOf, type FeedbackRow } from '../event/event-store';
import { getPrincipal } from '../access/authenticate';
import { canSeeMunicipality } from '../access/principal';
import { actorOf } from './request-context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The body of `POST /municipality/v1/referrals/{id}/status`. */
export const statusUpdateSchema = z
  .object({
    status: z.enum(REFERRAL_STATUSES, { error: `one of ${REFERRAL_STATUSES.join(', ')}` }),
    reason: text(2000).optional(),
    productCategory: z
      .string()
      .refine((c) => isKnownCode(JZ020_SYSTEM, c), 'a JZ020 product category code such as 45 or 54')
      .optional(),
    provider: z
      .object({
        agb: z.string().refine(isValidAgb, 'an AGB code of 8 digits').optional(),
        name: text(200),
      })
      .strict()
      .optional(),
    startDate: z.string().refine(isValidIsoDate, 'a date YYYY-MM-DD').optional(),
  })
  .strict();

/** An Idempotency-Key from the municipality: printable ASCII, so it is safe to store and compare. */
const REQUEST_KEY = /^[\x21-\x7e]{1,128}$/;

/** `/municipality/v1`: what municipalities use (status feedback on referrals delivered to them). */
export function municipalityRouter(ctx: PipelineContext): Router {
  const router = Router();

  /**
   * A municipality's status on a referral delivered to it: 202 with the stored update (its Task included), which
   * goes on to the practice's HIS. 404 for an unknown referral, 403 for one delivered to another municipality,
   * 409 for one not delivered yet, 422 naming the field for a bad body.
   */
  router.post('/referrals/:id/status', async (req, res) => {
    const { referral, municipality } = await referralFor(ctx, req.params.id, res);
    const update = parseOrThrow(statusUpdateSchema, req.body);
    const requestKey = req.get('idempotency-key');
    if (requestKey !== undefined && !REQUEST_KEY.test(requestKey)) {
      throw new OperationOutcomeError(
        unprocessableIssues([fieldIssue('at most 128 printable ASCII characters', 'Idempotency-Key')]),
      );
    }
    const actor = { ...actorOf(req, res), onBehalfOf: { kind: 'municipality' as const, code: municipality } };
    const { feedback, duplicate } = await recordStatusUpdate(ctx, {
      referral,
      municipality,
      update,
      actor,
      requestKey,
    });
    ctx.metrics.processed.inc({ stage: 'feedback-received', result: duplicate ? 'duplicate' : 'accepted' });
    res.status(duplicate ? 200 : 202).json(view(feedback));
  });

  /** The status updates sent on one referral and whether each reached the practice. */
  router.get('/referrals/:id/status', async (req, res) => {
    const { referral } = await referralFor(ctx, req.params.id, res);
    res.json({ statusUpdates: (await listFeedbackOf(ctx.db, referral.row.id)).map(view) });
  });

  return router;
}

/**
 * The referral and the municipality the caller acts for on it. Unknown ids (and events that are not referrals)
 * are 404; a referral the caller's municipalities never received is 403; one still on its way is 409.
 */
async function referralFor(
  ctx: PipelineContext,
  id: string,
  res: Response,
): Promise<{ referral: DeliveredReferral; municipality: string }> {
  const referral = UUID.test(id) ? await tryGetReferral(ctx, id) : undefined;
  if (!referral) {
    throw new OperationOutcomeError(notFound);
  }
  const principal = getPrincipal(res);
  const municipality = referral.deliveredTo.find((m) => canSeeMunicipality(principal, m));
  if (municipality) {
    return { referral, municipality };
  }
  if (
    referral.deliveredTo.length === 0 &&
    referral.row.municipality &&
    canSeeMunicipality(principal, referral.row.municipality)
  ) {
    throw new OperationOutcomeError(conflict('This referral has not been delivered yet'));
  }
  throw new OperationOutcomeError(forbidden);
}

/** What the API shows of a status update: no free text beyond what the municipality sent itself. */
function view(f: FeedbackRow): Record<string, unknown> {
  return {
    id: f.id,
    referral: f.inbox_id,
    status: f.status,
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
