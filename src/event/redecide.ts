import { operatorAction, type AuditActor } from '../audit/audit-events';
import type { PipelineContext } from './context';
import { childConsentsOnce, decideAndRecord, purposeOf, reasonText } from './decide';
import {
  deniedForConsentSince,
  redecideAndCreateDelivery,
  tryGetSealedEvent,
  type EventRow,
  type SealedEvent,
} from './event-store';
import { newDelivery } from './idempotency-key';
import { recordMonitoringFacts } from './monitoring-writer';
import { tryGetDestination } from './registry';
import { openEvent } from './stored-event';

/**
 * A denied event is decided again when what it lacked may have arrived: when a consent is recorded for its child
 * (by the map stage, for that child's events denied for a consent reason in the last REDECIDE_WINDOW_DAYS), or when
 * an operator asks. Each new decision is audited (AuthZ-Consent, stage `redecide`); a permit moves the event
 * `denied → decided` and sends it, so the practice need not send it again (its re-send would only be `duplicate`).
 * The event's monitoring facts are recorded again as well, as the map stage records them.
 */

export type RedecideResult = 'permit' | 'deny' | 'not-denied' | 'no-destination' | 'not-shared' | 'purged';

/** Decides one denied event again; a permit creates (or revives) its delivery and queues it. */
async function redecideEvent(
  ctx: PipelineContext,
  row: EventRow & SealedEvent,
  traceId: string,
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
  const purpose = purposeOf(event.eventType);
  if (!purpose) {
    return 'not-shared';
  }
  // Counted as the map stage counts it, with the consents that are there now: the map stage decided about monitoring
  // without the consent that has since arrived, so a child's events would otherwise never count. The facts are
  // keyed by the records' pseudonyms, so an event decided again twice, or counted already, counts once.
  const consents = childConsentsOnce(ctx, event);
  await recordMonitoringFacts(ctx, event, consents);
  const decision = await decideAndRecord(ctx, row, event, purpose, 'redecide', consents);
  if (decision.effect === 'deny') {
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

/**
 * After a consent for the child with `patientBsn` is recorded at practice `tenant`: decides again each of that
 * child's events denied for a consent reason within the window. Returns how many are now permitted.
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
  let permitted = 0;
  for (const row of await deniedForConsentSince(ctx.db, tenant, windowDays)) {
    let bsn: string;
    try {
      bsn = openEvent(ctx.cipher, row).patient.bsn;
    } catch {
      continue; // its content is gone (retention): nothing could be sent anyway
    }
    if (bsn === patientBsn && (await redecideEvent(ctx, row, traceId)) === 'permit') {
      permitted++;
    }
  }
  return permitted;
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
  return { result: await redecideEvent(ctx, row, row.trace_id), row };
}
