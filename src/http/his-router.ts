import { z } from 'zod';
import { badRequest, notFound, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { referralTimelineOf } from '../reports/referral-timeline/timeline';
import type { Router, Request, RequestHandler } from 'express';
import { exactRouter } from './exact-routing';
import { conflictField, notFoundField, unprocessableIssues, unsupportedMediaType } from '../kernel/fhir/outcomes';
import { namesOtherFhirVersion, SERVED_FHIR_VERSION_PARAMETER } from '../kernel/fhir/media-types';
import type { HisDialect } from '../contracts/his-dialect';
import { DIALECTS, tryGetDialect } from '../../mappings/his/index';
import { ingestRecords, type Receipt } from '../event/receive';
import type { PipelineContext } from '../event/context';
import { QueueDepthGuard } from '../event/queue-depth-guard';
import { disclosedOf, tryGetSealedEventTimeline } from '../reports/event-timeline/event-timeline';
import { consentBasisOf } from '../reports/event-timeline/consent-basis';
import { expressionOf } from '../kernel/zod-outcome';
import { getPrincipal } from '../access/authenticate';
import { assertRole, canActForPractice } from '../access/principal';
import { getRequestTrace } from './access-log';
import { sendPostAnswer } from './post-answer';
import { auditEventListRead, auditEventRead, NOT_IN_SCOPE } from './audit-read';
import {
  encodeEventPage,
  encodePollFrom,
  listPracticeEvents,
  pollKindOf,
  pollWatermark,
  practiceEventQuery,
} from '../reports/practice-events/practice-events';
import { parseQueryOrThrow } from '../kernel/zod-outcome';
import { actorOf, assertPracticeAccess } from './request-context';
import { names, namesNoEvent } from './route-target';

/** The path of the busiest write, as the app mounts it (app.ts) and a HIS sends it (no query string). */
export const HIS_EVENTS_ROUTE = '/his/v1/events';

/** The query `POST /his/v1/events` takes: `dialect` alone (its value checked by `selectDialect`). */
const postEventsQuery = z.object({ dialect: z.string().optional() }).strict();

/**
 * `POST /his/v1/events`: a practice's events, each stored in the inbox (with its receipt on record) before the answer,
 * then queued for mapping. One handler for the app's own route, the his router's and the lean route (app.ts), so that
 * they share one queue-depth guard.
 */
export function postEventsHandler(ctx: PipelineContext): RequestHandler {
  const guard = new QueueDepthGuard(
    ctx.queues,
    ctx.config.MAX_QUEUE_DEPTH,
    ctx.config.QUEUE_FULL_RETRY_AFTER_S,
    ctx.log,
    ctx.metrics.apiGauges(),
  );
  return async (req, res) => {
    // Only a practice sends events; operators and auditors may read their status.
    assertRole(getPrincipal(res), 'practice');
    parseQueryOrThrow(postEventsQuery, req.query);
    const dialect = selectDialect(req);
    const records = dialect.split(req.body);
    if (records.length === 0) {
      throw new OperationOutcomeError(badRequest(NO_EVENTS, 'body'));
    }
    const full = guard.refusal();
    if (full) {
      ctx.metrics.events.inc({ status: 'queue-full' }, records.length);
      res.set('Retry-After', String(full.retryAfterSeconds));
      throw full;
    }
    const receipts = await ingestRecords(
      ctx,
      dialect,
      records,
      actorOf(req, res),
      (agb, location) => assertPracticeAccess(res, agb, expressionOf(location, ['practice', 'agb'])),
      getRequestTrace(res).traceId,
    );
    ctx.metrics.events.inc({ status: 'accepted' }, receipts.filter((r) => r.status === 'accepted').length);
    ctx.metrics.events.inc({ status: 'duplicate' }, receipts.filter((r) => r.status === 'duplicate').length);
    ctx.metrics.events.inc({ status: 'rejected' }, receipts.filter((r) => r.status === 'rejected').length);
    if (receipts.every((r) => r.status === 'rejected')) {
      // Nothing accepted: answer with the error itself, every issue naming its record and field.
      throw new OperationOutcomeError(mergeRejections(receipts));
    }
    // The busiest answer of the API: sent without the ETag that res.json would hash it for (see sendPostAnswer).
    sendPostAnswer(res.status(202), { receipts });
  };
}

/**
 * `/his/v1`: what GP practices use. Its POST of events is `postEvents`, which app.ts also mounts as a route of the app
 * itself, ahead of this router.
 */
export function hisRouter(ctx: PipelineContext, postEvents: RequestHandler = postEventsHandler(ctx)): Router {
  const router = exactRouter();

  /** Who reads an event's status and the dialects' schemas: the practice, and its operators and auditors. */
  const READERS = ['practice', 'operator', 'auditor'] as const;

  router.post('/events', postEvents);

  // A HIS polls its own events' states here rather than reading every receipt id: ids and states only, newest first,
  // a page at a time; the query holds no personal data (no BSN filter), only a state, a moment or a transaction id.
  router.get('/events', async (req, res) => {
    const principal = getPrincipal(res);
    assertRole(principal, ...READERS);
    const query = parseQueryOrThrow(practiceEventQuery, req.query);
    // Taken before the first page is read, and carried by the next links: a change a page could not see yet (its
    // transaction still running) or that moved an event past the pages read is after it.
    const watermark = query._page ? undefined : await pollWatermark(ctx.db, principal.practices, query._pollFrom);
    if (watermark?.givenFromAfterPresent) {
      throw new OperationOutcomeError(
        conflictField(
          'this pollFrom is from after the database’s present: the database was restored from a backup since it was ' +
            'taken. Poll again with _since, from a moment before the restored state (or your last poll’s time less ' +
            'a margin), and take the pollFrom of that answer',
          '_pollFrom',
        ),
      );
    }
    const pollFrom = query._page?.w ?? watermark!.pollFrom;
    const kind = pollKindOf(query);
    const page = await listPracticeEvents(ctx.db, principal.practices, {
      state: query.state,
      updatedSince: query._since,
      changedFrom: query._pollFrom,
      cursor: query._page && { at: query._page.a, id: query._page.i, direction: 'older' },
      size: query._count,
    });
    // What the practice's events are and where they stand: on record in each practice's chain, as a read of them.
    await auditEventListRead(ctx, req, res, page.rows);
    const nextQuery = new URLSearchParams(
      Object.entries({
        state: query.state,
        _since: query._since,
        _pollFrom: query._pollFrom === undefined ? undefined : encodePollFrom(query._pollFrom),
        _count: String(query._count),
      }).filter((e): e is [string, string] => e[1] !== undefined),
    );
    if (page.older) {
      nextQuery.set('_page', encodeEventPage({ k: kind, a: page.older.at, i: page.older.id, w: pollFrom }));
    }
    res.json({
      events: page.rows.map(
        ({ id, eventId, eventType, state, stateReason, receivedAt, updatedAt, deliveredBefore }) => ({
          id,
          eventId,
          eventType,
          state,
          stateReason,
          receivedAt,
          updatedAt,
          // A dead event the municipality had received (its resend failed): not one to send again, as the console says.
          deliveredBefore,
        }),
      ),
      // The next poll's `_pollFrom`, the same on every page of this one.
      pollFrom: encodePollFrom(pollFrom),
      ...(page.older ? { next: `/his/v1/events?${nextQuery.toString()}` } : {}),
    });
  });

  router.get('/events/:id', names('event', 'id'), async (req, res) => {
    assertRole(getPrincipal(res), ...READERS);
    const found = await tryGetSealedEventTimeline(ctx.db, req.params.id);
    if (!found) {
      throw new OperationOutcomeError(notFound);
    }
    const { sealed, timeline } = found;
    const principal = getPrincipal(res);
    if (!canActForPractice(principal, timeline.practice)) {
      // As for an unknown id: a caller must not learn which ids exist in other practices. The attempt is on record
      // in the event's practice's chain, as a refused read of an AuditEvent by id is.
      await auditEventRead(ctx, req, res, sealed, undefined, NOT_IN_SCOPE);
      throw new OperationOutcomeError(notFound);
    }
    await auditEventRead(ctx, req, res, sealed);
    res.json({
      ...timeline,
      // What reached each destination, on which consents, and the consents the latest decision rests on.
      ...(await consentBasisOf(ctx.db, timeline, await disclosedOf(ctx.db, timeline.id))),
      ...(timeline.eventType === 'referral.created'
        ? { referralStatus: await referralTimelineOf(ctx, timeline.id) }
        : {}),
    });
  });

  router.get('/schema/:dialect', namesNoEvent, (req, res) => {
    assertRole(getPrincipal(res), ...READERS);
    const dialect = tryGetDialect(req.params.dialect);
    if (!dialect) {
      const known = DIALECTS.map((d) => d.name).join(', ');
      throw new OperationOutcomeError(notFoundField(`No dialect of that name; the dialects are: ${known}`, 'dialect'));
    }
    res.json(dialect.jsonSchema());
  });

  return router;
}

const NO_EVENTS = 'The request holds no events';

/** By `?dialect=`, else by media type and body (a FHIR Bundle and a generic event are both JSON). */
function selectDialect(req: Request): HisDialect {
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const supported = [...new Set(DIALECTS.flatMap((d) => d.contentTypes))];
  if (!mediaType || !supported.includes(mediaType)) {
    throw new OperationOutcomeError(unsupportedMediaType(mediaType, supported));
  }
  // An empty body of a supported type (a day's export with nothing in it) is no fault of its media type.
  if (req.body === undefined || req.body === '') {
    throw new OperationOutcomeError(badRequest(NO_EVENTS, 'body'));
  }
  // A FHIR bundle of another version would be read as R4 and mean something else (as POST /fhir/Task refuses it).
  if (namesOtherFhirVersion(req.headers['content-type'] ?? '')) {
    throw new OperationOutcomeError(
      unsupportedMediaType(`${mediaType} of another FHIR version`, [
        ...supported,
        `JSON with ${SERVED_FHIR_VERSION_PARAMETER}`,
      ]),
    );
  }
  const named = typeof req.query.dialect === 'string' ? req.query.dialect : undefined;
  if (named) {
    const d = tryGetDialect(named);
    if (!d || !d.contentTypes.includes(mediaType)) {
      // Not the name sent: a code field answered back may carry whatever the client put there by mistake.
      const known = DIALECTS.filter((k) => k.contentTypes.includes(mediaType)).map((k) => k.name);
      throw new OperationOutcomeError(
        badRequest(`Unknown dialect for ${mediaType}; use one of ${known.join(', ')}`, 'dialect'),
      );
    }
    return d;
  }
  const d = DIALECTS.find((x) => x.contentTypes.includes(mediaType) && x.claims(req.body));
  if (!d) {
    throw new OperationOutcomeError(badRequest(`No dialect accepts this ${mediaType} body`, 'body'));
  }
  return d;
}

function mergeRejections(receipts: readonly Receipt[]): OperationOutcome {
  const issues: OperationOutcomeIssue[] = receipts.flatMap((r) => r.outcome?.issue ?? []);
  const first = receipts[0]?.outcome;
  // A lone rejection keeps its own status (400 for a wrong shape, 422 for a broken rule).
  return receipts.length === 1 && first ? first : unprocessableIssues(issues);
}
