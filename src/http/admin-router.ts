import { badRequest, conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { Router } from 'express';
import { z } from 'zod';
import type { PipelineContext } from '../pipeline/context';
import { replayDelivery } from '../pipeline/replay';
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
    res.json({ deadLetters: await listDeadLetters(ctx, parseFilter(req.query)) });
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
    for (const d of await listDeadLetters(ctx, filter)) {
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

  return router;
}

function parseFilter(input: unknown): z.infer<typeof deadLetterFilter> {
  const parsed = deadLetterFilter.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OperationOutcomeError(badRequest(issue?.message ?? 'invalid filter', issue?.path.join('.') || 'query'));
  }
  return parsed.data;
}

interface DeadLetter {
  id: string;
  inboxId: string;
  eventId: string;
  practice: string;
  destination: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  responseBody: string | null;
  updatedAt: Date;
}

async function listDeadLetters(ctx: PipelineContext, f: z.infer<typeof deadLetterFilter>): Promise<DeadLetter[]> {
  return ctx.db.query<DeadLetter>(
    `SELECT d.id, d.inbox_id AS "inboxId", i.source_event_id AS "eventId", i.tenant AS practice, d.destination,
       d.attempts, d.last_status AS "lastStatus", d.last_error AS "lastError", d.response_body AS "responseBody",
       d.updated_at AS "updatedAt"
     FROM delivery d JOIN inbox i ON i.id = d.inbox_id
     WHERE d.state = 'dead' AND ($1::text IS NULL OR d.destination = $1) AND ($2::int IS NULL OR d.last_status = $2)
       AND ($3::timestamptz IS NULL OR d.updated_at >= $3)
     ORDER BY d.updated_at LIMIT $4`,
    [f.destination ?? null, f.status ?? null, f.since ?? null, f.limit],
  );
}
