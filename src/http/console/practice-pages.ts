import { municipalityName } from './organisation-names';
import { notFound, OperationOutcomeError } from '@medplum/core';
import type { Consent, RelatedPerson } from '@medplum/fhirtypes';
import type { Router } from 'express';
import { exactRouter } from '../exact-routing';
import { auditEventListRead, auditEventRead, auditRefusedReads } from '../audit-read';
import { openEvent, type StoredRecord } from '../../event/stored-event';
import type { PipelineContext } from '../../event/context';
import { childConsentsOnce, decideForEvent, purposeOf } from '../../event/decide';
import { tryGetSealedEventTimeline, type EventTimeline } from '../../reports/event-timeline/event-timeline';
import {
  currentReferralStatuses,
  listPracticeEvents,
  type ListedPracticeEvent,
} from '../../reports/practice-events/practice-events';
import { isObjection } from '../../policy/objection';
import { referralTimelineOf } from '../../reports/referral-timeline/timeline';
import { referralStepsHtml, waitingDaysHtml } from './referral-status-html';
import { getPrincipal } from '../../access/authenticate';
import { canActForPractice } from '../../access/principal';
import { field, pageCursorOf, pageOf, sendPage } from './console-request';
import { html, type SafeHtml } from './html';
import { disclosedOf } from '../../reports/event-timeline/event-timeline';
import {
  consentBasisOf,
  type BasisConsent,
  type CitedConsent,
  type DisclosedOnConsent,
  type RecordedDecision,
} from '../../reports/event-timeline/consent-basis';
import {
  formatDay,
  formatTime,
  permitInWords,
  dataClassesInWords,
  purposesInWords,
  reasonsInWords,
  relationshipInWords,
  stateInWords,
  t,
  type Lang,
  type MessageKey,
} from './i18n';
import { notice, pagingLinks, table } from './layout';
import type { Decision, DecisionReason } from '../../policy/types';
import { timelineHtml } from './operator-pages';
import { practiceOwnIds } from './practice-own-ids';
import { EVENT_STATES, TERMINAL_STATES, type EventState } from '../../event/states';
import { getSealedEvents, practiceCancellationsOf, type PracticeCancellation } from '../../event/event-store';
import { names } from '../route-target';

/** Events per page: a page fits a tablet's screen a few times over. */
const PAGE_SIZE = 100;
const STATES: readonly string[] = EVENT_STATES;
/** The states whose reason the list shows: why the event stopped, or why it waits for the practice. */
const REASONED_STATES: readonly string[] = ['denied', 'failed', 'unacknowledged'];

/** `/console/practice/…`: the practice's own events, their state, and for a denial which consent is missing. */
export function practicePages(ctx: PipelineContext): Router {
  const router = exactRouter();

  router.get('/', async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const state = field(req.query, 'state');
    const chosen = state !== undefined && STATES.includes(state) ? state : undefined;
    // The practice's own event id, as its HIS sent it (an id, not personal data), exactly.
    const eventId = field(req.query, 'eventId')?.slice(0, 200);
    const events = await listPracticeEvents(ctx.db, principal.practices, {
      state: chosen,
      eventId,
      cursor: pageCursorOf(req.query),
      size: PAGE_SIZE,
    });
    // What GET /his/v1/events lists, with the municipality's status and the reason in words: recorded as it records it.
    await auditEventListRead(ctx, req, res, events.rows);
    // The municipality's answer to each referral on the page: its current status, as the event's timeline has it.
    const ids = events.rows.map((e) => e.id);
    const statuses = await currentReferralStatuses(ctx.db, ids);
    // A referral the practice cancelled says so, beside the municipality's last status on it if there was one.
    const cancelled = await practiceCancellationsOf(
      ctx.db,
      events.rows.filter((e) => e.eventType === 'referral.created').map((e) => e.id),
    );
    const objections = await objectionsAmong(ctx, events.rows);
    const municipalityStatus = (e: { id: string; state: string; deliveredBefore: boolean }) => {
      const status = statuses.get(e.id);
      if (status !== undefined && cancelled.has(e.id)) {
        const words = t(lang, 'cancelledByPractice');
        return status === null ? words : `${t(lang, `referralStatus_${status}` as MessageKey)}; ${words}`;
      }
      return status === undefined
        ? ''
        : status === null
          ? t(lang, NEVER_SENT.includes(e.state) && !e.deliveredBefore ? 'notSentToMunicipality' : 'noStatusYet')
          : t(lang, `referralStatus_${status}` as MessageKey);
    };
    const rows = events.rows.map(
      (e) =>
        html`<tr class="state-${e.state}">
          <td>${formatTime(lang, e.receivedAt)}</td>
          <td><a href="/console/practice/events/${e.id}">${e.eventId}</a></td>
          <td>${objections.has(e.id) ? `${e.eventType} (${t(lang, 'objection')})` : e.eventType}</td>
          <td>${e.deliveredBefore ? t(lang, 'resendFailed') : stateInWords(lang, e.state)}</td>
          <td>${REASONED_STATES.includes(e.state) ? reasonsInWords(lang, e.stateReason) : ''}</td>
          <td>${municipalityStatus(e)}</td>
        </tr>`,
    );
    sendPage(
      req,
      res,
      t(lang, 'eventsTitle'),
      html`<p>${t(lang, 'eventsIntro')}</p>
        <form method="get" action="/console/practice" class="search">
          <label
            >${t(lang, 'state')}<select name="state">
              <option value="">${t(lang, 'anyState')}</option>
              ${STATES.map(
                (s) =>
                  html`<option value="${s}" ${chosen === s ? html` selected` : ''}>${stateInWords(lang, s)}</option>`,
              )}
            </select></label
          ><label>${t(lang, 'eventId')}<input name="eventId" autocomplete="off" value="${eventId ?? ''}" /></label
          ><button type="submit">${t(lang, 'filter')}</button>
        </form>
        <p>${t(lang, 'newestFirst', PAGE_SIZE)}</p>
        ${table(t(lang, 'eventsTitle'), [t(lang, 'when'), t(lang, 'eventId'), t(lang, 'type'), t(lang, 'state'), t(lang, 'reason'), t(lang, 'referralStatusTitle')], rows, t(lang, 'none'))}
        ${pagingLinks(lang, events, '/console/practice', { state: chosen, eventId })}`,
    );
  });

  router.get('/events/:id', names('event', 'id'), async (req, res) => {
    const { lang } = pageOf(req, res);
    const principal = getPrincipal(res);
    const found = await tryGetSealedEventTimeline(ctx.db, req.params.id);
    if (!found) {
      throw new OperationOutcomeError(notFound);
    }
    const { sealed, timeline } = found;
    if (!canActForPractice(principal, timeline.practice)) {
      // Another practice's event looks absent, as in the API, and the attempt is on record in its chain.
      await auditRefusedReads(ctx, req, res, [sealed]);
      throw new OperationOutcomeError(notFound);
    }
    // The page shows what GET /his/v1/events/{id} answers (and, for a denial, what $explain would): recorded as the
    // API records that read, with the child, whatever the event's state.
    await auditEventRead(ctx, req, res, sealed);
    let why: SafeHtml | string = '';
    let consents: SafeHtml | string = '';
    // On which consents it went, or which refused it: as GET /his/v1/events/{id} answers.
    const basis = await consentBasisOf(ctx.db, timeline, await disclosedOf(ctx.db, timeline.id));
    const disclosed = basis.disclosed;
    // The people a consent names, in words once the event is opened; its references as they are after retention.
    let named = (refs: string): string[] => refs.split(' ').filter((r) => r !== '');
    const described = (refs: readonly CitedConsent[]) => consentsInWords(lang, refs, basis.consents, named);
    // The resource types the event carried, to say what the minimisation left out of what was sent.
    let carried: string[] | undefined;
    const row =
      timeline.state === 'denied' || timeline.eventType === 'consent.recorded' || disclosed.length > 0
        ? sealed
        : undefined;
    // After retention removed an event's content there is nothing left to explain; its state reason still shows.
    if (row?.payload && row.payload_key_id) {
      const event = openEvent(ctx.cipher, row);
      carried = [...new Set(event.resources.map((r) => r.resourceType))];
      const people = event.resources.filter((r): r is RelatedPerson => r.resourceType === 'RelatedPerson');
      const stored = ctx.cipher.decrypt(row.payload_key_id, row.payload) as StoredRecord;
      const consentResources = event.resources.filter((r): r is Consent => r.resourceType === 'Consent');
      const patientId =
        event.resources.find((r) => r.resourceType === 'Patient')?.id ??
        consentResources[0]?.patient?.reference?.replace(/^Patient\//, '') ??
        '';
      const ownIds = practiceOwnIds(
        row.tenant,
        stored.record.value,
        patientId,
        people.map((p) => p.id ?? ''),
      );
      named = (refs: string) => peopleNamed(lang, refs, people, ownIds);
      consents = consentsHtml(lang, consentResources, named);
      const purpose = purposeOf(event.eventType);
      if (purpose && timeline.state === 'denied') {
        const decision = await decideForEvent(ctx, event, purpose, new Date());
        // When each of the child's consents (objections among them) was recorded, for a reason naming one.
        const recordedOn = new Map(
          (await childConsentsOnce(ctx, event)()).map((c) => [c.id, (JSON.parse(c.text) as Consent).dateTime]),
        );
        why = whyDeniedHtml(
          lang,
          timeline,
          decision,
          (r) => partiesOf(lang, r, named, recordedOn),
          described,
          basis.decision,
        );
      }
    }
    sendPage(
      req,
      res,
      `${t(lang, 'eventTitle')}: ${timeline.eventId}`,
      html`${why}${consents}${sentHtml(lang, timeline, disclosed, carried, (code) => municipalityName(ctx, code), described)}${await referralStatusHtml(ctx, lang, timeline)}${timelineHtml(lang, timeline, 'practice')}`,
    );
  });

  return router;
}

/**
 * The states of a referral that will not reach the municipality (denied, failed, dead): 'no status yet' would read
 * as waiting for the municipality. A dead one that was delivered before (a redelivery that failed) did reach it.
 */
const NEVER_SENT: readonly string[] = ['denied', 'failed', 'dead'];

/**
 * A referral's status at the municipality, as GET /his/v1/events/{id} gives it (`referralStatus`): each step on its
 * own date, whether it reached the practice's HIS, and the waiting days; '' for an event that is no referral.
 */
async function referralStatusHtml(
  ctx: PipelineContext,
  lang: Lang,
  timeline: Pick<EventTimeline, 'id' | 'eventType' | 'state' | 'deliveries'>,
): Promise<SafeHtml | string> {
  const status = timeline.eventType === 'referral.created' ? await referralTimelineOf(ctx, timeline.id) : undefined;
  if (!status) {
    return '';
  }
  const cancellation = (await practiceCancellationsOf(ctx.db, [timeline.id])).get(timeline.id);
  // The event's state named here: the page shows it further down (the timeline), or, for a denial, above.
  const none =
    NEVER_SENT.includes(timeline.state) && !timeline.deliveries.some((d) => d.deliveredAt !== null)
      ? t(lang, 'referralNotSent', stateInWords(lang, timeline.state))
      : t(lang, 'noReferralStatus');
  return html`<section class="referral-status">
    <h2>${t(lang, 'referralStatusTitle')}</h2>
    ${cancellation ? html`<p class="cancelled">${cancellationInWords(lang, cancellation)}</p>` : ''}
    ${status.steps.length === 0 ? (cancellation ? '' : html`<p>${none}</p>`) : referralStepsHtml(lang, status)}
    ${waitingDaysHtml(lang, status)}
  </section>`;
}

/**
 * Of the listed events, the consent events that record an objection (a Consent with provision.type deny): listed as
 * one, not as a plain consent. As kept at receipt (migration 084); a consent event an older build received has no
 * mark, and only those are read, in one statement, and opened here: one whose content retention removed is left out.
 */
async function objectionsAmong(ctx: PipelineContext, events: readonly ListedPracticeEvent[]): Promise<Set<string>> {
  const out = new Set(events.filter((e) => e.recordsObjection === true).map((e) => e.id));
  const unmarked = events
    .filter((e) => e.recordsObjection === null && e.eventType === 'consent.recorded')
    .map((e) => e.id);
  for (const row of unmarked.length > 0 ? await getSealedEvents(ctx.db, unmarked) : []) {
    try {
      const event = openEvent(ctx.cipher, row);
      if (event.resources.some((r) => r.resourceType === 'Consent' && isObjection(r))) {
        out.add(row.id);
      }
    } catch {
      // its content is gone: listed as the consent event it is
    }
  }
  return out;
}

/**
 * What reached the municipality, after minimisation (`GET /his/v1/events/{id}`'s `disclosed`), and the recorded
 * decision it was sent on, in words with the agreement and whose consent (report-xhis2 4): per delivery, where and
 * when, the purpose, the agreement, the data classes and the consents it went on (which one, given when, for which
 * period, recorded by whom); and what the event carried that none of them did.
 */
function sentHtml(
  lang: Lang,
  timeline: { eventType: string; history: readonly { state: string; reason: string | null }[] },
  disclosed: readonly DisclosedOnConsent[],
  carried: readonly string[] | undefined,
  municipalityInWords: (code: string) => string,
  consentsInWords: (refs: readonly CitedConsent[]) => SafeHtml,
): SafeHtml | string {
  if (disclosed.length === 0) {
    return '';
  }
  const decided = timeline.history.findLast((h) => h.state === 'decided' && h.reason)?.reason;
  const sent = new Set(disclosed.flatMap((d) => d.dataClasses ?? []));
  const leftOut = carried && disclosed.every((d) => d.dataClasses !== null) ? carried.filter((c) => !sent.has(c)) : [];
  const unknown = t(lang, 'notKeptForDelivery');
  return html`<section class="sent">
    <h2>${t(lang, 'sentTitle')}</h2>
    ${decided ? html`<p><strong>${t(lang, 'sentOnDecision')}:</strong> ${permitInWords(lang, decided)}</p>` : ''}
    <ul>
      ${disclosed.map(
        (d) =>
          html`<li>
            ${t(lang, 'sentTo', d.municipality ? municipalityInWords(d.municipality) : d.destination, formatTime(lang, d.deliveredAt))}.
            ${t(lang, 'sentPurpose', d.purpose ? purposesInWords(lang, [d.purpose]) : unknown)}.
            ${t(lang, 'sentAgreement', d.agreement ? `${d.agreement.id} v${d.agreement.version}` : unknown)}.
            ${t(lang, 'sentClasses', d.dataClasses ? dataClassesInWords(lang, d.dataClasses) : unknown)}.
            ${
              timeline.eventType.startsWith('consent.')
                ? ''
                : d.consentVersions === null
                  ? html`<br />${t(lang, 'sentConsentsNotKept')}.`
                  : d.consentVersions.length === 0
                    ? html`<br />${t(lang, 'sentOnNoConsent')}.`
                    : consentsInWords(d.consentVersions)
            }
          </li>`,
      )}
    </ul>
    ${leftOut.length > 0 ? html`<p>${t(lang, 'leftOutClasses', dataClassesInWords(lang, leftOut))}.</p>` : ''}
  </section>`;
}

/** The practice's cancellation of a referral in words: whether, and when, it reached the municipality. */
function cancellationInWords(lang: Lang, c: PracticeCancellation): string {
  if (c.reachedAt !== null) {
    return t(lang, 'cancellationReached', c.eventId, formatTime(lang, c.reachedAt));
  }
  const ended = TERMINAL_STATES.includes(c.state as EventState);
  return t(lang, ended ? 'cancellationNotSent' : 'cancellationOnItsWay', c.eventId, stateInWords(lang, c.state));
}

/**
 * Why an event is denied: the decision as recorded (its state reason, as GET /his/v1/events/{id} has it), then, apart
 * from it, what the engine decides now (as POST /policy/v1/$explain answers): still denied, with whose consent is
 * missing, or permitted, with what to do, since the event stays denied until it is decided again. Parties are named
 * only under reasons of a denial.
 */
function whyDeniedHtml(
  lang: Lang,
  timeline: { stateReason: string | null; history: readonly { state: string; at: Date }[] },
  now: Decision,
  parties: (reason: DecisionReason) => SafeHtml | string,
  consentsInWords: (refs: readonly CitedConsent[]) => SafeHtml,
  recorded: RecordedDecision | null,
): SafeHtml {
  const deniedAt = timeline.history.findLast((h) => h.state === 'denied')?.at;
  // The objections (or the consents that fell short) the recorded denial names; a denial because no one consented
  // names none, and its reason says whose consent is missing.
  const restsOn = recorded?.effect === 'deny' ? recorded.consentVersions : [];
  return html`<section class="why">
    <h2>${t(lang, 'whyDenied')}</h2>
    <p>
      <strong>${t(lang, 'recordedDecision', formatTime(lang, deniedAt))}:</strong>
      ${reasonsInWords(lang, timeline.stateReason)}
    </p>
    ${
      restsOn.length > 0
        ? html`<p><strong>${t(lang, 'deniedOnConsents')}:</strong></p>
            ${consentsInWords(restsOn)}`
        : ''
    }
    ${
      now.effect === 'permit'
        ? notice('info', t(lang, 'nowPermitted', now.reasons.map((r) => reasonsInWords(lang, r.code)).join('; ')))
        : html`<p><strong>${t(lang, 'nowStillDenied')}:</strong></p>
            <ul>
              ${now.reasons.map((r) => html`<li><strong>${reasonsInWords(lang, r.code)}</strong>${parties(r)}</li>`)}
            </ul>`
    }
  </section>`;
}

/** The people a text names (`Patient/…`, `RelatedPerson/…`), in words, each once: the child, or "mother with authority". */
function peopleNamed(
  lang: Lang,
  refs: string,
  people: readonly RelatedPerson[],
  ownIds: ReadonlyMap<string, string>,
): string[] {
  const named = [...refs.matchAll(/(Patient|RelatedPerson)\/([A-Za-z0-9.-]+)/g)].map(([, type, id]) => {
    const own = ownIds.get(`${type ?? ''}/${id ?? ''}`);
    if (type === 'Patient') {
      return `${t(lang, 'theChild')}${own !== undefined ? ` (${own})` : ''}`;
    }
    const person = people.find((p) => p.id === id);
    const coding = person?.relationship?.[0]?.coding?.[0];
    const who = (coding && relationshipInWords(lang, coding.code, coding.display)) || t(lang, 'guardian');
    const authority = person?.extension?.some((x) => x.valueBoolean === true) === true;
    return `${authority ? t(lang, 'guardianWithAuthority', who) : who} (${own ?? `RelatedPerson/${id ?? ''}`})`;
  });
  return [...new Set(named)];
}

/**
 * The people a reason names, in words: for an objection (`consent-denied`) who objected and when it was recorded
 * ("Bezwaar van: het kind (p1), vastgelegd op …"), for another reason whose consent is missing ("Ontbreekt bij").
 */
function partiesOf(
  lang: Lang,
  reason: DecisionReason,
  named: (refs: string) => string[],
  recordedOn: ReadonlyMap<string, string | undefined>,
): SafeHtml | string {
  const people = named(reason.detail);
  if (people.length === 0) {
    return '';
  }
  if (reason.code !== 'consent-denied') {
    return html` — ${t(lang, 'missingFrom')}: ${people.join('; ')}`;
  }
  const dates = [...reason.detail.matchAll(/Consent\/([A-Za-z0-9.-]+)/g)]
    .map(([, id]) => recordedOn.get(id ?? ''))
    .filter((d): d is string => d !== undefined)
    .map((d) => formatTime(lang, d));
  const on = dates.length > 0 ? `, ${t(lang, 'recordedOn', [...new Set(dates)].join('; '))}` : '';
  return html` — ${t(lang, 'objectionBy')}: ${people.join('; ')}${on}`;
}

/**
 * A consent event's Consents in words: an objection (provision.type deny) as one, with who gave it and when it was
 * recorded ("Bezwaar van: het kind (p1), vastgelegd op …"), a consent likewise ("Toestemming van: …").
 */
export function consentsHtml(
  lang: Lang,
  consents: readonly Consent[],
  named: (refs: string) => string[],
): SafeHtml | string {
  if (consents.length === 0) {
    return '';
  }
  return html`<section class="consent">
    ${consents.map((c) => {
      const who = named((c.performer ?? []).map((p) => p.reference ?? '').join(' '));
      const on = c.dateTime !== undefined ? `, ${t(lang, 'recordedOn', formatTime(lang, c.dateTime))}` : '';
      return html`<p>
        <strong>${t(lang, isObjection(c) ? 'objectionBy' : 'consentBy')}:</strong>
        ${who.length > 0 ? who.join('; ') : t(lang, 'performerUnknown')}${on}
      </p>`;
    })}
  </section>`;
}

/**
 * The consents `refs` (of a delivery, or of a recorded denial) in words, one item each, as the version cited reads:
 * "Op toestemming c-12 (versie 1) van het kind (p1); moeder met gezag (g1), gegeven op …, geldig van … tot en met …,
 * vastgelegd door api-key/his op …", and what a newer version says: withdrawn since, voided, replaced by an objection.
 */
function consentsInWords(
  lang: Lang,
  refs: readonly CitedConsent[],
  held: readonly BasisConsent[],
  named: (refs: string) => string[],
): SafeHtml {
  const items = refs.map((ref) => {
    const c = held.find((h) => h.id === ref.id && h.version === ref.version);
    if (!c || c.status === 'unknown') {
      return html`<li>${t(lang, 'onConsent', ref.id)}: ${t(lang, 'consentNotHeld')}</li>`;
    }
    const who = named(c.givenBy.join(' '));
    const parts = [
      ...(who.length > 0 ? [t(lang, 'consentOfPeople', who.join('; '))] : []),
      ...(c.dateTime ? [t(lang, 'consentGivenOn', formatTime(lang, c.dateTime))] : []),
      ...(c.period ? [periodInWords(lang, c.period)] : []),
      ...(c.recordedBy
        ? [t(lang, 'consentRecordedBy', c.recordedBy.principal, formatTime(lang, c.recordedBy.at))]
        : []),
    ];
    // What the version cited says of itself, else what a newer one says since.
    const since = c.newer ?? { ...c, at: null };
    const now =
      since.status === 'entered-in-error'
        ? ` (${t(lang, 'consentNowInError')})`
        : since.withdrawn
          ? ` (${withdrawnInWords(lang, since.status, since.withdrawn, named)})`
          : c.newer
            ? ` (${t(lang, c.newer.kind === 'objection' ? 'consentNowObjection' : 'consentNowChanged', String(c.newer.version), formatTime(lang, c.newer.at))})`
            : '';
    const label = t(lang, c.kind === 'objection' ? 'onObjection' : 'onConsent', c.ownId ?? c.id);
    const version = c.version === null ? '' : ` (${t(lang, 'consentVersion', String(c.version))})`;
    return html`<li>${label}${version} ${parts.join(', ')}${now}</li>`;
  });
  return html`<ul class="consent-basis">
    ${items}
  </ul>`;
}

/** A consent's period in words: a calendar day as a day, a moment as a moment; either end may be open. */
function periodInWords(lang: Lang, period: NonNullable<BasisConsent['period']>): string {
  const when = (at: string) => (/^\d{4}-\d{2}-\d{2}$/.test(at) ? formatDay(lang, at) : formatTime(lang, at));
  if (period.start && period.end) {
    return t(lang, 'consentValidFromTo', when(period.start), when(period.end));
  }
  return period.start
    ? t(lang, 'consentValidFrom', when(period.start))
    : t(lang, 'consentValidTo', when(period.end ?? ''));
}

/** Withdrawn since, as a consent's line ends: wholly, or by some of those who gave it, and when. */
function withdrawnInWords(
  lang: Lang,
  status: string,
  withdrawn: NonNullable<BasisConsent['withdrawn']>,
  named: (refs: string) => string[],
): string {
  const words =
    status === 'inactive'
      ? t(lang, 'consentNowWithdrawn')
      : t(lang, 'consentNowWithdrawnBy', named(withdrawn.by.join(' ')).join('; '));
  return withdrawn.at ? `${words} ${t(lang, 'consentWithdrawnOn', formatTime(lang, withdrawn.at))}` : words;
}
