import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { httpStatusOf } from '../../kernel/fhir/outcomes';
import type { ChainProblemCode } from '../../audit/chain-problems';
import { refusalOf, type AuditRefusal } from '../../audit/refusal-codes';
import { html, type SafeHtml } from './html';
import { statusDateRuleOf, type StatusDateRule } from '../../event/status-dates';
import { formatDay, t, type Lang, type MessageKey } from './i18n';

/**
 * The fields the console's forms send (and the API parameters they become), by an issue's `expression`: the
 * field's label, and what is wrong with it when the console knows better words than "not a valid value".
 */
export type FieldWords = Readonly<
  Record<
    string,
    {
      label: MessageKey;
      says?: MessageKey;
      /** for a 409 naming it */
      conflicts?: MessageKey;
      /** for a 409 naming it: words for the cause its codes say, instead of `conflicts` (undefined: those) */
      conflictsByCause?: (issue: OperationOutcomeIssue) => MessageKey | undefined;
      /** for a 422 naming it: the value is in the right form, but breaks a rule (`to` before `from`) */
      breaks?: MessageKey;
    }
  >
>;

/** What rewrites or cuts a chain (rows gone, another history) rather than changing a row in place. */
const REWRITE_OR_CUT: ReadonlySet<string> = new Set<ChainProblemCode>([
  'gap',
  'rows-missing',
  'head-mismatch',
  'chain-ends-early',
  'signed-row-missing',
  'head-not-extending',
  'rewritten',
  'purge-unrecorded',
  'purge-unsigned',
  'purge-too-early',
  'purge-contradicts',
]);

/**
 * The words for an export refused with a 409 (audit-router.ts), by the codes of its issue (refusal-codes.ts), never
 * by its English text: a chain known broken by a row changed in place (a chain problem not in `REWRITE_OR_CUT`) is
 * not one rewritten or cut, which `chainContradictsSigned` (the default) says.
 */
function exportRefusalCause(issue: OperationOutcomeIssue): MessageKey | undefined {
  const { refusal, problem } = refusalOf(issue.details?.coding);
  return refusal === 'chain-known-broken' && (problem === undefined || !REWRITE_OR_CUT.has(problem))
    ? 'exportRefusedChangedRow'
    : undefined;
}

/** The words for an acknowledgement refused with a 409 (audit-router.ts `acknowledgeChainBreak`), by its code. */
const ACKNOWLEDGEMENT_REFUSALS: Partial<Record<AuditRefusal, MessageKey>> = {
  'chain-empty': 'ackRefused_chain_empty',
  'not-broken': 'ackRefused_not_broken',
  'broken-elsewhere': 'ackRefused_broken_elsewhere',
  'checkpoints-not-checked': 'ackRefused_checkpoints_not_checked',
  'too-many-breaks': 'ackRefused_too_many_breaks',
  'head-broken': 'ackRefused_head_broken',
  'broken-meanwhile': 'ackRefused_broken_meanwhile',
};

const FIELDS: FieldWords = {
  bsn: { label: 'bsn', says: 'invalidBsn' },
  patient: { label: 'bsn', says: 'invalidBsn' },
  // An export refused for a chain known broken (a row changed, found by verifying: audit-router.ts) is not one that
  // contradicts its signed history (rewritten or cut): the API's codes say which.
  tenant: {
    label: 'chain',
    says: 'invalidChain',
    conflicts: 'chainContradictsSigned',
    conflictsByCause: exportRefusalCause,
  },
  from: { label: 'from', says: 'invalidDate' },
  to: { label: 'to', says: 'invalidDate', breaks: 'toBeforeFrom' },
  date: { label: 'period', says: 'invalidDate' },
  format: { label: 'format' },
  agent: { label: 'agent' },
  outcome: { label: 'outcome' },
  subtype: { label: 'auditType' },
  type: { label: 'auditType' },
  _page: { label: 'pages' },
  practice: { label: 'practice' },
  period: { label: 'period', says: 'choosePeriod', conflicts: 'noMonitoringAgreement' },
  // The acknowledgement form's: the row is the one the verification named (a hidden field), the refusal by its code.
  brokenAtSeq: {
    label: 'brokenRow',
    conflictsByCause: (issue) => ACKNOWLEDGEMENT_REFUSALS[refusalOf(issue.details?.coding).refusal ?? 'not-broken'],
  },
  reason: { label: 'ackReason', breaks: 'ackReasonTooShort' },
  confirm: { label: 'ackConfirmLabel' },
};

/**
 * A thrown OperationOutcomeError in the page's language: each field it names in words ("BSN van het kind: geen
 * geldig BSN …", "Datum van de status: ligt na vandaag …", else "<label>: ongeldige waarde"), a refused credential,
 * or a request that is not valid; with the API's own diagnostics (English, each with the field it is about) after it,
 * for whoever needs to know exactly. Anything else is thrown on. A form whose fields are not the usual ones passes
 * its own `fields` (its labels by the API's issue expressions).
 */
export function outcomeInWords(lang: Lang, err: unknown, fields: FieldWords = FIELDS): SafeHtml {
  return outcomeOnForm(lang, err, fields).words;
}

/**
 * `outcomeInWords` for a form whose fields have the ids `ids` (by the API's issue expressions): the words about each
 * of them a link to it (`linkTo`), and the ids of the fields named.
 */
export function outcomeOnForm(
  lang: Lang,
  err: unknown,
  fields: FieldWords = FIELDS,
  ids: Readonly<Record<string, string>> = {},
  linkTo: (id: string, words: string) => SafeHtml = (_id, words) => html`${words}`,
): { words: SafeHtml; named: ReadonlySet<string> } {
  if (!(err instanceof OperationOutcomeError)) {
    throw err;
  }
  const issues = err.outcome.issue ?? [];
  const status = httpStatusOf(err.outcome);
  // Every field named, once each (a decision without its date, category and period is three fields, not one).
  const named = new Map<string, string | undefined>();
  for (const issue of issues) {
    const expression = issue.expression?.[0];
    const words = expression !== undefined ? issueWords(lang, issue, fields, status) : undefined;
    if (words !== undefined && !named.has(words)) {
      named.set(words, Object.hasOwn(ids, expression ?? '') ? ids[expression ?? ''] : undefined);
    }
  }
  const said =
    status === 401
      ? html`${t(lang, 'credentialNotAccepted')}`
      : named.size > 0
        ? [...named].map(([words, id], i) => html`${i > 0 ? ' ' : ''}${id === undefined ? words : linkTo(id, words)}`)
        : html`${t(lang, 'requestInvalid')}`;
  return {
    words: html`${said}${outcomeDetail(lang, err)}`,
    named: new Set([...named.values()].filter((id) => id !== undefined)),
  };
}

/** The API's own diagnostics of an outcome (English), for whoever needs to know exactly; empty when it has none. */
export function outcomeDetail(lang: Lang, err: OperationOutcomeError): SafeHtml {
  const detail = (err.outcome.issue ?? []).map(issueText).join('; ');
  return detail
    ? html` <small class="detail">(${t(lang, 'technicalDetail')}: <span lang="en">${detail}</span>)</small>`
    : html``;
}

/** One issue that names a field, in words: the field's label and what is wrong with it. */
function issueWords(lang: Lang, issue: OperationOutcomeIssue, fields: FieldWords, status: number): string {
  const expression = issue.expression?.[0] ?? '';
  const field = fields[expression];
  if (!field) {
    return t(lang, 'fieldInvalid', expression);
  }
  const label = t(lang, field.label);
  // A day a status update cannot have (statusDateIssues): which rule, with the day it names.
  const broken = issue.code === 'business-rule' ? statusDateRuleOf(issue.details?.text ?? '') : undefined;
  if (broken) {
    return t(lang, DATE_RULE_WORDS[broken.rule], label, formatDay(lang, broken.day));
  }
  const cause = status === 409 ? field.conflictsByCause?.(issue) : undefined;
  return t(lang, cause ?? specificWords(field, status, issue.code) ?? field.says ?? 'fieldInvalid', label);
}

const DATE_RULE_WORDS: Record<StatusDateRule, MessageKey> = {
  afterToday: 'dayAfterToday',
  beforeReferral: 'dayBeforeReferral',
  beforeCareStart: 'dayBeforeCareStart',
};

/** What the field's words say for this answer beyond "not valid": missing, in conflict, or breaking a rule. */
function specificWords(field: FieldWords[string], status: number, code: string | undefined): MessageKey | undefined {
  if (code === 'required') {
    return 'fieldMissing';
  }
  return status === 409 ? field.conflicts : status === 422 ? field.breaks : undefined;
}

/** An issue's diagnostics, prefixed by the field it names when they do not say it themselves ("is required"). */
function issueText(issue: OperationOutcomeIssue): string {
  const text = issue.details?.text ?? issue.diagnostics ?? issue.code;
  const expression = issue.expression?.[0];
  return expression !== undefined && !text.startsWith(`${expression}:`) ? `${expression}: ${text}` : text;
}
