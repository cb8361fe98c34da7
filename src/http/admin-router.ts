import { badRequest, conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { Router } from 'express';
import { z } from 'zod';
import type { Destination } from '../contracts/destination';
import type { PipelineContext } from '../event/context';
import { getDestinationStatus, pauseDestination, resumeDestination } from '../event/destination-health';
import { replayFeedback } from '../event/feedback';
import { replayDelivery } from '../event/replay';
import { listDeadLetters } from '../reports/dead-letters/dead-letters';
import { actorOf } from './request-context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const deadLetterFilter = z
  .object({
    destination: z.string().max(64).optional(),
    status: z.coerce.number().int().min(100).max(599).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** `/admin/v1`: what operators use. Every action that changes something is audited. */
export function adminRouter(ctx: PipelineContext): Router {
  const router = Router();

  router.get('/dead-letters', async (req, res) => {
    res.json({ deadLetters: await listDeadLetters(ctx.db, parseFilter(req.query)) });
  });

  router.post('/dead-letters/:id/replay', async (req, res) => {
    const id = req.params.id;
    if (!UUID.test(id) || !(await ctx.db.query('SELECT 1 FROM delivery WHERE id = $1', [id])).length) {
      throw new OperationOutcomeError(notFound);
    }
    if (!(await replayDelivery(ctx, id, actorOf(req, res)))) {
      throw new OperationOutcomeError(conflict('This delivery is not a dead letter (any more)'));
    }
    res.status(202).json({ replayed: [id] });
  });

  /** Replays every dead letter matching the filter in the body (destination, status, since). */
  router.post('/dead-letters/replay', async (req, res) => {
    const filter = parseFilter(req.body ?? {});
    const replayed: string[] = [];
    for (const d of await listDeadLetters(ctx.db, filter)) {
      if (await replayDelivery(ctx, d.id, actorOf(req, res))) {
        replayed.push(d.id);
      }
    }
    res.status(202).json({ replayed });
  });

  router.get('/agreements', (_req, res) => {
    res.json({ agreements: ctx.registry.agreements });
  });

  router.get('/destinations', (_req, res) => {
    res.json({
      destinations: ctx.registry.destinations.map((d) => ({ ...d, auth: { type: d.auth.type } })),
    });
  });

  router.get('/queues', async (_req, res) => {
    res.json({ queues: await ctx.queues.depths() });
  });

  /** Every destination's health: paused or not (and by whom), consecutive failures, queue counts. */
  router.get('/destinations/status', async (_req, res) => {
    res.json({
      destinations: await Promise.all(ctx.registry.destinations.map((d) => getDestinationStatus(ctx, d))),
    });
  });

  router.get('/destinations/:id/status', async (req, res) => {
    res.json(await getDestinationStatus(ctx, getDestination(ctx, req.params.id)));
  });

  /**
   * Pauses a destination for every worker process: its jobs wait (attempts are not used up) until an operator
   * resumes it. A probe never resumes an operator's pause. Audited; `changed: false` when it was paused already.
   */
  router.post('/destinations/:id/pause', async (req, res) => {
    const destination = getDestination(ctx, req.params.id);
    const reason = parseBody(pauseBody, req.body ?? {}).reason ?? 'paused by an operator';
    const changed = await pauseDestination(ctx, destination.id, 'operator', reason, actorOf(req, res));
    res.json({ changed, status: await getDestinationStatus(ctx, destination) });
  });

  /** Resumes a paused destination (whoever paused it) and starts its failure count afresh. Audited. */
  router.post('/destinations/:id/resume', async (req, res) => {
    const destination = getDestination(ctx, req.params.id);
    const changed = await resumeDestination(ctx, destination.id, 'operator', actorOf(req, res));
    res.json({ changed, status: await getDestinationStatus(ctx, destination) });
  });

  /** Status updates for practices that could not be delivered (or all, with `state`). */
  router.get('/feedback', async (req, res) => {
    const f = parseBody(feedbackFilter, req.query);
    res.json({
      feedback: await ctx.db.query(
        `SELECT id, inbox_id AS "inboxId", tenant AS practice, municipality, status, state, attempts,
           last_status AS "lastStatus", last_error AS "lastError", response_body AS "responseBody",
           updated_at AS "updatedAt"
         FROM feedback WHERE state = $1 ORDER BY updated_at LIMIT $2`,
        [f.state, f.limit],
      ),
    });
  });

  router.post('/feedback/:id/replay', async (req, res) => {
    const id = req.params.id;
    if (!UUID.test(id) || !(await ctx.db.query('SELECT 1 FROM feedback WHERE id = $1', [id])).length) {
      throw new OperationOutcomeError(notFound);
    }
    if (!(await replayFeedback(ctx, id, actorOf(req, res)))) {
      throw new OperationOutcomeError(conflict('This status update is not a dead letter (any more)'));
    }
    res.status(202).json({ replayed: [id] });
  });

  return router;
}

const pauseBody = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();

const feedbackFilter = z
  .object({
    state: z.enum(['pending', 'delivered', 'dead']).default('dead'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

function getDestination(ctx: PipelineContext, id: string): Destination {
  const destination = ctx.registry.destinations.find((d) => d.id === id);
  if (!destination) {
    throw new OperationOutcomeError(notFound);
  }
  return destination;
}

function parseBody<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OperationOutcomeError(badRequest(issue?.message ?? 'invalid', issue?.path.join('.') || 'body'));
  }
  return parsed.data;
}

function parseFilter(input: unknown): z.infer<typeof deadLetterFilter> {
  const parsed = deadLetterFilter.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OperationOutcomeError(badRequest(issue?.message ?? 'invalid filter', issue?.path.join('.') || 'query'));
  }
  return parsed.data;
}
