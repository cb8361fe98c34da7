import { operatorAction, type AuditActor } from '../audit/audit-events';
import type { CanonicalEvent } from '../contracts/his-dialect';
import type { StoredConsent } from '../policy/consent-cache';
import { decisionText } from '../policy/reason-words';
import type { Decision } from '../policy/types';
import type { PipelineContext } from './context';
import { childConsentsOnce, decideAndRecord, purposeOf, reasonText, type ChildConsents } from './decide';
import {
  deniedForConsentOfChild,
  keyDenialAndReadConsents,
  keyDeniedEvents,
  redecideAndCreateDelivery,
  restateDenial,
  supersededReferrals,
  type DeniedCursor,
  type DeniedForConsent,
  tryGetSealedEvent,
  type EventRow,
  type SealedEvent,
} from './event-store';
import { logEventStates, moveEventLogged } from './event-log';
import { newDelivery } from './idempotency-key';
import { recordMonitoringFacts } from './monitoring-writer';
import { tryGetDestination } from './registry';
import { getPseudonymiser } from './report-pseudonym';
import { openEvent } from './stored-event';

/**
 * A denied event is decided again when what it lacked may have arrived: when a consent is recorded for its child
 * (by the map stage, for that child's events denied for a consent reason in the last REDECIDE_WINDOW_DAYS), or when
 * an operator asks. Each new decision is audited (AuthZ-Consent, stage `redecide`); a permit moves the event
 * `denied → decided` and sends it, so the practice need not send it again (its re-send would only be `duplicate`).
 * The event's monitoring facts are recorded again as well, as the map stage records them.
 *
 * A consent finds its child's denied events by the child's key on the inbox row (`inbox.child_key`, a keyed hash,
 * report-pseudonym.ts `inboxChildKey`), which the stage that denied the event writes right after the denial
 * (`recheckConsentDenial`). A denial and a consent at the same moment each see the other, one way or the other: the
 * stage that denied reads the child's consents again after its denial is committed and decides again when they
 * changed since its decision read them; a consent it does not see then was committed later, and the consent's own
 * search, which runs after that, sees the denial.
 */

export type RedecideResult = 'permit' | 'deny' | 'not-denied' | 'no-destination' | 'not-shared' | 'purged';

/** How a decision again that denies is kept: only in the audit (a consent's search), or in the history too. */
interface RedecideOptions {
  /**
   * An operator asked: a denial again is recorded in the event's history (`deniedAgain`), so its timeline shows the
   * answer. A consent's search (`redecideForChild`) and the stages' re-check record a denial again only when its
   * reason changed (`restateDenial`), and without moving `updated_at`: recorded at each consent for the child, it would
   * fill the history, and moving `updated_at` would move the window of REDECIDE_WINDOW_DAYS and the retention of the
   * content, which are counted from it.
   */
  readonly recordDenial?: boolean;
}

/** Decides one denied event again; a permit creates (or revives) its delivery and queues it. */
async function redecideEvent(
  ctx: PipelineContext,
  row: EventRow & SealedEvent,
  traceId: string,
  opts: RedecideOptions = {},
): Promise<RedecideResult> {
  if (row.state !== 'denied') {
    return 'not-denied';
  }
  let event;
  try {
    event = openEvent(ctx.cipher, row);
  } catch {
    return 'purged';
  }
  return redecideOpened(ctx, row, event, traceId, childConsentsOnce(ctx, event), opts);
}

/** `redecideEvent` of an event already opened; `consents`: the child's consents, when just read. */
async function redecideOpened(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  traceId: string,
  consents: ChildConsents = childConsentsOnce(ctx, event),
  opts: RedecideOptions = {},
): Promise<RedecideResult> {
  const purpose = purposeOf(event.eventType);
  if (!purpose) {
    return 'not-shared';
  }
  // Counted as the map stage counts it, with the consents that are there now: the map stage decided about monitoring
  // without the consent that has since arrived, so a child's events would otherwise never count. The facts are
  // keyed by the records' pseudonyms, so an event decided again twice, or counted already, counts once.
  await recordMonitoringFacts(ctx, event, consents);
  const decision = await decideAndRecord(ctx, row, event, purpose, 'redecide', consents);
  if (decision.effect === 'deny') {
    const trace = { eventId: row.id, traceId, stage: 'redecide' } as const;
    if (opts.recordDenial) {
      const reason = `decided again: ${decisionText(decision)}`;
      // False when it is no longer denied: another process decided it meanwhile, and recorded that.
      await moveEventLogged(ctx, trace, 'deniedAgain', { reason });
    } else if (await restateDenial(ctx.db, row.id, decisionText(decision))) {
      // A consent changed why it is denied (one guardian of two consented): the practice sees who is still missing.
      logEventStates(ctx.log, { ...trace, states: ['denied'], reason: reasonText(decision) });
    }
    return 'deny';
  }
  const destination = tryGetDestination(ctx.registry, event.municipalityCode);
  if (!destination) {
    return 'no-destination';
  }
  const delivery = await redecideAndCreateDelivery(ctx.db, {
    ...newDelivery(row.id, destination.id),
    reason: `decided again: ${reasonText(decision)}`,
  });
  if (!delivery) {
    return 'not-denied';
  }
  await ctx.queues.enqueueDeliver(delivery, traceId);
  return 'permit';
}

/** Whether a consent recorded for the child could change a denial: one of its reasons is a consent's (`consent-…`). */
export function deniedForConsent(decision: Decision): boolean {
  return decision.effect === 'deny' && decision.reasons.some((r) => r.code.startsWith('consent-'));
}

/** The consents as read, compared by id and stored version (new on every write, never given twice). */
const consentsSeen = (consents: readonly StoredConsent[]): string =>
  consents
    .map((c) => `${c.id}@${c.version}`)
    .sort()
    .join(',');

/**
 * Right after the map or deliver stage committed an event's denial for a consent reason (`deniedForConsent`): keys
 * the event with its child's key and reads the child's consents again, in one statement; when they are not the ones
 * the decision read (`seen`), a consent was recorded in between, whose own search for the child's denied events may
 * have run before this denial was committed, and the event is decided again now (audited as stage `redecide`).
 * Returns that decision's result, or undefined when the consents had not changed. One statement more per consent
 * denial; none for a permit.
 */
export async function recheckConsentDenial(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  seen: readonly StoredConsent[],
  traceId: string,
): Promise<RedecideResult | undefined> {
  if (ctx.config.REDECIDE_WINDOW_DAYS === 0) {
    return undefined; // consents decide nothing again (redecideForChild), so neither does this
  }
  const now = await keyDenialAndReadConsents(ctx.db, {
    inboxId: row.id,
    childKey: getPseudonymiser(ctx.config).inboxChildKey(row.tenant, event.patient.bsn),
    tenant: event.practice.agb,
    patientBsn: event.patient.bsn,
  });
  if (consentsSeen(now) === consentsSeen(seen)) {
    return undefined;
  }
  return redecideOpened(ctx, row, event, traceId, () => Promise.resolve(now));
}

/** How many denied events a consent's search reads at a time. */
const DENIED_PAGE = 500;

/**
 * After a consent for the child with `patientBsn` is recorded at practice `tenant`: decides again each of that
 * child's events denied for a consent reason within the window, found by the child's key. Events denied before the
 * key was kept (migration 030) are opened to see their child, and keyed on the way. Every denied event of the child
 * is opened on every consent (the superseded check needs its event type and Encounters), not only once. Returns
 * how many are now permitted.
 *
 * Only the newest version of a referral or contact is decided again (report-xhis2 finding 7): while a consent was
 * missing, each correction the practice sent was denied, and the municipality needs only the last. The events come
 * newest first in the practice's order (`deniedForConsentOfChild`); a referral with a later event of its identifier
 * (a correction or a cancellation, whatever became of it), or a contact whose Encounter a later denied version of
 * this child carries, stays denied, its reason saying it was superseded (`supersededReason`). A contact's later
 * version that is no longer denied (delivered) is the deliver stage's to weigh (contact-versions.ts).
 */
export async function redecideForChild(
  ctx: PipelineContext,
  tenant: string,
  patientBsn: string,
  traceId: string,
): Promise<number> {
  const windowDays = ctx.config.REDECIDE_WINDOW_DAYS;
  if (windowDays === 0) {
    return 0;
  }
  const pseudonyms = getPseudonymiser(ctx.config);
  const childKey = pseudonyms.inboxChildKey(tenant, patientBsn);
  let permitted = 0;
  let after: DeniedCursor | undefined;
  // The Encounters of the child's denied contacts met so far: those of newer versions.
  const newerContacts = new Map<string, string>();
  for (;;) {
    const page = await deniedForConsentOfChild(ctx.db, { tenant, childKey, windowDays, after, limit: DENIED_PAGE });
    const keyed: { id: string; childKey: string }[] = [];
    const ours: { row: DeniedForConsent; event: CanonicalEvent }[] = [];
    for (const row of page) {
      let event: CanonicalEvent;
      try {
        event = openEvent(ctx.cipher, row);
      } catch {
        continue; // its content is gone (retention): nothing could be sent anyway
      }
      if (row.child_key === childKey) {
        ours.push({ row, event });
        continue;
      }
      keyed.push({ id: row.id, childKey: pseudonyms.inboxChildKey(row.tenant, event.patient.bsn) });
      if (event.patient.bsn === patientBsn) {
        ours.push({ row, event });
      }
    }
    await keyDeniedEvents(ctx.db, keyed);
    const referrals = await supersededReferrals(
      ctx.db,
      ours.filter((o) => o.event.eventType === 'referral.created').map((o) => o.row.id),
    );
    for (const { row, event } of ours) {
      const superseded = supersededReason(event, row, referrals, newerContacts);
      if (superseded !== undefined) {
        if (await restateDenial(ctx.db, row.id, superseded)) {
          logEventStates(ctx.log, {
            eventId: row.id,
            traceId,
            stage: 'redecide',
            states: ['denied'],
            reason: superseded,
          });
        }
        continue;
      }
      if ((await redecideOpened(ctx, row, event, traceId)) === 'permit') {
        permitted++;
      }
    }
    const last = page.at(-1);
    if (!last || page.length < DENIED_PAGE) {
      return permitted;
    }
    after = last;
  }
}

/** What a superseded version's reason starts with (after `decided again: `): no decision's codes, so none again. */
const SUPERSEDED = 'superseded';

/**
 * Why a denied event is not decided again, or undefined when it is the newest version of its referral or contact:
 * `superseded: a newer version of this referral was received (event …)`, `… the practice cancelled this referral
 * (event …)`, or `… a newer version of this contact was received (event …)`, naming the practice's event id. The
 * contact's Encounters are added to `newerContacts` (with its event id) as the events pass, newest first.
 */
function supersededReason(
  event: CanonicalEvent,
  row: Pick<EventRow, 'id' | 'source_event_id'>,
  referrals: ReadonlyMap<string, { eventId: string; eventType: string }>,
  newerContacts: Map<string, string>,
): string | undefined {
  if (event.eventType === 'referral.created') {
    const by = referrals.get(row.id);
    if (by === undefined) {
      return undefined;
    }
    return by.eventType === 'referral.cancelled'
      ? `${SUPERSEDED}: the practice cancelled this referral (event ${by.eventId})`
      : `${SUPERSEDED}: a newer version of this referral was received (event ${by.eventId})`;
  }
  if (event.eventType !== 'contact.recorded') {
    return undefined;
  }
  const encounters = event.resources.filter((r) => r.resourceType === 'Encounter').map((r) => r.id ?? '');
  const newer = encounters.map((e) => newerContacts.get(e)).find((e) => e !== undefined);
  for (const e of encounters) {
    if (!newerContacts.has(e)) {
      newerContacts.set(e, row.source_event_id);
    }
  }
  return newer === undefined
    ? undefined
    : `${SUPERSEDED}: a newer version of this contact was received (event ${newer})`;
}

/** An operator's request to decide one event again (audited as an operator action); undefined for an unknown id. */
export async function redecideByOperator(
  ctx: PipelineContext,
  inboxId: string,
  actor: AuditActor,
): Promise<{ result: RedecideResult; row: EventRow } | undefined> {
  const row = await tryGetSealedEvent(ctx.db, inboxId);
  if (!row) {
    return undefined;
  }
  await ctx.audit.append(row.tenant, operatorAction({ actor, action: 'redecide', target: `inbox/${row.id}` }));
  return { result: await redecideEvent(ctx, row, row.trace_id, { recordDenial: true }), row };
}
