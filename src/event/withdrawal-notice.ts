import type { Job } from 'bullmq';
import type { Consent, ConsentProvisionData, Resource } from '@medplum/fhirtypes';
import { carriesWithdrawalNotices } from '../../mappings/municipality/index';
import {
  consentDecision,
  consentReference,
  SYSTEM_WORKER,
  withdrawalNoticeDisclosure,
  type AuditedAgreementRef,
} from '../audit/audit-events';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import type { CanonicalEvent } from '../contracts/his-dialect';
import type { DataClass, Purpose } from '../contracts/sharing';
import { deterministicId } from '../kernel/fhir/ids';
import { agbIdentifier, municipalityIdentifier } from '../kernel/fhir/identifiers';
import {
  ACT_CODE_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PRIVACY_CONSENT_CATEGORY,
  PRIVACY_CONSENT_SCOPE,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../kernel/fhir/systems';
import type { StoredConsent } from '../policy/consent-cache';
import type { Decision } from '../policy/types';
import type { PipelineContext } from './context';
import { selectAgreements } from '../policy/select-agreement';
import { amsterdamDay } from '../kernel/dutch-time';
import { auditedAgreement, type Registry } from './registry';
import type { ChildConsents } from './decide';
import { childConsentsOnce, decideForEvent, reasonText } from './decide';
import type { DeliveryKind, DisclosureAudit, SentNote } from './delivery-kind';
import { finishDeliveryLogged, logDeliveryFinished, logEventStates } from './event-log';
import {
  addWithdrawalNotice,
  decideWithdrawalNotices,
  disclosuresOfNotice,
  tryGetSealedEvent,
  tryGetVersionWrittenBy,
  unnoticedDisclosuresOfChild,
  type ChildDisclosure,
  type ConsentWriter,
  type DeliveryRow,
  type DeliveryWork,
  type EventRow,
  type NewNotice,
} from './event-store';
import { newDelivery } from './idempotency-key';
import { referralIdentifierOf } from './referral-identifier';
import { getPseudonymiser } from './report-pseudonym';
import { stageStatements, type DeliveredDisclosure } from './stage-groups';
import type { EventState } from './states';
import { openEvent, openEventOnce } from './stored-event';
import type { DeliverJobData } from './queues';

/**
 * Withdrawal notices (GDPR art. 7(3) and 19): what a municipality received about a child under a consent stays in its
 * system when the consent is withdrawn, recorded in error, or met by an objection. Each delivered event of a child is
 * kept in `child_disclosure` (migration 047, no personal data: the child by its keyed hash, the resources by
 * jeugdbrug's ids). When the map stage records a consent event, each of the child's disclosures no notice covered yet
 * is decided again now (audited, stage `redecide`); one that a consent reason now denies is what the municipality
 * must stop processing. One notice per destination goes out as a delivery of the consent event, through the same
 * deliver queue as everything else (idempotency key, retries, dead letters, the destination's health): a FHIR
 * Consent saying so, that names the resources the municipality received by the ids it knows them by, and the
 * referral by its business identifier. No clinical text, no BSN. Its send is audited as a disclosure.
 */

/** Consent events: recorded in the registry, never sent themselves; their withdrawal notices are. */
export const CONSENT_EVENT_TYPES: ReadonlySet<string> = new Set([
  'consent.recorded',
  'consent.withdrawn',
  'consent.entered-in-error',
]);

/** The consent event's reason at `decided`: the destinations it tells follow (`gm0226, gm0344`). */
export const NOTICE_QUEUED = 'recorded in the consent registry; withdrawal notice to ';

/** The dead letter's reason when the destination's format cannot carry a notice (`adapter` names it). */
export function noticeNotCarried(adapter: string): string {
  return (
    `not sent: the ${adapter} format has no message for a withdrawal notice; ` +
    'tell the municipality another way that the consent no longer covers what it received'
  );
}

/** Deny reasons that pass with time rather than with a consent event: a notice is never sent for them. */
const TIME_BOUND: ReadonlySet<string> = new Set(['consent-expired', 'consent-not-yet-valid']);

/** Whether a decision about data already disclosed denies it for a reason a consent event causes. */
export function withdrawnByConsent(decision: Decision): boolean {
  return (
    decision.effect === 'deny' && decision.reasons.some((r) => r.code.startsWith('consent-') && !TIME_BOUND.has(r.code))
  );
}

/** A stored consent as a decision read it, to compare with what is stored later: its id and stored version. */
export const consentAt = (c: StoredConsent): string => `${c.id}@${c.version}`;

/**
 * After a delivered child's event: keeps what the municipality received (before the delivery is recorded as
 * delivered, so a crash in between leaves a retry that writes it again, once).
 *
 * Then the other half of a handshake with the consent event's map stage, which commits the consent (at receipt)
 * before it searches the child's disclosures. Once this disclosure is committed the child's consents are read again
 * (stage-groups.ts: in the group's second statement, none per event) and compared with what the delivery's
 * decision read. Under READ COMMITTED one side sees the other: a consent event whose search missed this disclosure
 * was committed before this read, so the read shows it changed. The disclosure is then decided again and, when the
 * consent now denies it, gets that consent event's notice or a follow-up (`noticeDisclosures`), and the caller
 * finishes the delivery afterwards (false). The common case, consents unchanged, finishes the delivery in that same
 * read's statement (true): two statements for the group, the delivery's finish included. A delivery is never finished
 * before a check that saw the consents unchanged, or that dealt with their change: a retry of a finished one stops at
 * once (deliver.ts), so the check must be behind it.
 */
export async function recordDisclosed(
  ctx: PipelineContext,
  job: Job<DeliverJobData>,
  work: DeliveryWork,
  note: SentNote,
  delivered: DeliveredDisclosure['delivered'],
): Promise<boolean> {
  // Opened for its send already (deliver.ts): the same row, so the same event.
  const event = openEventOnce(ctx.cipher, work);
  const referral = referralIdentifierOf(event);
  const disclosure = {
    delivery_id: work.id,
    tenant: work.tenant,
    child_key: getPseudonymiser(ctx.config).inboxChildKey(work.tenant, event.patient.bsn),
    destination: work.destination,
    municipality: event.municipalityCode,
    purpose: note.purpose,
    data_classes: [...new Set(note.resources.map((r) => r.split('/')[0] ?? ''))].filter((t) => t !== ''),
    resources: note.resources,
    referral_system: referral?.system ?? null,
    referral_value: referral?.value ?? null,
    agreement: note.agreement ?? null,
  };
  const { changedBy, finished } = await stageStatements(ctx.db).recordDeliveredDisclosure({
    ...disclosure,
    patientBsn: event.patient.bsn,
    consentsSeen: note.consentsSeen,
    delivered,
  });
  if (changedBy.length === 0) {
    if (finished) {
      logDeliveryFinished(ctx.log, { traceId: job.data.traceId, stage: 'deliver' }, delivered);
    }
    return true;
  }
  await noticeChangedDuringSend(ctx, work, disclosure, changedBy);
  return false;
}

/** A disclosure whose child's consents changed while it was sent: noticed when a consent now denies it. */
async function noticeChangedDuringSend(
  ctx: PipelineContext,
  work: DeliveryWork,
  disclosure: Omit<ChildDisclosure, 'inbox_id' | 'disclosed_at'>,
  changedBy: readonly ConsentWriter[],
): Promise<void> {
  // Consents another kind of event carried (a referral's) send no notices, here as at their own map stage.
  const writers = changedBy.filter((w) => w.inboxId === null || CONSENT_EVENT_TYPES.has(w.eventType ?? ''));
  if (writers.length === 0) {
    return;
  }
  // A consent event whose map stage has not ended searches again once it has (`noticeDisclosedMeanwhile`); the
  // newest of those that have ended tells the municipality, through its own notice.
  if (writers.some((w) => w.state !== null && NOT_ENDED.has(w.state))) {
    return;
  }
  const by = writers.find((w) => w.inboxId !== null && w.state !== null && ENDED.has(w.state));
  if (!by?.inboxId) {
    ctx.log.warn({ deliveryId: work.id }, 'consents changed during the send, by no consent event on record');
    return;
  }
  const consentRow = await tryGetSealedEvent(ctx.db, by.inboxId);
  let consentEvent: CanonicalEvent;
  try {
    consentEvent = openEvent(ctx.cipher, consentRow!);
  } catch {
    ctx.log.warn({ deliveryId: work.id, consentEvent: by.inboxId }, 'consent event unreadable: no withdrawal notice');
    return;
  }
  const asDisclosed: ChildDisclosure = { ...disclosure, inbox_id: work.inbox_id, disclosed_at: new Date() };
  await noticeDisclosures(ctx, consentRow!, consentEvent, childConsentsOnce(ctx, consentEvent), [asDisclosed], {
    traceId: consentRow!.trace_id,
    stage: 'deliver',
  });
}

/** A consent event's states before its map stage ended (its search for disclosures is still to come, or running). */
const NOT_ENDED: ReadonlySet<EventState> = new Set(['received', 'unacknowledged', 'mapped']);

/** A consent event's states after its map stage ended: a notice may be added (`STEPS.withdrawalNoticeLater`). */
const ENDED: ReadonlySet<EventState> = new Set(['completed', 'decided', 'delivered', 'dead']);

/**
 * Decides each disclosure again for the consent event (audited, stage `redecide`), and groups those the consent now
 * denies by destination: one notice of the consent event per destination.
 */
async function noticesOf(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  consents: ChildConsents,
  disclosed: readonly ChildDisclosure[],
): Promise<(NewNotice & { disclosures: string[] })[]> {
  const now = new Date();
  const byDestination = new Map<string, NewNotice & { disclosures: string[] }>();
  for (const d of disclosed) {
    // About the child as the consent event names it now, for the purpose and data classes that were disclosed.
    const asDisclosed: CanonicalEvent = { ...event, municipalityCode: d.municipality };
    const decision = await decideForEvent(
      ctx,
      asDisclosed,
      d.purpose as Purpose,
      now,
      d.data_classes as DataClass[],
      consents,
    );
    const withdrawn = withdrawnByConsent(decision);
    const configured = ctx.registry.destinations.some((x) => x.id === d.destination);
    await ctx.audit.append(
      row.tenant,
      consentDecision({
        actor: SYSTEM_WORKER,
        permit: decision.effect === 'permit',
        reasons: reasonText(decision),
        patientBsn: event.patient.bsn,
        inboxId: d.inbox_id,
        consentIds: decision.consentIds,
        consentVersions: decision.consentVersions,
        agreement: auditedAgreement(ctx.registry, decision.agreement),
        municipality: d.municipality,
        purpose: d.purpose,
        stage: 'redecide',
        consequence: withdrawn
          ? {
              reference: `inbox/${row.id}`,
              description: configured
                ? `withdrawal notice to destination ${d.destination}`
                : `destination ${d.destination} is no longer configured: no withdrawal notice can be sent`,
            }
          : undefined,
      }),
    );
    if (!withdrawn || !configured) {
      continue;
    }
    let notice = byDestination.get(d.destination);
    if (!notice) {
      const { id, idempotencyKey } = newDelivery(row.id, d.destination);
      notice = { id, destination: d.destination, idempotencyKey, disclosures: [] };
      byDestination.set(d.destination, notice);
    }
    notice.disclosures.push(d.delivery_id);
  }
  return [...byDestination.values()];
}

/** What the consent event's map stage searched and decided: the disclosures it found. */
export interface SearchedDisclosures {
  readonly created: DeliveryRow[];
  readonly searched: ReadonlySet<string>;
}

/**
 * Map stage, for a consent event: decides each of the child's disclosures no notice covered yet again (audited) and
 * creates a withdrawal notice to each destination holding data the consent now denies, moving the consent event
 * `decided` (with `passing`). Returns the notices created, for the caller to queue (none when nothing is
 * withdrawn), and the disclosures it searched, for `noticeDisclosedMeanwhile`.
 */
export async function createWithdrawalNotices(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  consents: ChildConsents,
  passing: readonly EventState[],
): Promise<SearchedDisclosures> {
  if (!CONSENT_EVENT_TYPES.has(event.eventType)) {
    return { created: [], searched: new Set() };
  }
  const childKey = getPseudonymiser(ctx.config).inboxChildKey(row.tenant, event.patient.bsn);
  const disclosed = await unnoticedDisclosuresOfChild(ctx.db, row.tenant, childKey);
  const searched = new Set(disclosed.map((d) => d.delivery_id));
  const notices = disclosed.length === 0 ? [] : await noticesOf(ctx, row, event, consents, disclosed);
  if (notices.length === 0) {
    return { created: [], searched };
  }
  const destinations = notices.map((n) => n.destination).join(', ');
  const created = await decideWithdrawalNotices(ctx.db, {
    inboxId: row.id,
    reason: `${NOTICE_QUEUED}${destinations}`,
    passing,
    notices,
  });
  return { created, searched };
}

/**
 * Map stage, for a consent event, once its outcome (`completed` or `decided`) is committed: the child's disclosures
 * recorded since its search, which a delivery in flight may have recorded after that search and checked before this
 * outcome was committed (`recordDisclosed` then leaves them to this consent event). One statement more per consent
 * event; those it finds are decided again and noticed as `recordDisclosed` does.
 */
export async function noticeDisclosedMeanwhile(
  ctx: PipelineContext,
  row: EventRow,
  event: CanonicalEvent,
  consents: ChildConsents,
  searched: ReadonlySet<string>,
): Promise<void> {
  if (!CONSENT_EVENT_TYPES.has(event.eventType)) {
    return;
  }
  const childKey = getPseudonymiser(ctx.config).inboxChildKey(row.tenant, event.patient.bsn);
  const meanwhile = (await unnoticedDisclosuresOfChild(ctx.db, row.tenant, childKey)).filter(
    (d) => !searched.has(d.delivery_id),
  );
  if (meanwhile.length > 0) {
    await noticeDisclosures(ctx, row, event, consents, meanwhile, { traceId: row.trace_id, stage: 'map' });
  }
}

/**
 * Decides `disclosed` again for a consent event whose map stage has ended and tells each destination that holds data
 * the consent now denies: the consent event's notice to it is created (the same idempotency key as the map stage's,
 * so whichever side claims the disclosure first tells the municipality, once) or, when it exists already, a
 * follow-up notice per disclosure (`addWithdrawalNotice`): joining it could leave a disclosure out of a notice that
 * was already read for its send, while the records said it was in it.
 */
async function noticeDisclosures(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  consents: ChildConsents,
  disclosed: readonly ChildDisclosure[],
  trace: { traceId: string; stage: 'map' | 'deliver' },
): Promise<void> {
  for (const notice of await noticesOf(ctx, row, event, consents, disclosed)) {
    const added = await addWithdrawalNotice(ctx.db, {
      inboxId: row.id,
      reason: `${NOTICE_QUEUED}${notice.destination}`,
      notice,
    });
    if (added.kind === 'claimed-already') {
      continue;
    }
    if (added.followUp) {
      // The event's notice to the destination was created before these were recorded: it may be on its way or sent
      // without them, so they went into follow-up notices of their own.
      ctx.log.info(
        {
          consentEvent: row.id,
          traceId: trace.traceId,
          destination: notice.destination,
          noticeDeliveries: added.deliveries.map((x) => x.id),
        },
        'withdrawal notice already created: a follow-up notice names data disclosed during its consent event',
      );
    }
    logEventStates(ctx.log, {
      eventId: row.id,
      traceId: trace.traceId,
      stage: trace.stage,
      states: ['decided'],
      reason: 'withdrawal notice',
    });
    for (const delivery of added.deliveries) {
      await ctx.queues.enqueueDeliver(delivery, trace.traceId);
    }
  }
}

/** The notice's status: the consent withdrawn or voided as the event says, or a new consent (an objection) in force. */
function noticeStatusOf(eventType: string): Consent['status'] {
  switch (eventType) {
    case 'consent.withdrawn':
      return 'inactive';
    case 'consent.entered-in-error':
      return 'entered-in-error';
    default:
      return 'active';
  }
}

/**
 * The withdrawal notice as a FHIR R4 Consent (scope patient-privacy, category LOINC 59284-0, as the consents the
 * practice records): for a withdrawal status `inactive` (recorded in error: `entered-in-error`) over the permit that
 * no longer holds; for an objection or a narrower consent status `active` with a deny provision. Either way the
 * provision names the municipality (IRCP), the purposes and data classes disclosed, and each resource it received
 * (`provision.data`, meaning `instance`), a referral with its business identifier too. Its id is made from the
 * notice's idempotency key: each notice is a resource of its own at the receiver. It cites the consent the event is
 * about (`sourceReference`) by the `version` the event wrote in the consent registry (`Consent/<id>/_history/<v>`,
 * the reference its disclosure's audit row cites it by); by its id alone when the event wrote none (before 087).
 */
export function buildWithdrawalNotice(
  event: CanonicalEvent,
  disclosed: readonly ChildDisclosure[],
  idempotencyKey: string,
  version?: number,
): Consent {
  const consent = event.resources.find((r): r is Consent => r.resourceType === 'Consent');
  const status = noticeStatusOf(event.eventType);
  const first = disclosed[0];
  if (!first) {
    throw new PermanentDeliveryError('a withdrawal notice without anything disclosed');
  }
  const seen = new Set<string>();
  const data: ConsentProvisionData[] = [];
  for (const d of disclosed) {
    for (const reference of d.resources) {
      if (seen.has(reference)) {
        continue;
      }
      seen.add(reference);
      const business =
        reference.startsWith('ServiceRequest/') && d.referral_system && d.referral_value
          ? { identifier: { system: d.referral_system, value: d.referral_value } }
          : {};
      data.push({ meaning: 'instance', reference: { reference, ...business } });
    }
  }
  const purposes = [...new Set(disclosed.map((d) => d.purpose))];
  const classes = [...new Set(disclosed.flatMap((d) => d.data_classes))];
  const deny = status === 'active';
  return {
    resourceType: 'Consent',
    id: deterministicId('withdrawal-notice', idempotencyKey),
    status,
    scope: { coding: [{ ...PRIVACY_CONSENT_SCOPE }] },
    category: [{ coding: [{ ...PRIVACY_CONSENT_CATEGORY }] }],
    ...(consent?.patient ? { patient: consent.patient } : {}),
    ...(consent?.dateTime ? { dateTime: consent.dateTime } : {}),
    organization: [{ identifier: agbIdentifier(event.practice.agb) }],
    ...(consent?.id ? { sourceReference: { reference: consentReference(consent.id, version) } } : {}),
    policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: deny ? 'OPTOUT' : 'OPTIN' }] },
    provision: {
      type: deny ? 'deny' : 'permit',
      actor: [
        {
          role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP', display: 'information recipient' }] },
          reference: { identifier: municipalityIdentifier(first.municipality) },
        },
      ],
      purpose: purposes.map((code) => ({ system: PURPOSE_SYSTEM, code })),
      class: classes.map((code) => ({ system: RESOURCE_TYPE_SYSTEM, code })),
      data,
    },
  };
}

/** The consent event of a notice; pending, its content is never purged, so failing to read it is permanent. */
function openConsentEvent(ctx: PipelineContext, work: DeliveryWork): CanonicalEvent {
  try {
    return openEvent(ctx.cipher, work);
  } catch (err) {
    throw new PermanentDeliveryError(`the stored consent event cannot be read: ${(err as Error).message}`);
  }
}

/**
 * The send of a notice (or its failure) as what it is: the disclosure of a withdrawal notice (a Consent) to the
 * municipality, about the child. Not a new disclosure of the child's data: the resources the notice names are
 * entities it refers to, the consent event's consent is the reason for it, and the agreements are those the
 * disclosures it covers rested on (`noteOf`).
 */
function noticeAudit(work: DeliveryWork, event: CanonicalEvent, municipality: string): DisclosureAudit {
  return (note, outcome, outcomeDesc) => {
    const [notice = '', ...referredTo] = note.resources;
    return withdrawalNoticeDisclosure({
      actor: SYSTEM_WORKER,
      patientBsn: event.patient.bsn,
      inboxId: work.inbox_id,
      municipality,
      destination: work.destination,
      purpose: note.purpose,
      notice,
      referredTo,
      reason: { consentIds: note.consentIds, consentVersions: note.consentVersions, eventType: event.eventType },
      agreements: note.agreements ?? (note.agreement ? [note.agreement] : []),
      outcome,
      outcomeDesc,
    });
  };
}

/**
 * What the notice's disclosure names: the notice, then what it withdraws; the consent the event is about, as the
 * version it wrote (`reason`, `Consent/<id>/_history/<v>`; without a version when it wrote none); the
 * agreements the withdrawn disclosures rested on. A disclosure recorded before migration 061 kept no agreement: the
 * one in force for its purpose and data classes on the day it was made stands in (what its decision selected then,
 * unless the registry changed since).
 */
function noteOf(
  registry: Registry,
  event: CanonicalEvent,
  notice: Consent,
  disclosed: readonly ChildDisclosure[],
  reason: { readonly consentId: string | undefined; readonly version: number | undefined },
): SentNote {
  const { consentId, version } = reason;
  const agreements = new Map<string, AuditedAgreementRef>();
  for (const d of disclosed) {
    const agreement = d.agreement ?? agreementInForceAt(registry, event.practice.agb, d);
    if (agreement) {
      agreements.set(`${agreement.id}@${agreement.version}`, agreement);
    }
  }
  const [first] = agreements.values();
  return {
    purpose: disclosed[0]?.purpose ?? 'referral',
    resources: [`Consent/${notice.id ?? ''}`, ...new Set(disclosed.flatMap((d) => d.resources))],
    agreement: first,
    agreements: [...agreements.values()],
    consentIds: consentId ? [consentId] : [],
    ...(consentId && version !== undefined ? { consentVersions: { [consentId]: version } } : {}),
  };
}

/** The agreement in force for a disclosure's purpose and data classes on the day it was made. */
export function agreementInForceAt(
  registry: Registry,
  practiceAgb: string,
  d: Pick<ChildDisclosure, 'municipality' | 'purpose' | 'data_classes' | 'disclosed_at'>,
): AuditedAgreementRef | undefined {
  const classes = d.data_classes as DataClass[];
  const request = {
    practiceAgb,
    municipalityCode: d.municipality,
    purpose: d.purpose as Purpose,
    dataClasses: classes,
    at: d.disclosed_at,
  };
  const [agreement] = selectAgreements(registry.agreements, request, classes, amsterdamDay(d.disclosed_at)).fitting;
  return agreement ? auditedAgreement(registry, { id: agreement.id, version: agreement.version }) : undefined;
}

/**
 * The deliver stage's part for a withdrawal notice (a delivery of a consent event): the notice built from what the
 * municipality received, sent through the destination's adapter. A format that cannot carry one (isamenleving) ends
 * in a dead letter that says so, audited as a failed disclosure, without counting against the destination's health:
 * an operator then tells the municipality another way.
 */
export const withdrawalNoticeDelivery: DeliveryKind = {
  auditOf: (ctx, work) => {
    const event = openConsentEvent(ctx, work);
    return noticeAudit(work, event, municipalityOf(ctx, work, event));
  },
  async prepare(ctx, job, work) {
    const event = openConsentEvent(ctx, work);
    const disclosed = await disclosuresOfNotice(ctx.db, work.id);
    // The reason: the consent the event is about, as the version the event wrote (the withdrawal, the objection),
    // cited by the notice and by its audit row alike.
    const consentId = event.resources.find((r) => r.resourceType === 'Consent')?.id;
    const version = consentId ? await tryGetVersionWrittenBy(ctx.db, consentId, work.inbox_id) : undefined;
    const notice = buildWithdrawalNotice(event, disclosed, work.idempotency_key, version);
    const note = noteOf(ctx.registry, event, notice, disclosed, { consentId, version });
    const audit = noticeAudit(work, event, municipalityOf(ctx, work, event));
    const adapter = ctx.registry.destinations.find((d) => d.id === work.destination)?.adapter ?? '';
    if (!carriesWithdrawalNotices(adapter)) {
      const reason = noticeNotCarried(adapter);
      await ctx.audit.append(work.tenant, audit(note, '8', reason));
      await finishDeliveryLogged(
        ctx,
        { traceId: job.data.traceId, stage: 'deliver' },
        {
          deliveryId: work.id,
          inboxId: work.inbox_id,
          deliveryState: 'dead',
          step: 'deadLetter',
          reason,
          error: reason,
          countsAsAttempt: false,
        },
      );
      return 'not-carried';
    }
    const resources: Resource[] = [notice];
    return { resources, eventType: event.eventType, note, audit };
  },
};

function municipalityOf(ctx: PipelineContext, work: DeliveryWork, event: CanonicalEvent): string {
  return ctx.registry.destinations.find((d) => d.id === work.destination)?.municipality ?? event.municipalityCode;
}
