import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { StatusUpdate } from '../../mappings/practice/to-task';
import { amsterdamDay } from '../kernel/dutch-time';
import { fieldIssue } from '../kernel/fhir/outcomes';

/**
 * Whether the days in a municipality's status update can be true of the referral: what it says happened (the
 * status's `date`, the decision's date, the start and end of care) happened between the day the referral was made
 * and today. A day outside that range gives negative or future waiting times in the referral's timeline and in the
 * monitoring report, which count from these days. The decision's period is a plan, so it may lie ahead (that it
 * ends after it starts is checked with the body, `statusUpdateSchema`). Pure.
 */

export interface StatusDateBounds {
  /** The day the referral was made (`referredOnOf`). */
  readonly referredOn: string;
  /** Today in Dutch time (`amsterdamDay`). */
  readonly today: string;
  /** The start of care reported in an earlier update, for an update that reports only its end. */
  readonly careStartedOn?: string | undefined;
}

/** The day a referral was made: the day it was written (`authoredOn`), else the day jeugdbrug received it. */
export function referredOnOf(authoredOn: string | undefined, receivedAt: Date): string {
  return amsterdamDay(authoredOn ? new Date(authoredOn) : receivedAt);
}

/** The rules a status update's day can break, as its issue's `details.text` says them (`statusDateRuleOf`). */
export type StatusDateRule = 'beforeReferral' | 'afterToday' | 'beforeCareStart';

const RULE_TEXTS: Readonly<Record<StatusDateRule, string>> = {
  beforeReferral: 'before the referral was made',
  afterToday: 'after today',
  beforeCareStart: 'before the start of care',
};

function ruleText(rule: StatusDateRule, day: string): string {
  return rule === 'afterToday' ? `${RULE_TEXTS[rule]} (${day}, Dutch time)` : `${RULE_TEXTS[rule]} (${day})`;
}

/**
 * Which rule an issue of `statusDateIssues` states, and the day it names, from its text: for words in another
 * language (the console) than the API's English. Undefined for any other text.
 */
export function statusDateRuleOf(text: string): { rule: StatusDateRule; day: string } | undefined {
  for (const [rule, start] of Object.entries(RULE_TEXTS) as [StatusDateRule, string][]) {
    const day = new RegExp(`^${start} \\((\\d{4}-\\d{2}-\\d{2})[,)]`).exec(text)?.[1];
    if (day !== undefined) {
      return { rule, day };
    }
  }
  return undefined;
}

/** One issue per day of `update` that cannot be true of a referral made on `bounds.referredOn`; empty if none. */
export function statusDateIssues(update: StatusUpdate, bounds: StatusDateBounds): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const happened: [string, string | undefined][] = [
    ['date', update.date],
    ['decision.date', update.decision?.date],
    ['startDate', update.startDate],
    ['endDate', update.endDate],
  ];
  for (const [field, day] of happened) {
    if (day !== undefined && day < bounds.referredOn) {
      issues.push(fieldIssue(ruleText('beforeReferral', bounds.referredOn), field, 'business-rule'));
    } else if (day !== undefined && day > bounds.today) {
      issues.push(fieldIssue(ruleText('afterToday', bounds.today), field, 'business-rule'));
    }
  }
  const careStartedOn = update.startDate ?? bounds.careStartedOn;
  if (update.endDate && careStartedOn && update.endDate < careStartedOn) {
    issues.push(fieldIssue(ruleText('beforeCareStart', careStartedOn), 'endDate', 'business-rule'));
  }
  return issues;
}
