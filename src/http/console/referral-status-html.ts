import type { ReferralTimeline, WaitingDays } from '../../reports/referral-timeline/timeline';
import { html, type SafeHtml } from './html';
import { formatDay, formatTime, stateInWords, t, type Lang } from './i18n';

/**
 * A referral's way to care as the municipality reported it (reports/referral-timeline), in words: shown to the
 * municipality on its referrals page and to the practice on its event, as the API gives it to both.
 */

/** The waiting times in the order of the way to care. */
const WAITING: readonly (keyof WaitingDays)[] = [
  'referralToAccepted',
  'acceptedToDecision',
  'decisionToCareStarted',
  'referralToDecision',
  'referralToCareStarted',
];

/** Each status on the day it took effect, when jeugdbrug received it and whether it reached the practice; '' for none. */
export function referralStepsHtml(lang: Lang, timeline: ReferralTimeline): SafeHtml | string {
  return timeline.steps.length > 0
    ? html`<ol class="timeline">
        ${timeline.steps.map(
          (s) =>
            html`<li>
              <time datetime="${s.date ?? ''}">${s.date ? formatDay(lang, s.date) : ''}</time>
              <strong>${t(lang, `referralStatus_${s.status}`)}</strong>
              <small
                >(${t(lang, 'statusReceivedAt', formatTime(lang, s.receivedAt), stateInWords(lang, s.toPractice))})</small
              >
            </li>`,
        )}
      </ol>`
    : '';
}

/** The waiting days between the steps, as far as they are known; '' for none. */
export function waitingDaysHtml(lang: Lang, timeline: ReferralTimeline): SafeHtml | string {
  const waiting = WAITING.flatMap((w) => {
    const days = timeline.waitingDays[w];
    return days === undefined
      ? []
      : [html`<li>${t(lang, `waiting_${w}`)}: ${days === 1 ? t(lang, 'oneDay') : t(lang, 'days', days)}</li>`];
  });
  return waiting.length > 0
    ? html`<ul class="timeline">
        ${waiting}
      </ul>`
    : '';
}
