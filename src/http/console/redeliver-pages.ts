import { notFound, OperationOutcomeError } from '@medplum/core';
import type { Router } from 'express';
import { exactRouter } from '../exact-routing';
import type { PipelineContext } from '../../event/context';
import { redeliver, tryGetRedeliveryTarget, type RedeliveryResult } from '../../event/redeliver';
import { actorOf } from '../request-context';
import { assertEventInScope } from '../operator-scope';
import { names } from '../route-target';
import { field, pageOf, sendPage } from './console-request';
import { requiredMark } from './form-fields';
import { html, type SafeHtml } from './html';
import { reasonsInWords, t, type Lang, type MessageKey } from './i18n';
import { csrfField, notice, type PageContext } from './layout';

/**
 * The console's redelivery, as POST /admin/v1/deliveries/{id}/redeliver does it (the same function, the same audit):
 * on an event's timeline, a form for each delivered delivery, with the reason the audit keeps.
 */

/**
 * A form per delivered delivery of the event shown: why (required), and the button. None when retention removed the
 * event's content (`purged`): the page says so instead, as the dead letters' page does.
 */
export function redeliverForms(
  page: PageContext,
  deliveries: readonly { id: string; state: string }[],
  purged: boolean,
): SafeHtml {
  const { lang } = page;
  const delivered = deliveries.filter((d) => d.state === 'delivered');
  if (delivered.length === 0) {
    return html``;
  }
  if (purged) {
    return html`<h2>${t(lang, 'redeliverTitle')}</h2>
      <p>${t(lang, 'redeliverPurged')}</p>`;
  }
  return html`<h2>${t(lang, 'redeliverTitle')}</h2>
    <p>${t(lang, 'redeliverIntro')}</p>
    ${delivered.map(
      (d) =>
        html`<form method="post" action="/console/operator/deliveries/${d.id}/redeliver" class="inline">
          ${csrfField(page)}
          <label
            >${t(lang, 'redeliverReason')}${requiredMark(lang)}<input name="reason" required maxlength="500" /></label
          ><button type="submit">${t(lang, 'redeliver')}</button> <span class="ids">${d.id}</span>
        </form>`,
    )}`;
}

/** Words for what did not go out, by the redelivery's result. */
const REFUSED: Record<Exclude<RedeliveryResult['result'], 'redelivered' | 'denied'>, MessageKey> = {
  'not-delivered': 'redeliverNotDelivered',
  purged: 'redeliverPurged',
  'not-carried': 'replayNotCarried',
  cancelled: 'redeliverCancelled',
  resent: 'redeliverResent',
  'no-destination': 'redeliverNoDestination',
};

function outcomeNotice(lang: Lang, done: RedeliveryResult): { content: SafeHtml; status: number } {
  if (done.result === 'redelivered') {
    return { content: notice('ok', t(lang, 'redelivered')), status: 200 };
  }
  if (done.result === 'denied') {
    return { content: notice('info', t(lang, 'redeliveryDenied', reasonsInWords(lang, done.reasons))), status: 200 };
  }
  return { content: notice('error', t(lang, REFUSED[done.result])), status: 409 };
}

export function redeliverPages(ctx: PipelineContext): Router {
  const router = exactRouter();

  router.post('/deliveries/:id/redeliver', names('delivery', 'id'), async (req, res) => {
    const id = req.params.id;
    const found = await tryGetRedeliveryTarget(ctx, id);
    if (!found) {
      throw new OperationOutcomeError(notFound);
    }
    const { target, event } = found;
    await assertEventInScope(ctx, req, res, event);
    const { lang } = pageOf(req, res);
    const back = html`<p><a href="/console/operator/events?id=${event.id}">${t(lang, 'backToEvent')}</a></p>`;
    const reason = field(req.body, 'reason');
    if (reason === undefined) {
      sendPage(
        req,
        res,
        t(lang, 'redeliverTitle'),
        html`${notice('error', t(lang, 'redeliverNeedsReason'))}${back}`,
        400,
      );
      return;
    }
    const done = await redeliver(ctx, target, actorOf(req, res), reason.slice(0, 500));
    const { content, status } = outcomeNotice(lang, done);
    sendPage(req, res, t(lang, 'redeliverTitle'), html`${content}${back}`, status);
  });

  return router;
}
