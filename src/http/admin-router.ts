import { badRequest, conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { isUuid } from '../kernel/fhir/ids';
import { notFoundField, unprocessableIssues } from '../kernel/fhir/outcomes';
import type { Router, Request } from 'express';
import { exactRouter } from './exact-routing';
import { z } from 'zod';
import type { PipelineContext } from '../event/context';
import { pauseDestination, resumeDestination } from '../event/destination-health';
import {
  OPERATOR_PAUSE_REASON,
  tryGetDeliveryWork,
  tryGetFeedback,
  tryGetSealedEvent,
  tryGetTrajectoryEvent,
} from '../event/event-store';
import { replayTrajectoryEvent } from '../event/trajectory-events';
import { replayFeedback } from '../event/feedback';
import { replayOne, SKIP_DETAILS, type SkipReason } from '../event/replay';
import { redecideByOperator } from '../event/redecide';
import { notRedeliveredText, redeliver, tryGetRedeliveryTarget } from '../event/redeliver';
import { remapByOperator } from '../event/remap';
import { assertNotConfigured, endPendingToRemovedDestination } from '../event/end-removed-destination';
import { assertNoQuery, parseOrThrow, parseQueryOrThrow, pathExpression } from '../kernel/zod-outcome';
import {
  deadLetterFilter,
  feedbackFilter,
  listTrajectoryEventsByState,
  trajectoryEventFilter,
  countMatchingDeadLetters,
  listDeadLetters,
  listFeedbackByState,
  countDeliveredInWindow,
  pendingToDestination,
  readRedeliveryPage,
  redeliveryReason,
  redeliveryWindow,
  toPracticeReplayFilter,
} from '../reports/dead-letters/dead-letters';
import { getDestinationStatus } from '../reports/destination-status/destination-status';
import { actorOf } from './request-context';
import { auditEventRowsRead, auditListRead, trajectoryEventListed } from './audit-read';
import { replayDeadToPractice, replayMatching } from './replay-matching';
import { jsonBodyOf } from './json-body';
import {
  END_PENDING_REASON,
  MAX_REASON_LENGTH,
  MIN_REASON_LENGTH,
  MIN_REASON_WORDS,
  reasonIssues,
} from './reason-rule';
import {
  assertEventIdInScope,
  assertEventInScope,
  assertTrajectoryEventInScope,
  agreementsInScope,
  destinationsInScope,
  getDestinationInScope,
  operatorScopeOf,
} from './operator-scope';
import { names, namesNoEvent } from './route-target';

/**
 * `/admin/v1`: what operators use. Every action that changes something is audited. An operator's practice scope
 * holds on every route about a practice's events, its municipality scope on destinations (`operator-scope.ts`): lists
 * show only those within it, and one outside it is answered 404, as an unknown id, the attempt recorded. A POST takes
 * its input in the body: any query parameter is a 400 naming it, as on the GET routes.
 */
export function adminRouter(ctx: PipelineContext): Router {
  const router = exactRouter();

  router.get('/dead-letters', async (req, res) => {
    const filter = parseQueryOrThrow(deadLetterFilter, req.query);
    const scope = operatorScopeOf(res);
    // `total` counts every match, so a page cut short by `limit` says so.
    const [deadLetters, { count: total }] = await Promise.all([
      listDeadLetters(ctx.db, filter, scope),
      countMatchingDeadLetters(ctx.db, filter, scope),
    ]);
    // Which referral (or other event) of which practice could not be delivered where: a read of those events.
    await auditEventRowsRead(ctx, req, res, 'delivery', deadLetters);
    res.json({ deadLetters, total });
  });

  router.post('/dead-letters/:id/replay', names('delivery', 'id'), async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    const delivery = isUuid(id) ? await tryGetDeliveryWork(ctx.db, id) : undefined;
    const event = delivery && (await tryGetSealedEvent(ctx.db, delivery.inbox_id));
    if (!event) {
      throw new OperationOutcomeError(notFound);
    }
    await assertEventInScope(ctx, req, res, event);
    await replayOne(ctx, id, actorOf(req, res));
    res.status(202).json({ replayed: [id] });
  });

  /**
   * Replays the dead letters matching the filter in the body (destination, status, since), the oldest `limit` of
   * those a replay can send (100 unless given, at most 1000); `remaining` says how many of those still match
   * afterwards (call again while it is above 0). Those it cannot send stay dead and are not counted in `remaining`:
   * `skipped` counts them by reason with why, and `purged` (content retention removed) and `notCarried` (withdrawal
   * notices to a format that has no message for one) list the oldest `limit` of each.
   */
  router.post('/dead-letters/replay', async (req, res) => {
    assertNoQuery(req);
    const filter = parseBody(deadLetterFilter, req);
    const { replayed, skipped, remaining } = await replayMatching(ctx, filter, operatorScopeOf(res), actorOf(req, res));
    const idsOf = (reason: SkipReason) => skipped.find((s) => s.reason === reason)?.ids;
    const purged = idsOf('purged');
    const notCarried = idsOf('not-carried');
    res.status(202).json({
      replayed,
      ...(purged ? { purged } : {}),
      ...(notCarried ? { notCarried } : {}),
      remaining,
      ...(skipped.length > 0
        ? { skipped: skipped.map(({ reason, count }) => ({ reason, count, details: SKIP_DETAILS[reason] })) }
        : {}),
    });
  });

  /**
   * Sends one delivered delivery again (the receiver lost it), decided again first: 202 when it is on its way, 200
   * naming it `denied` when the decision now denies it (nothing sent), 409 when it is not delivered, its content was
   * purged, or it cannot go out again for another reason the answer names. Audited with the operator's reason.
   */
  router.post('/deliveries/:id/redeliver', names('delivery', 'id'), async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    const { reason } = parseBody(redeliverBody, req);
    const found = await tryGetRedeliveryTarget(ctx, id);
    if (!found) {
      throw new OperationOutcomeError(notFound);
    }
    await assertEventInScope(ctx, req, res, found.event);
    const done = await redeliver(ctx, found.target, actorOf(req, res), reason);
    if (done.result === 'redelivered') {
      res.status(202).json({ redelivered: [id], denied: [] });
    } else if (done.result === 'denied') {
      res.status(200).json({ redelivered: [], denied: [{ id, reasons: done.reasons }] });
    } else {
      throw new OperationOutcomeError(conflict(notRedeliveredText(done)));
    }
  });

  /**
   * Sends again what was delivered to a destination in a window (`from`, the receiver's restore point, up to `to`),
   * the oldest `limit` of them, each as the route for one does. `remaining` counts those after the last one looked
   * at, and `after` is what to send for the next ones. Those denied, and those that cannot go out again (`notSent`,
   * with why), stay delivered.
   */
  router.post('/deliveries/redeliver', async (req, res) => {
    assertNoQuery(req);
    const window = parseBody(redeliveryWindow, req);
    if (Date.parse(window.to) <= Date.parse(window.from)) {
      throw new OperationOutcomeError(badRequest('to: must be after from', 'to'));
    }
    if (Date.parse(window.to) > Date.now()) {
      // Redelivered now, a delivery would be delivered within the window again, and sent once more by a next call.
      throw new OperationOutcomeError(badRequest('to: must not be in the future', 'to'));
    }
    await getDestinationInScope(ctx, req, res, window.destination);
    const scope = operatorScopeOf(res);
    const redelivered: string[] = [];
    const denied: { id: string; reasons: string }[] = [];
    const notSent: { id: string; reason: string }[] = [];
    // In the scope by the window's own condition.
    const { targets, after } = await readRedeliveryPage(ctx.db, window, scope);
    for (const target of targets) {
      const { id } = target;
      const done = await redeliver(ctx, target, actorOf(req, res), window.reason);
      if (done.result === 'redelivered') {
        redelivered.push(id);
      } else if (done.result === 'denied') {
        denied.push({ id, reasons: done.reasons });
      } else {
        notSent.push({ id, reason: notRedeliveredText(done) });
      }
    }
    const remaining = after ? await countDeliveredInWindow(ctx.db, { ...window, after }, scope) : 0;
    res.status(202).json({
      redelivered,
      denied,
      ...(notSent.length ? { notSent } : {}),
      remaining,
      ...(remaining > 0 ? { after } : {}),
    });
  });

  /** Decides a denied event again (audited); a permit sends it. 409 when the event is not denied. */
  router.post('/events/:id/redecide', names('event', 'id'), async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    await assertEventIdInScope(ctx, req, res, id);
    const done = await redecideByOperator(ctx, id, actorOf(req, res));
    if (!done) {
      throw new OperationOutcomeError(notFound);
    }
    if (done.result === 'not-denied') {
      throw new OperationOutcomeError(conflict(`The event is ${done.row.state}, not denied`));
    }
    res.status(202).json({ id, result: done.result });
  });

  /**
   * Maps a failed event again from its stored record (after its dialect was fixed), audited; valid, it goes through
   * the map stage as if new. 409 when the event is not failed, 422 (codes and paths) when the mapping still fails.
   */
  router.post('/events/:id/remap', names('event', 'id'), async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    await assertEventIdInScope(ctx, req, res, id);
    await remapByOperator(ctx, id, actorOf(req, res));
    res.status(202).json({ id, result: 'remapped' });
  });

  router.get('/agreements', (_req, res) => {
    res.json({ agreements: agreementsInScope(ctx, res) });
  });

  router.get('/destinations', (_req, res) => {
    res.json({
      destinations: destinationsInScope(ctx, res).map((d) => ({ ...d, auth: { type: d.auth.type } })),
    });
  });

  /** The deliver queues of the destinations within the scope, and the shared stage queues as totals. */
  router.get('/queues', async (_req, res) => {
    res.json({ queues: await ctx.queues.depths(ctx.queues.ofDestinations(destinationsInScope(ctx, res))) });
  });

  /** Each destination's health (within the scope): paused or not (and by whom), consecutive failures, queue counts. */
  router.get('/destinations/status', async (_req, res) => {
    res.json({
      destinations: await Promise.all(destinationsInScope(ctx, res).map((d) => getDestinationStatus(ctx, d))),
    });
  });

  router.get('/destinations/:id/status', namesNoEvent, async (req, res) => {
    res.json(await getDestinationStatus(ctx, await getDestinationInScope(ctx, req, res, req.params.id)));
  });

  /**
   * Pauses a destination for every worker process: its jobs wait (attempts are not used up) until an operator
   * resumes it. A probe never resumes an operator's pause. Audited; `changed: false` when an operator paused it
   * already, unless this pause gives a reason of its own, which replaces the recorded one.
   */
  router.post('/destinations/:id/pause', namesNoEvent, async (req, res) => {
    assertNoQuery(req);
    const destination = await getDestinationInScope(ctx, req, res, req.params.id);
    const reason = parseBody(pauseBody, req).reason ?? OPERATOR_PAUSE_REASON;
    const changed = await pauseDestination(ctx, destination.id, 'operator', reason, actorOf(req, res));
    res.json({ changed, status: await getDestinationStatus(ctx, destination) });
  });

  /** Resumes a paused destination (whoever paused it) and starts its failure count afresh. Audited. */
  router.post('/destinations/:id/resume', namesNoEvent, async (req, res) => {
    assertNoQuery(req);
    const destination = await getDestinationInScope(ctx, req, res, req.params.id);
    const changed = await resumeDestination(ctx, destination.id, 'operator', actorOf(req, res));
    res.json({ changed, status: await getDestinationStatus(ctx, destination) });
  });

  /**
   * Ends the pending deliveries (within the scope) to a destination no longer configured, the oldest `limit` of them
   * (1000 unless given): each `cancelled`, not sent, its event `failed` with a reason the practice reads (`decided`
   * with it while another of its deliveries waits); each audited in its practice's chain with the operator's `reason`
   * (required, held to an acknowledgement's rule: 422). `remaining` counts those still pending (call again while it
   * is above 0). 409 naming a destination that is configured; 404 naming it when none is pending there.
   */
  router.post('/destinations/:id/end-pending', namesNoEvent, async (req, res) => {
    assertNoQuery(req);
    const destination = req.params.id;
    const { reason = '', limit } = parseBody(endPendingBody, req);
    if (ctx.registry.destinations.some((d) => d.id === destination)) {
      // Outside the operator's municipalities a configured destination is a 404, as on every destination route.
      await getDestinationInScope(ctx, req, res, destination);
      assertNotConfigured(ctx, destination);
    }
    // Held to the acknowledgement's rule, and refused with its codes: it ends up to 1000 deliveries for good.
    const unfit = reasonIssues(reason, END_PENDING_REASON);
    if (unfit.length > 0) {
      throw new OperationOutcomeError(unprocessableIssues(unfit));
    }
    const scope = operatorScopeOf(res);
    const { deliveries, total } = await pendingToDestination(ctx.db, destination, scope, limit);
    if (total === 0) {
      // Named, so that the operator tells a mistyped id from deliveries ended already.
      throw new OperationOutcomeError(
        notFoundField(`No deliveries are pending to ${destination} (none left, or no such destination)`, 'id'),
      );
    }
    const ended = await endPendingToRemovedDestination(ctx, destination, deliveries, actorOf(req, res), reason);
    const remaining = (await pendingToDestination(ctx.db, destination, scope, 0)).total;
    res.json({ destination, ended, remaining });
  });

  /** Status updates for practices that could not be delivered (or all, with `state`). */
  router.get('/feedback', async (req, res) => {
    const feedback = await listFeedbackByState(
      ctx.db,
      parseQueryOrThrow(feedbackFilter, req.query),
      operatorScopeOf(res),
    );
    // A municipality's status (its decision) on a practice's referral: recorded as a read of that referral.
    await auditEventRowsRead(ctx, req, res, 'feedback', feedback);
    res.json({ feedback });
  });

  /**
   * Replays a practice's dead status updates and trajectory events (`practice`, optionally `since`), the oldest
   * `limit` of them (100 unless given, at most 1000), each audited as the one-at-a-time replays are; `remaining` says
   * how many still wait (call again while it is above 0). A practice outside the operator's scope has none.
   */
  router.post('/feedback/replay', async (req, res) => {
    assertNoQuery(req);
    const filter = parseBody(toPracticeReplayFilter, req);
    res.status(202).json(await replayDeadToPractice(ctx, filter, operatorScopeOf(res), actorOf(req, res)));
  });

  router.post('/feedback/:id/replay', names('feedback', 'id'), async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    const feedback = isUuid(id) ? await tryGetFeedback(ctx.db, id) : undefined;
    const event = feedback && (await tryGetSealedEvent(ctx.db, feedback.inbox_id));
    if (!event) {
      throw new OperationOutcomeError(notFound);
    }
    await assertEventInScope(ctx, req, res, event);
    if (!(await replayFeedback(ctx, id, actorOf(req, res)))) {
      throw new OperationOutcomeError(conflict('This status update is not a dead letter (any more)'));
    }
    res.status(202).json({ replayed: [id] });
  });

  /** Trajectory events municipalities sent to practices (dead ones by default), without their content. */
  router.get('/trajectory-events', async (req, res) => {
    const trajectoryEvents = await listTrajectoryEventsByState(
      ctx.db,
      parseQueryOrThrow(trajectoryEventFilter, req.query),
      operatorScopeOf(res),
    );
    await auditListRead(ctx, req, res, 'trajectory_event', trajectoryEvents.map(trajectoryEventListed));
    res.json({ trajectoryEvents });
  });

  /**
   * Replays a municipality's trajectory event whose delivery to the practice became a dead letter. A trajectory event
   * is a row of its own, not an event a refusal can be recorded against (docs/audit.md, "not yet routed").
   */
  router.post('/trajectory-events/:id/replay', namesNoEvent, async (req, res) => {
    assertNoQuery(req);
    const id = req.params.id;
    const trajectoryEvent = isUuid(id) ? await tryGetTrajectoryEvent(ctx.db, id) : undefined;
    if (!trajectoryEvent) {
      throw new OperationOutcomeError(notFound);
    }
    await assertTrajectoryEventInScope(ctx, req, res, trajectoryEvent);
    if (!(await replayTrajectoryEvent(ctx, id, actorOf(req, res)))) {
      throw new OperationOutcomeError(conflict('This trajectory event is not a dead letter (any more)'));
    }
    res.status(202).json({ replayed: [id] });
  });

  return router;
}

export const pauseBody = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();

/**
 * What an operator sends to end a removed destination's pending deliveries: why (kept in the audit). Required, but
 * checked after the parse (`reasonIssues`, a 422 coded as an acknowledgement's), so optional here; the OpenAPI
 * document gives it as required (`.required({ reason: true })`).
 */
export const endPendingBody = z
  .object({
    reason: z
      .string()
      .trim()
      .max(MAX_REASON_LENGTH, `at most ${MAX_REASON_LENGTH} characters`)
      .optional()
      .meta({
        description: `why the pending deliveries are ended (kept in the audit; at least ${MIN_REASON_WORDS} words and ${MIN_REASON_LENGTH} characters, at most ${MAX_REASON_LENGTH}; no personal data)`,
      }),
    limit: z.number().int().min(1).max(1000).default(1000),
  })
  .strict();

/** What an operator sends to have one delivery sent again: why (required, kept in the audit). */
export const redeliverBody = z.object({ reason: redeliveryReason }).strict();

/** An operator's body in the wrong form is a 400 naming the field, as a query in the wrong form is. */
function parseBody<T>(schema: z.ZodType<T>, req: Request): T {
  return parseOrThrow(schema, jsonBodyOf(req) ?? {}, (path) => pathExpression(path, 'body'), 400);
}
