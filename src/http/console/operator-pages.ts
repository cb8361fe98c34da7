import { notFound, OperationOutcomeError } from '@medplum/core';
import { isUuid } from '../../kernel/fhir/ids';
import type { Router, Request, Response } from 'express';
import { exactRouter } from '../exact-routing';
import type { ConsoleFlash, ConsoleSessionStore } from '../../access/console-sessions';
import type { PipelineContext } from '../../event/context';
import { pauseDestination, resumeDestination } from '../../event/destination-health';
import { endPendingToRemovedDestination } from '../../event/end-removed-destination';
import {
  END_PENDING_REASON,
  MAX_REASON_LENGTH,
  MIN_REASON_LENGTH,
  MIN_REASON_WORDS,
  reasonIssues,
} from '../reason-rule';
import { getDestinationStatus, type DestinationStatus } from '../../reports/destination-status/destination-status';
import { replayDelivery, replayLimitsOf, unreplayableReason } from '../../event/replay';
import { replayFeedback } from '../../event/feedback';
import { replayTrajectoryEvent } from '../../event/trajectory-events';
import {
  countDeadLetters,
  countMatchingDeadLetters,
  countSkippedDeadLetters,
  deliveryStates,
  listFeedbackByState,
  listTrajectoryEventsByState,
  pageDeadLetters,
  pendingToDestination,
  type FeedbackLetter,
  type TrajectoryLetter,
  type DeadLetterMatch,
  toPracticeReplayFilter,
  TO_PRACTICE_KINDS,
  type ToPracticeKind,
} from '../../reports/dead-letters/dead-letters';
import { parseOrThrow, pathExpression } from '../../kernel/zod-outcome';
import { EXACT_TIME } from '../../reports/time-id-page';
import type { AnswerSummary } from '../../event/receiver-answer';
import { type tryGetEventTimeline, tryGetSealedEventTimeline } from '../../reports/event-timeline/event-timeline';
import { findEventsByOwnId } from '../../reports/practice-events/practice-events';
import { redeliverForms } from './redeliver-pages';
import { getPrincipal } from '../../access/authenticate';
import { canActForPractice } from '../../access/principal';
import {
  OPERATOR_PAUSE_REASON,
  pendingToUnconfiguredDestinations,
  tryGetDeliveryWork,
  tryGetFeedback,
  tryGetSealedEvent,
  tryGetTrajectoryEvent,
} from '../../event/event-store';
import {
  assertEventIdInScope,
  assertEventInScope,
  assertTrajectoryEventInScope,
  agreementsInScope,
  destinationsInScope,
  eventInScopeOrRecorded,
  getDestinationInScope,
  operatorScopeOf,
} from '../operator-scope';
import { actorOf } from '../request-context';
import { replayDeadToPractice, replaySendable } from '../replay-matching';
import { redecideByOperator } from '../../event/redecide';
import {
  deliveryDeadButDeliveredBefore,
  entryDeadButDeliveredBefore,
  eventDeadButDeliveredBefore,
} from '../../event/dead-delivered-before';
import {
  auditEventListRead,
  auditEventRead,
  auditEventRowsRead,
  auditListRead,
  trajectoryEventListed,
} from '../audit-read';
import { field, getConsoleState, pageCursorOf, pageOf, sendPage } from './console-request';
import { configurationProblems } from './configuration-problems';
import { html, type SafeHtml } from './html';
import {
  agreementStatusInWords,
  formatNumber,
  formatTime,
  legalBasisInWords,
  purposesInWords,
  reasonsInWords,
  stateInWords,
  t,
  type Lang,
  type MessageKey,
} from './i18n';
import { csrfField, hiddenHeader, notice, pagingLinks, table } from './layout';
import { errorSummary, fieldRefusal, fieldState, requiredMark, type FormRefusal } from './form-fields';
import { names, namesNoEvent, type TargetDeclaration } from '../route-target';

/** Dead letters per page. */
const DEAD_LETTER_PAGE = 100;
/** Dead status updates and trajectory events to practices listed, the oldest of each (as the API lists them). */
const TO_PRACTICES_SHOWN = 200;
/** The most dead letters one "replay all" sends again (and the replay progress page follows). */
const REPLAY_CAP = 1000;

/** The most pending deliveries to a removed destination one press of the console's button ends (as the API's). */
const END_PENDING_CAP = 1000;

/** What the destinations page says after an action on a destination, by the flash it set. */
const DESTINATION_FLASH: Partial<Record<ConsoleFlash['what'], MessageKey>> = {
  paused: 'destinationPaused',
  resumed: 'destinationResumed',
  'ended-pending': 'destinationPendingEnded',
};

/** The words of a button that replays one kind of message to a practice. */
const REPLAY_KIND_TO_PRACTICE: Readonly<Record<ToPracticeKind, MessageKey>> = {
  statusUpdate: 'replayStatusUpdatesToPractice',
  trajectoryEvent: 'replayTrajectoryEventsToPractice',
};

/** A dead-letter filter from a form or query: destination id, the receiver's HTTP status, and up to when. */
function filterOf(source: unknown): DeadLetterMatch {
  const destination = field(source, 'destination');
  const status = field(source, 'status');
  const until = field(source, 'until');
  return {
    destination: destination !== undefined && /^[a-z0-9-]{1,48}$/.test(destination) ? destination : undefined,
    status: status !== undefined && /^[1-5]\d\d$/.test(status) ? Number(status) : undefined,
    until: until !== undefined && EXACT_TIME.safeParse(until).success ? until : undefined,
  };
}

/** `/console/operator/…`: queues, dead letters and replays, destinations, an event's timeline, configuration. */
export function operatorPages(ctx: PipelineContext, sessions: ConsoleSessionStore): Router {
  const router = exactRouter();

  router.get('/', async (req, res) => {
    const { lang } = pageOf(req, res);
    const dead = await countDeadLetters(ctx.db);
    const p = getPrincipal(res);
    const destinations = destinationsInScope(ctx, res);
    const rows: SafeHtml[] = [];
    // The deliver queues of its destinations; `map` and `feedback` whole (they are not split by scope).
    for (const q of ctx.queues.ofDestinations(destinations)) {
      const counts = await ctx.queues.timed(q.getJobCounts('waiting', 'active', 'delayed'), 'queue counts');
      const destination = q.name.startsWith('deliver.') ? q.name.slice('deliver.'.length) : undefined;
      const deadCount =
        destination !== undefined
          ? (dead.deliveries.get(destination) ?? 0)
          : q.name === 'feedback'
            ? [...dead.toPractices]
                .filter(([practice]) => canActForPractice(p, practice))
                .reduce((a, [, n]) => a + n, 0)
            : undefined;
      const deadCell =
        deadCount === undefined
          ? '–'
          : deadCount > 0 && destination !== undefined
            ? html`<a href="/console/operator/dead-letters?destination=${destination}">${deadCount}</a>`
            : deadCount > 0
              ? html`<a href="/console/operator/to-practices">${deadCount}</a>`
              : deadCount;
      rows.push(
        html`<tr>
          <th scope="row">${q.name}</th>
          <td>${counts.waiting ?? 0}</td>
          <td>${counts.active ?? 0}</td>
          <td>${counts.delayed ?? 0}</td>
          <td data-dead="${q.name}">${deadCell}</td>
        </tr>`,
      );
    }
    const statuses = await Promise.all(destinations.map((d) => getDestinationStatus(ctx, d)));
    const health = statuses.map(
      (s) =>
        html`<tr>
          <th scope="row">${s.id}</th>
          <td>
            ${healthWords(lang, s)}${s.paused && s.pausedAt ? ` (${t(lang, 'since', formatTime(lang, s.pausedAt))})` : ''}
          </td>
          <td>${s.consecutiveFailures} / ${s.pauseAfterFailures}</td>
        </tr>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'queuesTitle'),
      html`<p>${t(lang, 'queuesIntro')}</p>
        <div data-refresh="5" data-stale="${t(lang, 'refreshFailed')}" id="queues" aria-live="polite">
          ${table(t(lang, 'queuesTitle'), [t(lang, 'queue'), t(lang, 'waiting'), t(lang, 'active'), t(lang, 'delayed'), t(lang, 'dead')], rows, t(lang, 'none'))}
          ${table(t(lang, 'destinationsTitle'), [t(lang, 'destination'), t(lang, 'health'), t(lang, 'failures')], health, t(lang, 'none'))}
        </div>
        <p><a href="/console/operator" class="button">${t(lang, 'refresh')}</a></p>`,
    );
  });

  router.get('/dead-letters', async (req, res) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const { destination, status } = filterOf(req.query);
    const f = { destination, status };
    // An operator of some practices sees theirs only, and "replay all" offers those (operator-scope.ts).
    const scope = operatorScopeOf(res);
    const letters = await pageDeadLetters(ctx.db, f, pageCursorOf(req.query), DEAD_LETTER_PAGE, scope);
    // "Replay all N" counts what a replay sends; the list shows every dead letter, so the page says what it leaves.
    const limits = replayLimitsOf(ctx);
    const [matching, skipped] = await Promise.all([
      countMatchingDeadLetters(ctx.db, { ...f, replayableUnder: limits }, scope),
      countSkippedDeadLetters(ctx.db, { ...f, limit: 0 }, limits, scope),
    ]);
    const total = skipped.reduce((n, s) => n + s.count, matching.count);
    // What GET /admin/v1/dead-letters answers, recorded as it records it.
    await auditEventRowsRead(ctx, req, res, 'delivery', letters.rows);
    const rows = letters.rows.map(
      (d) =>
        html`<tr>
          <td>${formatTime(lang, d.updatedAt)}</td>
          <td>${d.destination}</td>
          <td>
            <a href="/console/operator/events?id=${d.inboxId}">${d.eventId}</a><br /><small
              >${d.practice ?? d.eventType}</small
            >${
              d.deliveredAt
                ? html`<br /><small>${t(lang, 'deadLetterDeliveredBefore', formatTime(lang, d.deliveredAt))}</small>`
                : ''
            }
          </td>
          <td>${d.attempts}</td>
          <td>
            ${answerWords(d.lastStatus, reasonsInWords(lang, d.lastError))}${
              d.answer ? answerSummaryHtml(lang, d.answer) : ''
            }
          </td>
          <td>
            ${
              d.purged
                ? html`<small>${t(lang, 'replayPurged')}</small>`
                : unreplayableReason(ctx, d) !== undefined
                  ? html`<small>${t(lang, 'replayNotCarried')}</small>`
                  : html`<form method="post" action="/console/operator/dead-letters/${d.id}/replay">
                      ${csrfField(page)}<button type="submit">
                        ${t(lang, 'replay')}<span class="visually-hidden">: ${d.eventId} → ${d.destination}</span>
                      </button>
                    </form>`
            }
          </td>
        </tr>`,
    );
    const destinations = destinationsInScope(ctx, res).map((d) => d.id);
    const filterForm = html`<form method="get" action="/console/operator/dead-letters" class="search">
      <div class="fields">
        <label
          >${t(lang, 'destination')}<select name="destination">
            <option value="">${t(lang, 'anyDestination')}</option>
            ${destinations.map(
              (d) => html`<option value="${d}" ${f.destination === d ? html` selected` : ''}>${d}</option>`,
            )}
          </select></label
        >
        <label
          >${t(lang, 'httpStatus')}<input
            name="status"
            inputmode="numeric"
            pattern="[1-5][0-9][0-9]"
            value="${f.status ?? ''}"
        /></label>
      </div>
      <button type="submit">${t(lang, 'filter')}</button>
    </form>`;
    // The button says how many it sends again, and the form holds the action to them: the same filter, only dead
    // letters up to the newest counted, and the oldest first when there are more than one replay may send.
    const replayAll =
      matching.count > 0
        ? html`<form method="post" action="/console/operator/dead-letters/replay">
            ${csrfField(page)} <input type="hidden" name="destination" value="${f.destination ?? ''}" /><input
              type="hidden"
              name="status"
              value="${f.status ?? ''}"
            /><input type="hidden" name="until" value="${matching.newest ?? ''}" />
            <button type="submit">
              ${
                matching.count <= REPLAY_CAP
                  ? t(lang, 'replayAll', matching.count)
                  : t(lang, 'replayOldest', REPLAY_CAP, matching.count)
              }
            </button>
          </form>`
        : '';
    const left = skipped.map(
      (s) =>
        html`<li>${t(lang, s.reason === 'purged' ? 'replaySkippedPurged' : 'replaySkippedNotCarried', s.count)}</li>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'deadLettersTitle'),
      html`${filterForm}
      ${total > 0 ? html`<p>${t(lang, 'shownOfMatching', rows.length, total, DEAD_LETTER_PAGE)}</p>` : ''}
      ${table(t(lang, 'deadLettersTitle'), [t(lang, 'when'), t(lang, 'destination'), t(lang, 'eventId'), t(lang, 'attempts'), t(lang, 'receiverAnswer'), hiddenHeader(t(lang, 'action'))], rows, t(lang, 'none'))}
      ${pagingLinks(lang, letters, '/console/operator/dead-letters', f)} ${replayAll}
      ${
        left.length > 0
          ? html`<ul class="replay-skipped">
              ${left}
            </ul>`
          : ''
      }`,
    );
  });

  const remember = async (res: Response, replayed: string[]) => {
    const state = getConsoleState(res);
    if (state.session && state.token) {
      await sessions.update(state.token, { ...state.session, lastReplay: replayed.slice(0, REPLAY_CAP) });
    }
  };

  /** Says once, on the page redirected to, what an action did (`ConsoleSession.flash`). */
  const setFlash = async (res: Response, flash: ConsoleFlash) => {
    const state = getConsoleState(res);
    if (state.session && state.token) {
      await sessions.update(state.token, { ...state.session, flash });
    }
  };
  /**
   * The flash of one of `kinds` (about `about`, when given), if the session holds one: taken out, so a reload does
   * not say it again.
   */
  const takeFlash = async (
    res: Response,
    kinds: readonly ConsoleFlash['what'][],
    about?: string,
  ): Promise<ConsoleFlash | undefined> => {
    const state = getConsoleState(res);
    const flash = state.session?.flash;
    if (!state.session || !state.token || !flash || !kinds.includes(flash.what)) {
      return undefined;
    }
    if (about !== undefined && flash.about !== about) {
      return undefined;
    }
    await sessions.update(state.token, { ...state.session, flash: undefined });
    return flash;
  };

  router.post('/dead-letters/:id/replay', names('delivery', 'id'), async (req, res) => {
    const id = req.params.id;
    const delivery = isUuid(id) ? await tryGetDeliveryWork(ctx.db, id) : undefined;
    const event = delivery && (await tryGetSealedEvent(ctx.db, delivery.inbox_id));
    if (!event) {
      throw new OperationOutcomeError(notFound);
    }
    await assertEventInScope(ctx, req, res, event);
    const result = await replayDelivery(ctx, id, actorOf(req, res));
    if (result !== 'replayed') {
      const { lang } = pageOf(req, res);
      const why = { 'not-carried': 'replayNotCarried', purged: 'replayPurged', 'not-dead': 'replayNotDead' } as const;
      sendPage(req, res, t(lang, 'deadLettersTitle'), notice('error', t(lang, why[result])), 409);
      return;
    }
    await remember(res, [id]);
    res.redirect(303, '/console/operator/replays');
  });

  /** Decides a denied event again (audited, as the API's redecide); a permit sends it. */
  router.post('/events/:id/redecide', names('event', 'id'), async (req, res) => {
    const id = req.params.id;
    await assertEventIdInScope(ctx, req, res, id);
    const done = await redecideByOperator(ctx, id, actorOf(req, res));
    if (!done) {
      throw new OperationOutcomeError(notFound);
    }
    await setFlash(res, { what: done.result === 'permit' ? 'redecided-permit' : 'redecided-not', about: id });
    res.redirect(303, `/console/operator/events?id=${id}`);
  });

  router.post('/dead-letters/replay', async (req, res) => {
    const replayed = await replaySendable(
      ctx,
      { ...filterOf(req.body), limit: REPLAY_CAP },
      operatorScopeOf(res),
      actorOf(req, res),
    );
    await remember(res, replayed);
    res.redirect(303, '/console/operator/replays');
  });

  // Status updates and trajectory events municipalities sent that did not reach the practice's HIS: listed and
  // replayed as GET /admin/v1/feedback, /admin/v1/trajectory-events and their replay routes do (the same functions,
  // the same audit: an operator action on the practice's chain).
  router.get('/to-practices', async (req, res) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const [feedback, trajectories] = await Promise.all([
      listFeedbackByState(ctx.db, { state: 'dead', limit: TO_PRACTICES_SHOWN }, operatorScopeOf(res)),
      listTrajectoryEventsByState(ctx.db, { state: 'dead', limit: TO_PRACTICES_SHOWN }, operatorScopeOf(res)),
    ]);
    await Promise.all([
      auditEventRowsRead(ctx, req, res, 'feedback', feedback),
      auditListRead(ctx, req, res, 'trajectory_event', trajectories.map(trajectoryEventListed)),
    ]);
    const replayForm = (path: string) =>
      html`<form method="post" action="/console/operator/${path}/replay">
        ${csrfField(page)}<button type="submit">${t(lang, 'replay')}</button>
      </form>`;
    const answer = (d: FeedbackLetter | TrajectoryLetter) =>
      html`${answerWords(d.lastStatus, d.lastError)}${d.answer ? answerSummaryHtml(lang, d.answer) : ''}`;
    const statusRows = feedback.map(
      (f) =>
        html`<tr>
          <td>${formatTime(lang, f.updatedAt)}</td>
          <td>${f.practice}</td>
          <td>${f.municipality}</td>
          <td>${t(lang, `referralStatus_${f.status}` as MessageKey)}</td>
          <td><a href="/console/operator/events?id=${f.inboxId}">${f.inboxId}</a></td>
          <td>${f.attempts}</td>
          <td>${answer(f)}</td>
          <td>${replayForm(`feedback/${f.id}`)}</td>
        </tr>`,
    );
    const trajectoryRows = trajectories.map(
      (e) =>
        html`<tr>
          <td>${formatTime(lang, e.updatedAt)}</td>
          <td>${e.practice}</td>
          <td>${e.municipality}</td>
          <td>${e.type}</td>
          <td>${e.eventId}</td>
          <td>${e.attempts}</td>
          <td>${answer(e)}</td>
          <td>${replayForm(`trajectory-events/${e.id}`)}</td>
        </tr>`,
    );
    // "Replay all N" per practice in scope: a HIS away for a weekend leaves hundreds, more than this page lists. Where
    // both kinds wait, a button per kind too: a HIS may refuse only one (its endpoint for trajectories down).
    const principal = getPrincipal(res);
    const replayAllForm = (practice: string, label: string, kind?: ToPracticeKind) =>
      html`<form method="post" action="/console/operator/to-practices/replay">
        ${csrfField(page)}<input type="hidden" name="practice" value="${practice}" />
        ${kind ? html`<input type="hidden" name="kind" value="${kind}" />` : ''}
        <button type="submit">${label}</button>
      </form>`;
    const replayAll = [...(await countDeadLetters(ctx.db)).toPracticesByKind]
      .map(([practice, byKind]) => [practice, byKind, byKind.statusUpdate + byKind.trajectoryEvent] as const)
      .filter(([practice, , n]) => n > 0 && canActForPractice(principal, practice))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([practice, byKind, n]) => [
        replayAllForm(
          practice,
          n <= REPLAY_CAP
            ? t(lang, 'replayAllToPractice', n, practice)
            : t(lang, 'replayOldestToPractice', REPLAY_CAP, n, practice),
        ),
        ...(byKind.statusUpdate > 0 && byKind.trajectoryEvent > 0
          ? TO_PRACTICE_KINDS.map((kind) =>
              replayAllForm(practice, t(lang, REPLAY_KIND_TO_PRACTICE[kind], byKind[kind], practice), kind),
            )
          : []),
      ]);
    sendPage(
      req,
      res,
      t(lang, 'toPracticesTitle'),
      html`${field(req.query, 'replayed') !== undefined ? notice('ok', t(lang, 'replayedToPractice')) : ''}
        <p>${t(lang, 'toPracticesIntro', TO_PRACTICES_SHOWN)}</p>
        ${replayAll}
        ${table(t(lang, 'statusUpdatesToPractices'), [t(lang, 'when'), t(lang, 'practice'), t(lang, 'municipality'), t(lang, 'state'), t(lang, 'referralEvent'), t(lang, 'attempts'), t(lang, 'receiverAnswer'), hiddenHeader(t(lang, 'action'))], statusRows, t(lang, 'none'))}
        ${table(t(lang, 'trajectoryEventsToPractices'), [t(lang, 'when'), t(lang, 'practice'), t(lang, 'municipality'), t(lang, 'type'), t(lang, 'municipalityEventId'), t(lang, 'attempts'), t(lang, 'receiverAnswer'), hiddenHeader(t(lang, 'action'))], trajectoryRows, t(lang, 'none'))}`,
    );
  });

  /** Replays a practice's dead messages, the oldest REPLAY_CAP of them, as POST /admin/v1/feedback/replay does. */
  router.post('/to-practices/replay', async (req, res) => {
    const filter = parseOrThrow(
      toPracticeReplayFilter,
      { practice: field(req.body, 'practice'), kind: field(req.body, 'kind'), limit: REPLAY_CAP },
      (path) => pathExpression(path, 'practice'),
      400,
    );
    await replayDeadToPractice(ctx, filter, operatorScopeOf(res), actorOf(req, res));
    res.redirect(303, '/console/operator/to-practices?replayed=all');
  });

  /**
   * Replays one dead message to a practice with the API's function and the API's checks: 404 for none, or one outside
   * the operator's scope (the attempt on record, as operator-scope.ts does), 409 when it is not dead.
   */
  const replayToPractice = (
    path: string,
    target: TargetDeclaration,
    inScope: (id: string, req: Request, res: Response) => Promise<boolean>,
    replay: (id: string, req: Request, res: Response) => Promise<boolean>,
  ) =>
    router.post(path, target, async (req, res) => {
      const id = field(req.params, 'id') ?? '';
      if (!isUuid(id) || !(await inScope(id, req, res))) {
        throw new OperationOutcomeError(notFound);
      }
      if (!(await replay(id, req, res))) {
        const { lang } = pageOf(req, res);
        sendPage(req, res, t(lang, 'toPracticesTitle'), notice('error', t(lang, 'replayNotDeadToPractice')), 409);
        return;
      }
      res.redirect(303, '/console/operator/to-practices?replayed=1');
    });
  replayToPractice(
    '/feedback/:id/replay',
    names('feedback', 'id'),
    async (id, req, res) => {
      const feedback = await tryGetFeedback(ctx.db, id);
      const event = feedback && (await tryGetSealedEvent(ctx.db, feedback.inbox_id));
      if (event) {
        await assertEventInScope(ctx, req, res, event);
      }
      return event !== undefined;
    },
    (id, req, res) => replayFeedback(ctx, id, actorOf(req, res)),
  );
  replayToPractice(
    '/trajectory-events/:id/replay',
    // A trajectory event is a row of its own, not an event a refusal can be recorded against (as in the API).
    namesNoEvent,
    async (id, req, res) => {
      const trajectoryEvent = await tryGetTrajectoryEvent(ctx.db, id);
      if (trajectoryEvent) {
        await assertTrajectoryEventInScope(ctx, req, res, trajectoryEvent);
      }
      return trajectoryEvent !== undefined;
    },
    (id, req, res) => replayTrajectoryEvent(ctx, id, actorOf(req, res)),
  );

  router.get('/replays', async (req, res) => {
    const { lang } = pageOf(req, res);
    const ids = getConsoleState(res).session?.lastReplay ?? [];
    if (ids.length === 0) {
      sendPage(req, res, t(lang, 'replayTitle'), notice('info', t(lang, 'replayNone')));
      return;
    }
    const states = await deliveryStates(ctx.db, ids);
    const delivered = states.filter((s) => s.state === 'delivered').length;
    const deadAgain = states.filter((s) => s.state === 'dead').length;
    const pending = states.length - delivered - deadAgain;
    const rows = states.map(
      (s) =>
        html`<tr>
          <td>
            <a href="/console/operator/events?id=${s.inboxId}">${s.eventId}</a><br /><small
              >${t(lang, 'practice')} ${s.practice}</small
            >
          </td>
          <td>${s.destination}</td>
          <td class="state-${s.state}">${stateInWords(lang, s.state)}</td>
          <td>${s.attempts}</td>
          <td>${s.lastStatus ?? ''}</td>
        </tr>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'replayTitle'),
      html`<div
          ${pending > 0 ? html`data-refresh="2"` : ''}
          data-stale="${t(lang, 'refreshFailed')}"
          id="replay-progress"
          aria-live="polite"
        >
          <p class="progress">
            <progress max="${states.length}" value="${delivered + deadAgain}">${delivered}/${states.length}</progress>
            <span id="replay-summary">${t(lang, 'replayProgress', delivered, states.length, pending, deadAgain)}</span>
          </p>
          ${table(t(lang, 'deliveries'), [t(lang, 'eventId'), t(lang, 'destination'), t(lang, 'state'), t(lang, 'attempts'), t(lang, 'httpStatus')], rows, t(lang, 'none'))}
        </div>
        <p><a href="/console/operator/dead-letters">${t(lang, 'backToDeadLetters')}</a></p>`,
    );
  });

  /**
   * The destinations with their health, and a form to pause or resume each; a pause refused (no reason given) is
   * said above them, tied to that destination's reason field.
   */
  const sendDestinations = async (
    req: Request,
    res: Response,
    refused?: { destination: string; refusal: FormRefusal },
  ): Promise<void> => {
    const page = pageOf(req, res);
    const { lang } = page;
    const statuses = await Promise.all(destinationsInScope(ctx, res).map((d) => getDestinationStatus(ctx, d)));
    const done = refused ? undefined : await takeFlash(res, ['paused', 'resumed', 'ended-pending']);
    const rows = statuses.map((s) => {
      const refusal = refused?.destination === s.id ? refused.refusal : undefined;
      const action = s.paused
        ? html`<form method="post" action="/console/operator/destinations/${s.id}/resume">
            ${csrfField(page)}<button type="submit">${t(lang, 'resume')}</button>
          </form>`
        : html`<form method="post" action="/console/operator/destinations/${s.id}/pause" class="inline">
            ${csrfField(page)}
            <label
              >${t(lang, 'pauseReason')}${requiredMark(lang)}<input
                name="reason"
                required
                maxlength="500"
                ${fieldState(refusal, `reason-${s.id}`)} /></label
            ><button type="submit">${t(lang, 'pause')}</button>
          </form>`;
      return html`<tr>
        <th scope="row">${s.id}</th>
        <td>${s.municipality}</td>
        <td>${s.adapter}</td>
        <td>
          ${healthWords(lang, s)}${s.paused && s.pausedAt ? ` (${t(lang, 'since', formatTime(lang, s.pausedAt))})` : ''}
        </td>
        <td>${s.consecutiveFailures} / ${s.pauseAfterFailures}</td>
        <td class="ids">${s.lastError ?? ''}<br /><small>${formatTime(lang, s.lastFailureAt)}</small></td>
        <td class="ids">
          ${probeWords(lang, s.lastProbeResult)}${s.lastProbeResult ? html`<br /><small>${formatTime(lang, s.lastProbeAt)}</small>` : ''}
        </td>
        <td>${action}</td>
      </tr>`;
    });
    sendPage(
      req,
      res,
      t(lang, 'destinationsTitle'),
      html`${refused ? errorSummary(refused.refusal) : ''}${done ? notice('ok', t(lang, DESTINATION_FLASH[done.what] ?? 'destinationResumed', done.about)) : ''}${table(
        t(lang, 'destinationsTitle'),
        [
          t(lang, 'destination'),
          t(lang, 'municipality'),
          t(lang, 'adapter'),
          t(lang, 'health'),
          t(lang, 'failures'),
          t(lang, 'lastError'),
          t(lang, 'lastProbe'),
          hiddenHeader(t(lang, 'action')),
        ],
        rows,
        t(lang, 'none'),
      )}${await removedDestinations(req, res, refused)}`,
      refused ? 422 : 200,
    );
  };

  /**
   * The destinations no longer configured that hold pending deliveries within the operator's scope, each with a form
   * to end them (a reason required): what start-up, config:check and the alert name, with the one way to end them
   * short of configuring the destination again.
   */
  const removedDestinations = async (
    req: Request,
    res: Response,
    refused?: { destination: string; refusal: FormRefusal },
  ): Promise<SafeHtml | ''> => {
    const page = pageOf(req, res);
    const { lang } = page;
    const scope = operatorScopeOf(res);
    const gone = await pendingToUnconfiguredDestinations(
      ctx.db,
      ctx.registry.destinations.map((d) => d.id),
    );
    const inScope = await Promise.all(
      gone.map(async (g) => ({ ...g, pending: (await pendingToDestination(ctx.db, g.destination, scope, 0)).total })),
    );
    const rows = inScope
      .filter((g) => g.pending > 0)
      .map((g) => {
        const id = `reason-end-${g.destination}`;
        const refusal = refused?.destination === g.destination ? refused.refusal : undefined;
        return html`<tr>
          <th scope="row">${g.destination}</th>
          <td>${formatNumber(lang, g.pending)}</td>
          <td>${formatTime(lang, new Date(Date.now() - g.oldestSeconds * 1000))}</td>
          <td>
            <form method="post" action="/console/operator/destinations/${g.destination}/end-pending" class="inline">
              ${csrfField(page)}
              <label
                >${t(lang, 'endPendingReason')}${requiredMark(lang)}<input
                  name="reason"
                  required
                  maxlength="500"
                  ${fieldState(refusal, id)} /></label
              ><button type="submit">
                ${t(lang, 'endPending', formatNumber(lang, Math.min(g.pending, END_PENDING_CAP)))}
              </button>
            </form>
          </td>
        </tr>`;
      });
    if (rows.length === 0) {
      return '';
    }
    return html`<h2>${t(lang, 'removedDestinationsTitle')}</h2>
      <p>${t(lang, 'removedDestinationsIntro')}</p>
      ${table(
        t(lang, 'removedDestinationsTitle'),
        [t(lang, 'destination'), t(lang, 'pendingCount'), t(lang, 'waitingSince'), hiddenHeader(t(lang, 'action'))],
        rows,
        t(lang, 'none'),
      )}`;
  };

  router.get('/destinations', async (req, res) => {
    await sendDestinations(req, res);
  });

  // The reason is required here (the API takes a pause without one): it is what the next operator, and the audit,
  // read to know why nothing goes out. The form asks for it; a post without one is refused, nothing paused.
  router.post('/destinations/:id/pause', namesNoEvent, async (req, res) => {
    const destination = (await getDestinationInScope(ctx, req, res, req.params.id)).id;
    const reason = field(req.body, 'reason')?.slice(0, 500);
    if (reason === undefined) {
      const { lang } = pageOf(req, res);
      const refusal = fieldRefusal(`reason-${destination}`, t(lang, 'pauseReasonMissing', destination));
      await sendDestinations(req, res, { destination, refusal });
      return;
    }
    await pauseDestination(ctx, destination, 'operator', reason, actorOf(req, res));
    await setFlash(res, { what: 'paused', about: destination });
    res.redirect(303, '/console/operator/destinations');
  });

  // As the API's route (`POST /admin/v1/destinations/{id}/end-pending`), the oldest END_PENDING_CAP at a time; the
  // reason is required, and a post without one is refused with nothing ended.
  router.post('/destinations/:id/end-pending', namesNoEvent, async (req, res) => {
    const destination = req.params.id;
    if (ctx.registry.destinations.some((d) => d.id === destination)) {
      await getDestinationInScope(ctx, req, res, destination);
    }
    const { deliveries, total } = await pendingToDestination(
      ctx.db,
      destination,
      operatorScopeOf(res),
      END_PENDING_CAP,
    );
    if (total === 0 && !ctx.registry.destinations.some((d) => d.id === destination)) {
      throw new OperationOutcomeError(notFound);
    }
    const reason = field(req.body, 'reason')?.slice(0, MAX_REASON_LENGTH);
    // The API's rule (two words, 12 characters), in the console's words.
    const [unfit] = reasonIssues(reason, END_PENDING_REASON);
    if (reason === undefined || unfit) {
      const { lang } = pageOf(req, res);
      const words =
        unfit?.code === 'business-rule'
          ? t(lang, 'endPendingReasonTooShort', destination, MIN_REASON_WORDS, MIN_REASON_LENGTH)
          : t(lang, 'endPendingReasonMissing', destination);
      const refusal = fieldRefusal(`reason-end-${destination}`, words);
      await sendDestinations(req, res, { destination, refusal });
      return;
    }
    await endPendingToRemovedDestination(ctx, destination, deliveries, actorOf(req, res), reason);
    await setFlash(res, { what: 'ended-pending', about: destination });
    res.redirect(303, '/console/operator/destinations');
  });

  router.post('/destinations/:id/resume', namesNoEvent, async (req, res) => {
    const destination = (await getDestinationInScope(ctx, req, res, req.params.id)).id;
    await resumeDestination(ctx, destination, 'operator', actorOf(req, res));
    await setFlash(res, { what: 'resumed', about: destination });
    res.redirect(303, '/console/operator/destinations');
  });

  router.get('/events', async (req, res) => {
    const page = pageOf(req, res);
    const { lang } = page;
    const id = field(req.query, 'id')?.slice(0, 200);
    const practice = field(req.query, 'practice');
    /** The form, its id field in the `state` a refusal gives it (`fieldState`). */
    const form = (state = html``) =>
      html`<form method="get" action="/console/operator/events" class="search">
        <label
          >${t(lang, 'eventLookup')}<input name="id" autocomplete="off" size="40" value="${id ?? ''}" ${state}
        /></label>
        <label>${t(lang, 'practice')}<input name="practice" inputmode="numeric" value="${practice ?? ''}" /></label>
        <button type="submit">${t(lang, 'show')}</button>
      </form>`;
    if (id === undefined) {
      sendPage(req, res, t(lang, 'eventTitle'), form());
      return;
    }
    // Not jeugdbrug's id: the practice's own event id, in the practice named or in each practice configured.
    const found = isUuid(id)
      ? [{ id }]
      : await findEventsByOwnId(
          ctx.db,
          practice === undefined
            ? getPrincipal(res).practices
            : canActForPractice(getPrincipal(res), practice)
              ? [practice]
              : [],
          id,
        );
    if (found.length > 1) {
      const listed = found as Awaited<ReturnType<typeof findEventsByOwnId>>;
      // Several practices' events under one own id: each practice's chain records that its event was listed.
      await auditEventListRead(ctx, req, res, listed);
      const rows = listed.map(
        (e) =>
          html`<tr>
            <td>${formatTime(lang, e.receivedAt)}</td>
            <td><a href="/console/operator/events?id=${e.id}">${e.id}</a></td>
            <td>${e.practice}</td>
            <td>${e.eventType}</td>
            <td>${stateInWords(lang, e.state)}</td>
          </tr>`,
      );
      sendPage(
        req,
        res,
        t(lang, 'eventTitle'),
        html`${form()}${table(t(lang, 'eventTitle'), [t(lang, 'when'), 'id', t(lang, 'practice'), t(lang, 'type'), t(lang, 'state')], rows, t(lang, 'none'))}`,
      );
      return;
    }
    const opened = found[0] ? await tryGetSealedEventTimeline(ctx.db, found[0].id) : undefined;
    // Another practice's event looks like an unknown one to an operator of some practices; the look is on record.
    if (!opened || !(await eventInScopeOrRecorded(ctx, req, res, opened.sealed))) {
      const refusal = fieldRefusal('id', t(lang, 'eventNotFound', t(lang, 'eventLookup')));
      sendPage(req, res, t(lang, 'eventTitle'), html`${errorSummary(refusal)}${form(fieldState(refusal, 'id'))}`, 404);
      return;
    }
    const { sealed, timeline } = opened;
    // What GET /his/v1/events/{id} answers an operator, recorded as the API records it: with the child.
    await auditEventRead(ctx, req, res, sealed);
    // A denied event can be decided again here, as POST /admin/v1/events/{id}/redecide does (a consent came late).
    const redecided = await takeFlash(res, ['redecided-permit', 'redecided-not'], timeline.id);
    const outcome =
      redecided === undefined
        ? ''
        : redecided.what === 'redecided-permit'
          ? notice('ok', t(lang, 'redecidedPermit'))
          : notice('info', t(lang, 'redecidedNot'));
    const redecide =
      timeline.state === 'denied'
        ? html`<form method="post" action="/console/operator/events/${timeline.id}/redecide">
            ${csrfField(page)}<button type="submit">${t(lang, 'redecide')}</button>
          </form>`
        : '';
    sendPage(
      req,
      res,
      t(lang, 'eventTitle'),
      html`${form()}${outcome}${redecide}${timelineHtml(lang, timeline)}${redeliverForms(
        page,
        timeline.deliveries,
        !sealed.canonical && !sealed.payload,
      )}`,
    );
  });

  router.get('/configuration', (req, res) => {
    const { lang } = pageOf(req, res);
    const agreementsShown = agreementsInScope(ctx, res);
    const destinationsShown = destinationsInScope(ctx, res);
    // Problems are found in the whole configuration (an agreement's destination may be out of the scope), and shown
    // for the agreements and destinations within it: each problem names one first.
    const shown = new Set([...agreementsShown.map((a) => a.id), ...destinationsShown.map((d) => d.id)]);
    const problems = configurationProblems(ctx.registry, new Date()).filter((p) => shown.has(p.args[0] ?? ''));
    const agreements = agreementsShown.map(
      (a) =>
        html`<tr>
          <th scope="row">${a.id} v${a.version}</th>
          <td>${agreementStatusInWords(lang, a.status)}</td>
          <td>${a.practice.name ?? ''} ${a.practice.agb}</td>
          <td>${a.municipality.name} ${a.municipality.code}</td>
          <td>${purposesInWords(lang, a.purposes)}</td>
          <td>${legalBasisInWords(lang, a.legalBasis)}</td>
          <td>${a.validFrom} – ${a.validTo ?? '…'}</td>
        </tr>`,
    );
    const destinations = destinationsShown.map(
      (d) =>
        html`<tr>
          <th scope="row">${d.id}</th>
          <td>${d.municipality}</td>
          <td>${d.adapter}</td>
          <td>${d.baseUrl}</td>
          <td>${d.auth.type === 'none' ? t(lang, 'authNone') : d.auth.type}</td>
        </tr>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'configurationTitle'),
      // Which build loaded it: what an operator compares with the CHANGELOG after an upgrade.
      html`<p class="build">${t(lang, 'thisBuild', ctx.build.version, ctx.build.commit)}</p>
        <h2>${t(lang, 'problems')}</h2>
        ${
          problems.length === 0
            ? notice('ok', t(lang, 'noProblems'))
            : html`<ul class="problems">
                ${problems.map((p) => html`<li>${t(lang, p.key, ...p.args)}</li>`)}
              </ul>`
        }
        ${table(t(lang, 'agreements'), ['id', t(lang, 'state'), t(lang, 'practice'), t(lang, 'municipality'), t(lang, 'purpose'), t(lang, 'legalBasis'), t(lang, 'validity')], agreements, t(lang, 'none'))}
        ${table(t(lang, 'destinations'), ['id', t(lang, 'municipality'), t(lang, 'adapter'), 'URL', t(lang, 'authentication')], destinations, t(lang, 'none'))}`,
    );
  });

  return router;
}

/**
 * A destination's health in words: running, or paused by whom and why (an automatic pause's reason in words), and
 * whether a trial delivery is letting it resume (half-open). An operator's pause names the principal as the audit
 * does (what the console shows operators as "signed in as"); one recorded before that was kept names none.
 */
function healthWords(
  lang: Lang,
  s: Pick<DestinationStatus, 'paused' | 'pausedBy' | 'pauseReason' | 'pausedByPrincipal' | 'halfOpen'>,
): string {
  if (!s.paused) {
    return t(lang, 'running');
  }
  const reason = s.pauseReason ?? '';
  if (s.pausedBy === 'operator') {
    // A pause through the API without a reason records the API's default (English): said in the page's words.
    if (reason === OPERATOR_PAUSE_REASON || reason === '') {
      return s.pausedByPrincipal
        ? t(lang, 'pausedByNamedOperatorNoReason', s.pausedByPrincipal)
        : t(lang, 'pausedByOperatorNoReason');
    }
    return s.pausedByPrincipal
      ? t(lang, 'pausedByNamedOperator', s.pausedByPrincipal, reason)
      : t(lang, 'pausedByOperator', reason);
  }
  // As destination-health.ts records an automatic pause: "<n> consecutive failures, last: <error>".
  const failures = /^(\d+) consecutive failures, last: ([\s\S]*)$/.exec(reason);
  const paused = failures
    ? t(lang, 'pausedAfterFailures', failures[1] ?? '', failures[2] ?? '')
    : t(lang, 'pausedAutomatically', reason);
  return s.halfOpen ? `${paused}; ${t(lang, 'halfOpen')}` : paused;
}

/** The health probe's last result (`up: …` or `down: …`, destination-health-monitor.ts) in words. */
function probeWords(lang: Lang, result: string | null): string {
  const m = /^(up|down): ([\s\S]*)$/.exec(result ?? '');
  return m ? t(lang, m[1] === 'up' ? 'probeUp' : 'probeDown', m[2] ?? '') : (result ?? '');
}

/**
 * The receiver's last answer to a delivery: its HTTP status, and what went wrong when that says more than the
 * status does (a network error, a refusal in words); a failure recorded as `HTTP 422` is not said twice.
 */
/**
 * The receiver's answer as an operator may see it (receiver-answer.ts): its type and size, an OperationOutcome's
 * issues by severity, code and path. Its text stays encrypted: it may echo a child's data.
 */
function answerSummaryHtml(lang: Lang, a: AnswerSummary): SafeHtml {
  const issues = (a.issues ?? []).map(
    (i) =>
      html`<li>
        ${[i.severity, i.code].filter((w) => w !== undefined).join(' ') || t(lang, 'answerIssueWithheld')}${
          i.expression ? html` <code>${i.expression.join(', ')}</code>` : ''
        }
      </li>`,
  );
  return html`<br /><small
      >${t(lang, 'answerTypeSize', a.contentType ?? t(lang, 'answerTypeNone'), formatNumber(lang, a.size))}</small
    >${a.location === undefined ? '' : html`<br /><small>${t(lang, 'answerLocation')} <code>${a.location}</code></small>`}${
      issues.length > 0
        ? html`<ul class="issues">
            ${issues}
          </ul>`
        : ''
    }`;
}

function answerWords(status: number | null, error: string | null): string {
  const http = status !== null ? `HTTP ${status}` : undefined;
  return [http, error !== null && error !== http ? error : undefined].filter((x) => x !== undefined).join(' — ');
}

/**
 * One event's life in words: states passed through, with reasons, and its deliveries. For the practice (`practice`)
 * a dead letter of a delivery the receiver had accepted before (a redelivery that failed) is delivered, the failed
 * resend noted: the municipality has it; an operator reads it as the dead letter it replays.
 */
export function timelineHtml(
  lang: Lang,
  e: NonNullable<Awaited<ReturnType<typeof tryGetEventTimeline>>>,
  audience: 'operator' | 'practice' = 'operator',
): SafeHtml {
  const stateWords = (state: string, deadButDeliveredBefore: boolean) =>
    audience === 'practice' && deadButDeliveredBefore ? t(lang, 'resendFailed') : stateInWords(lang, state);
  const history = e.history.map(
    (h) =>
      html`<li>
        <time datetime="${new Date(h.at).toISOString()}">${formatTime(lang, h.at)}</time>
        <strong>${stateWords(h.state, entryDeadButDeliveredBefore(h.state, h.reason))}</strong>${
          h.reason ? html` — ${reasonsInWords(lang, h.reason)}` : ''
        }
      </li>`,
  );
  const deliveries = e.deliveries.map(
    (d) =>
      html`<tr>
        <td>${d.destination}</td>
        <td>${stateWords(d.state, deliveryDeadButDeliveredBefore(d))}</td>
        <td>${d.attempts}</td>
        <td class="ids">${answerWords(d.lastStatus, d.lastError)}</td>
        <td>${formatTime(lang, d.deliveredAt)}</td>
      </tr>`,
  );
  // Shown only where something was withdrawn: the municipality was told to stop processing this event's data.
  const notices = e.withdrawalNotices.map(
    (n) =>
      html`<tr>
        <td>${n.destination}</td>
        <td>${stateInWords(lang, n.state)}</td>
        <td class="ids">${n.consentEvent}</td>
        <td>${formatTime(lang, n.deliveredAt)}</td>
      </tr>`,
  );
  return html`<dl class="facts">
      <dt>${t(lang, 'eventId')}</dt>
      <dd>${e.eventId} (${e.id})</dd>
      <dt>${t(lang, 'type')}</dt>
      <dd>${e.eventType}</dd>
      <dt>${t(lang, 'practice')}</dt>
      <dd>${e.practice}</dd>
      <dt>${t(lang, 'state')}</dt>
      <dd>${stateWords(e.state, eventDeadButDeliveredBefore(e.state, e.deliveries))}</dd>
    </dl>
    <h2>${t(lang, 'history')}</h2>
    <ol class="timeline">
      ${history}
    </ol>
    ${table(t(lang, 'deliveries'), [t(lang, 'destination'), t(lang, 'state'), t(lang, 'attempts'), t(lang, 'lastAnswer'), t(lang, 'deliveredOn')], deliveries, t(lang, 'none'))}
    ${notices.length > 0 ? table(t(lang, 'withdrawalNotices'), [t(lang, 'destination'), t(lang, 'state'), t(lang, 'consentEvent'), t(lang, 'deliveredOn')], notices, t(lang, 'none')) : ''}`;
}
