import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { httpStatusOf } from '../../kernel/fhir/outcomes';
import { html, type SafeHtml } from './html';
import { t, type Lang, type MessageKey } from './i18n';

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
      /** for a 422 naming it: the value is in the right form, but breaks a rule (`to` before `from`) */
      breaks?: MessageKey;
    }
  >
>;

const FIELDS: FieldWords = {
  bsn: { label: 'bsn', says: 'invalidBsn' },
  patient: { label: 'bsn', says: 'invalidBsn' },
  tenant: { label: 'chain', says: 'invalidChain', conflicts: 'chainContradictsSigned' },
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
};

/**
 * A thrown OperationOutcomeError in the page's language: the field it names in words ("BSN van het kind: geen
 * geldig BSN …", else "<label>: ongeldige waarde"), a refused credential, or a request that is not valid; with the
 * API's own diagnostics (English) after it, for whoever needs to know exactly. Anything else is thrown on. A form
 * whose fields are not the usual ones passes its own `fields` (its labels by the API's issue expressions).
 */
export function outcomeInWords(lang: Lang, err: unknown, fields: FieldWords = FIELDS): SafeHtml {
  if (!(err instanceof OperationOutcomeError)) {
    throw err;
  }
  const issues = err.outcome.issue ?? [];
  const named = issues.find((i) => i.expression?.length);
  const expression = named?.expression?.[0];
  const field = expression !== undefined ? fields[expression] : undefined;
  const status = httpStatusOf(err.outcome);
  const said =
    status === 401
      ? t(lang, 'credentialNotAccepted')
      : field
        ? t(lang, specificWords(field, status, named?.code) ?? field.says ?? 'fieldInvalid', t(lang, field.label))
        : expression !== undefined
          ? t(lang, 'fieldInvalid', expression)
          : t(lang, 'requestInvalid');
  const detail = issues.map(issueText).join('; ');
  return html`${said}${
    detail ? html` <small class="detail">(${t(lang, 'technicalDetail')}: <span lang="en">${detail}</span>)</small>` : ''
  }`;
}

/** What the field's words say for this answer beyond "not valid": missing, in conflict, or breaking a rule. */
function specificWords(field: FieldWords[string], status: number, code: string | undefined): MessageKey | undefined {
  if (code === 'required') {
    return 'fieldMissing';
  }
  return status === 409 ? field.conflicts : status === 422 ? field.breaks : undefined;
}

function issueText(issue: OperationOutcomeIssue): string {
  return issue.details?.text ?? issue.diagnostics ?? issue.code;
}
