import type { AuditEvent } from '@medplum/fhirtypes';
import { DECISION_DESCRIPTION, RECIPIENT_ROLE_CODE, WITHDRAWAL_NOTICE_DESCRIPTIONS } from '../../audit/audit-events';
import { BSN_SYSTEM } from '../../kernel/fhir/identifiers';
import { formatTime, purposesInWords, reasonsInWords, t, type Lang } from './i18n';

/** An AuditEvent in words for an auditor: one sentence, then the NEN 7513 facts as label/value pairs. */
export interface AuditEventInWords {
  readonly summary: string;
  readonly facts: readonly (readonly [string, string])[];
}

const SENTENCES: Record<string, Record<Lang, string>> = {
  disclose: { nl: 'Gegevens verstrekt aan {0}', en: 'Data disclosed to {0}' },
  notice: { nl: 'Intrekkingsbericht verstuurd aan {0}', en: 'Withdrawal notice sent to {0}' },
  noticeFailed: { nl: 'Intrekkingsbericht aan {0} niet verstuurd', en: 'Withdrawal notice to {0} not sent' },
  discloseFailed: { nl: 'Verstrekking aan {0} mislukt', en: 'Disclosure to {0} failed' },
  permit: {
    nl: 'Toestemmingsbesluit: verstrekking aan {0} toegestaan',
    en: 'Consent decision: disclosure to {0} permitted',
  },
  deny: { nl: 'Toestemmingsbesluit: verstrekking aan {0} geweigerd', en: 'Consent decision: disclosure to {0} denied' },
  refused: { nl: 'Toegang geweigerd aan {0}', en: 'Access refused to {0}' },
  read: { nl: '{0} heeft gegevens ingezien', en: '{0} read data' },
  search: { nl: '{0} heeft gezocht', en: '{0} searched' },
  create: { nl: 'Ontvangen van de praktijk via {0}', en: 'Received from the practice via {0}' },
  import: { nl: 'Statusbericht ontvangen van {0}', en: 'Status update received from {0}' },
  operator: { nl: 'Actie "{1}" door {0}', en: 'Action "{1}" by {0}' },
  other: { nl: 'Gebeurtenis {1} door {0}', en: 'Event {1} by {0}' },
};

function sentence(lang: Lang, key: string, ...args: string[]): string {
  const text = SENTENCES[key]?.[lang] ?? key;
  return text.replace(/\{(\d)\}/g, (_m, i: string) => args[Number(i)] ?? '');
}

/** The AuditEvent in words: who did what with whose data, when, for whom, from where, and with what result. */
export function describeAuditEvent(
  lang: Lang,
  e: AuditEvent,
  nameOf: (code: string) => string | undefined = () => undefined,
): AuditEventInWords {
  const requestor = e.agent?.find((a) => a.requestor);
  const user = requestor?.who?.identifier?.value ?? requestor?.who?.display ?? '?';
  const onBehalfOf = e.agent?.find((a) => a.type?.coding?.some((c) => c.code === 'RESP'))?.who?.identifier?.value;
  const recipientAgent = e.agent?.find((a) => a.type?.coding?.some((c) => c.code === RECIPIENT_ROLE_CODE));
  const recipientCode = recipientAgent?.who?.identifier?.value;
  const recipientName = recipientCode !== undefined ? nameOf(recipientCode) : undefined;
  const recipient =
    recipientName !== undefined
      ? `${recipientName} (${recipientCode ?? ''})`
      : (recipientCode ?? recipientAgent?.who?.display ?? '?');
  const subtype = e.subtype?.[0]?.code ?? '';
  const patient = e.entity?.find((x) => x.what?.identifier?.system === BSN_SYSTEM)?.what?.identifier?.value;
  const references = (e.entity ?? []).flatMap((x) => (x.what?.reference ? [x.what.reference] : []));
  const decision = (e.entity ?? []).map((x) => DECISION_DESCRIPTION.exec(x.description ?? '')).find((m) => m !== null);
  const isNotice = (e.entity ?? []).some((x) => x.description === WITHDRAWAL_NOTICE_DESCRIPTIONS.notice);
  const destination = (e.entity ?? []).map((x) => /^destination (.+)$/.exec(x.description ?? '')?.[1]).find(Boolean);

  let summary: string;
  switch (e.type?.code ?? '') {
    case '110106':
      summary = isNotice
        ? sentence(lang, e.outcome === '0' ? 'notice' : 'noticeFailed', recipient)
        : sentence(lang, e.outcome === '0' ? 'disclose' : 'discloseFailed', recipient);
      break;
    case '110113':
      summary =
        subtype === 'AuthZ-Consent'
          ? sentence(lang, e.outcome === '0' ? 'permit' : 'deny', recipient)
          : sentence(lang, 'refused', user);
      break;
    case '110107':
      summary = sentence(lang, 'import', onBehalfOf ?? user);
      break;
    case '110100':
      summary = sentence(lang, 'operator', user, subtype);
      break;
    case 'rest':
      summary =
        subtype === 'create'
          ? sentence(lang, 'create', user)
          : sentence(lang, subtype === 'read' ? 'read' : 'search', user);
      break;
    default:
      summary = sentence(lang, 'other', user, e.type?.display ?? e.type?.code ?? '?');
  }

  const facts: [string, string][] = [
    [t(lang, 'recordedAt'), formatTime(lang, e.recorded)],
    [t(lang, 'outcome'), t(lang, e.outcome === '4' ? 'outcome_4' : e.outcome === '8' ? 'outcome_8' : 'outcome_0')],
    [t(lang, 'user'), user],
  ];
  if (onBehalfOf) {
    facts.push([t(lang, 'onBehalfOf'), onBehalfOf]);
  }
  if (requestor?.network?.address) {
    facts.push([t(lang, 'accessPoint'), requestor.network.address]);
  }
  if (patient) {
    facts.push([t(lang, 'patient'), patient]);
  }
  if (destination) {
    facts.push([t(lang, 'destination'), destination]);
  }
  const purpose = e.purposeOfEvent?.[0]?.coding?.[0]?.code;
  if (purpose) {
    facts.push([t(lang, 'purpose'), purposesInWords(lang, [purpose])]);
  }
  if (decision?.[3]) {
    facts.push([t(lang, 'reason'), reasonsInWords(lang, decision[3])]);
  } else if (e.outcomeDesc) {
    facts.push([t(lang, 'reason'), reasonsInWords(lang, e.outcomeDesc)]);
  }
  if (references.length > 0) {
    facts.push([t(lang, 'entities'), references.join(', ')]);
  }
  return { summary, facts };
}
