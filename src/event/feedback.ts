import { randomUUID } from 'node:crypto';
import { conflict, notFound, OperationOutcomeError } from '@medplum/core';
import type { Identifier, ServiceRequest, Task } from '@medplum/fhirtypes';
import {
  serviceRequestStatusOf,
  statusDateOf,
  toFeedbackTask,
  type StatusUpdate,
} from '../../mappings/practice/to-task';
import { nextStatusesOf } from '../../mappings/practice/referral-status';
import { amsterdamDay } from '../kernel/dutch-time';
import { operatorAction, type AuditActor } from '../audit/audit-events';
import { feedbackReceived } from '../audit/audit-events';
import type { PracticeEndpoint } from './practices';
import { assertValidResource } from '../kernel/fhir/validation';
import { conflictField, failField } from '../kernel/fhir/outcomes';
import type { CanonicalEvent, HisReferralAddress } from '../contracts/his-dialect';
import { enqueueOrDefer } from './queues';
import { contentDigest, hisReferralAddressOf, openEvent } from './stored-event';
import { recordStatusFacts } from './monitoring-writer';
import { referredOnOf, statusDateIssues } from './status-dates';
import { throwIssues } from '../kernel/zod-outcome';
import type { PipelineContext } from './context';
import { canActForPractice, canSeeMunicipality, type Principal } from '../access/principal';
import { LOGICAL_BASE, RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { uuidOrUndefined } from './referral-identifier';
import {
  feedbackOrderOf,
  getSealedEvents,
  insertFeedback,
  referralEventsNamed,
  reviveFeedback,
  supersedeFeedback,
  tryGetCareStart,
  tryGetDeliveredCancellation,
  tryGetFeedback,
  tryGetSealedEvent,
  type EventRow,
  type FeedbackRow,
  type NewFeedback,
  type OtherFeedback,
  type ReferralNames,
  type SealedEvent,
} from './event-store';

/**
 * Feedback: a municipality's status on a referral it received (received, accepted, rejected, decision-issued,
 * care-started, care-ended, closed; `allocated` from the earlier vocabulary) is checked for order, stored,
 * audited, and sent back to the practice's HIS through the `feedback` queue (feedback-worker.ts).
 */

/** A referral event and the municipalities it reached or is on its way to: who may send status on it. */
export interface DeliveredReferral {
  readonly row: EventRow & SealedEvent;
  /** CBS codes of the municipalities whose destinations received it. */
  readonly deliveredTo: readonly string[];
  /** CBS codes of the municipalities whose destinations it is still on its way to. */
  readonly pendingTo: readonly string[];
  /** Its business identifier (`urn:agb:<practice AGB>:referral`, the HIS's referral id). */
  readonly identifier: { readonly system: string; readonly value: string };
}

/**
 * The referral events a municipality may mean by `key`, newest first, empty when nothing matches: every event of
 * each referral `key` names (the practice's first one and its corrections). `key` is anything the municipality
 * received, or the practice's HIS was sent, that names a referral: a business identifier of the ServiceRequest, the
 * referral id (`urn:agb:<agb>:referral`) or the HIS's own one forwarded after it (`value`, or `system|value`; a value
 * may hold a `|` itself, so both readings are tried), jeugdbrug's ServiceRequest id (bare, as iSamenleving's
 * `verwijzing.referentie`; `resource-id|<id>` as fhir-rest's identifier; `ServiceRequest/<id>` or the webhook's
 * `focus`), a fhir-bundle HIS's `ServiceRequest/<its id>` (its id is the referral id), or jeugdbrug's event id.
 */
/** `resource-id|<id>`: the README's and OpenAPI's short form of `RESOURCE_ID_SYSTEM|<id>`. */
const RESOURCE_ID_SHORT_SYSTEM = 'resource-id';

export async function findReferrals(
  ctx: PipelineContext,
  key: string,
  reader?: Principal,
): Promise<DeliveredReferral[]> {
  if (!key || key.length > 512) {
    return [];
  }
  const bar = key.indexOf('|');
  const identifier =
    bar > 0 && bar < key.length - 1 ? { system: key.slice(0, bar), value: key.slice(bar + 1) } : undefined;
  const byResourceId = identifier?.system === RESOURCE_ID_SYSTEM || identifier?.system === RESOURCE_ID_SHORT_SYSTEM;
  const bare = withoutReferenceType(key);
  const id = uuidOrUndefined(byResourceId ? identifier.value : bare);
  // `ServiceRequest/<id>` names a fhir-bundle HIS's own ServiceRequest too: its id is the referral id.
  const matches = await referralEventsNamed(ctx.db, {
    value: bare.length <= 256 ? bare : undefined,
    identifier,
    id,
    hisScope: reader && hisScopeOf(ctx, reader),
  });
  const rows = new Map(
    (
      await getSealedEvents(
        ctx.db,
        matches.map((m) => m.id),
      )
    ).map((r) => [r.id, r]),
  );
  const municipalitiesOf = (destinations: readonly string[], row: EventRow) => [
    ...new Set(
      destinations
        .map((d) => ctx.registry.destinations.find((x) => x.id === d)?.municipality ?? row.municipality)
        .filter((m): m is string => !!m),
    ),
  ];
  return matches.flatMap((m) => {
    const row = rows.get(m.id);
    return row
      ? [
          {
            row,
            deliveredTo: municipalitiesOf(m.delivered_to, row),
            pendingTo: municipalitiesOf(m.pending_to, row),
            identifier: { system: m.system, value: m.value },
          },
        ]
      : [];
  });
}

/**
 * Where a reader's HIS identifier is looked for (`ReferralNames.hisScope`): a municipality's among the referrals sent
 * to its destinations, any other role's within its practices; anywhere for a scope of every practice or municipality.
 */
function hisScopeOf(ctx: PipelineContext, reader: Principal): ReferralNames['hisScope'] {
  if (reader.role === 'municipality') {
    return reader.municipalities.includes('*')
      ? undefined
      : {
          destinations: ctx.registry.destinations
            .filter((d) => d.municipality && reader.municipalities.includes(d.municipality))
            .map((d) => d.id),
        };
  }
  return reader.practices.includes('*') ? undefined : { practices: reader.practices };
}

/**
 * The municipality the principal acts for that received `referral`, or undefined: who may send statuses on it and
 * read them as a municipality does (an operator's `'*'` scope included).
 */
export function receivingMunicipalityOf(principal: Principal, referral: DeliveredReferral): string | undefined {
  return referral.deliveredTo.find((m) => canSeeMunicipality(principal, m));
}

/** Whether `referral` is still on its way to a municipality the principal acts for (not delivered there yet). */
export function isOnItsWayTo(principal: Principal, referral: DeliveredReferral): boolean {
  return referral.pendingTo.some((m) => canSeeMunicipality(principal, m));
}

/**
 * Whether the principal may read the statuses on `referral`: a municipality when the referral reached it, the other
 * roles (the practice, its auditors and operators) within their practice scope, as they read the referral's event.
 */
export function mayReadStatusesOf(principal: Principal, referral: DeliveredReferral): boolean {
  return principal.role === 'municipality'
    ? receivingMunicipalityOf(principal, referral) !== undefined
    : canActForPractice(principal, referral.row.tenant);
}

/**
 * The newest event of each referral among `referrals` (`findReferrals` lists every event of each, the practice's
 * corrections too, newest first; a referral is its `system|value`).
 */
export function newestOfEachReferral(referrals: readonly DeliveredReferral[]): DeliveredReferral['row'][] {
  const newest = new Map<string, DeliveredReferral['row']>();
  for (const r of referrals) {
    const key = `${r.identifier.system}|${r.identifier.value}`;
    if (!newest.has(key)) {
      newest.set(key, r.row);
    }
  }
  return [...newest.values()];
}

/**
 * Throws a 409 when `referrals`, found by one identifier, belong to more than one practice; it names the
 * `system|value` of each, which the caller received with the referral.
 */
export function assertOnePractice(referrals: readonly DeliveredReferral[], expression: string): void {
  if (new Set(referrals.map((r) => r.row.tenant)).size < 2) {
    return;
  }
  const choices = [...new Set(referrals.map((r) => `${r.identifier.system}|${r.identifier.value}`))];
  throw new OperationOutcomeError(
    conflictField(
      'More than one practice sent a referral with this identifier; address the one meant as system|value ' +
        `(URL-encoded in a path), whose system names the practice: ${choices.join(' or ')}`,
      expression,
    ),
  );
}

/** `ServiceRequest/<id>` or the webhook's `https://jeugdbrug.nl/fhir/ServiceRequest/<id>` as `<id>`. */
function withoutReferenceType(key: string): string {
  const prefix = [`${LOGICAL_BASE}/ServiceRequest/`, 'ServiceRequest/'].find((p) => key.startsWith(p));
  return prefix ? key.slice(prefix.length) : key;
}

/** The referral as the practice knows it: our ServiceRequest id and the HIS's own identifier of the referral. */
export interface ReferralIdentity {
  readonly serviceRequestId: string;
  readonly identifier: Identifier;
  readonly patientBsn: string;
  /** When the referral was written (ServiceRequest.authoredOn), the start of its waiting times. */
  readonly authoredOn?: string | undefined;
  /**
   * Who referred, as delivered (ServiceRequest.requester.identifier: the professional's AGB, the practice's when the
   * HIS named nobody); absent for an identity retention kept before it was read here.
   */
  readonly requester?: Identifier | undefined;
  /** The child's municipality (CBS code): whose reporting pseudonyms the referral is counted under. */
  readonly municipality: string;
  /**
   * How the HIS itself addresses its ServiceRequest (a FHIR HIS: its id, its own identifiers), which a status update
   * sent back names instead of `identifier`; absent for other dialects.
   */
  readonly hisAddress?: HisReferralAddress | undefined;
}

/**
 * Reads the referral's identity from the stored event, or once retention removed its content, from what retention
 * kept of it (`keepReferralIdentities` in retention.ts); throws a 409 when that is gone too (REFERRAL_IDENTITY_RETENTION_DAYS).
 */
export function referralIdentityOf(ctx: Pick<PipelineContext, 'cipher'>, row: SealedEvent): ReferralIdentity {
  let event: CanonicalEvent;
  try {
    event = openEvent(ctx.cipher, row);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      throw err;
    }
    if (row.referral_identity && row.referral_identity_key_id) {
      return ctx.cipher.decrypt(row.referral_identity_key_id, row.referral_identity) as ReferralIdentity;
    }
    throw new OperationOutcomeError(conflict('The referral is no longer held (retention); no status can be sent'));
  }
  const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const identifier = request?.identifier?.[0];
  if (!request?.id || !identifier) {
    throw new OperationOutcomeError(notFound);
  }
  return {
    serviceRequestId: request.id,
    identifier,
    patientBsn: event.patient.bsn,
    authoredOn: request.authoredOn,
    requester: request.requester?.identifier,
    municipality: event.municipalityCode,
    hisAddress: hisReferralAddressOf(ctx.cipher, row),
  };
}

/**
 * A status update's Task to store: without the municipality's free-text reason (Task.statusReason.text), which may
 * name the child or hold social or clinical context, and that reason encrypted to store beside it (migration 040).
 */
function sealReason(ctx: Pick<PipelineContext, 'cipher'>, task: Task): Pick<NewFeedback, 'task' | 'reason'> {
  const { text, ...codes } = task.statusReason ?? {};
  if (text === undefined) {
    return { task, reason: undefined };
  }
  const withoutText: Task = { ...task, statusReason: codes };
  if (Object.keys(codes).length === 0) {
    delete withoutText.statusReason;
  }
  return {
    task: withoutText,
    reason: ctx.cipher.encrypt(text),
  };
}

/**
 * A stored status update's Task as the municipality sent it: with its free-text reason decrypted and put back (a
 * text an older release stored inside the Task is there already). Without it once retention removed it.
 */
export function feedbackTaskOf(
  ctx: Pick<PipelineContext, 'cipher'>,
  row: Pick<FeedbackRow, 'task' | 'reason_sealed' | 'reason_key_id'>,
): Task {
  if (!row.reason_sealed || !row.reason_key_id) {
    return row.task;
  }
  const text = ctx.cipher.decrypt(row.reason_key_id, row.reason_sealed) as string;
  return { ...row.task, statusReason: { ...row.task.statusReason, text } };
}

/** The referral's identity as `referralIdentityOf` reads it, or undefined once retention removed all of it. */
export function tryReferralIdentityOf(
  ctx: Pick<PipelineContext, 'cipher'>,
  row: SealedEvent,
): ReferralIdentity | undefined {
  try {
    return referralIdentityOf(ctx, row);
  } catch {
    return undefined;
  }
}

/**
 * Records a status update from `municipality` on a delivered referral: builds and validates the Task, stores it,
 * audits the receipt (durable before this returns), and enqueues its delivery to the practice. Its days must fall
 * between the referral and today (422 naming the field, `statusDateIssues`). With a request
 * key, a repeated request returns the first update (`duplicate`); the key with another update is a 422 at
 * `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header).
 */
export async function recordStatusUpdate(
  ctx: PipelineContext,
  a: {
    referral: DeliveredReferral;
    municipality: string;
    /** The request's field that named the referral, for the 409 of a cancelled one. */
    expression?: string | undefined;
    update: StatusUpdate;
    actor: AuditActor;
    requestKey?: string | undefined;
    /** The municipality's own identifiers of its FHIR Task, kept on the Task stored and sent on. */
    taskIdentifiers?: readonly Identifier[] | undefined;
    /**
     * The caller has just read that no cancellation of the referral reached the municipality (the console, which
     * shows a cancelled referral's page instead of its form): not read again.
     */
    notCancelled?: boolean | undefined;
  },
): Promise<{ feedback: FeedbackRow; duplicate: boolean }> {
  const { row } = a.referral;
  const cancellation = a.notCancelled ? undefined : await tryGetDeliveredCancellation(ctx.db, row.id);
  if (cancellation) {
    throw new OperationOutcomeError(
      conflictField(
        `The practice cancelled this referral (the cancellation reached you ${cancellation.deliveredAt.toISOString()})`,
        a.expression ?? 'referral',
      ),
    );
  }
  // With the record as the HIS sent it (which `findReferrals` does not read): how the HIS addresses its referral.
  const identity = referralIdentityOf(ctx, (await tryGetSealedEvent(ctx.db, row.id)) ?? row);
  const issues = statusDateIssues(a.update, {
    referredOn: referredOnOf(identity.authoredOn, row.received_at),
    today: amsterdamDay(new Date()),
    careStartedOn: a.update.endDate && !a.update.startDate ? await tryGetCareStart(ctx.db, row.id) : undefined,
  });
  if (issues.length) {
    throwIssues(issues);
  }
  const id = randomUUID();
  const statusDate = statusDateOf(a.update) ?? amsterdamDay(new Date());
  const task = toFeedbackTask(a.update, {
    feedbackId: id,
    referralIdentifier: identity.identifier,
    hisAddress: identity.hisAddress,
    municipalityCode: a.municipality,
    at: new Date().toISOString(),
    statusDate,
    identifiers: a.taskIdentifiers,
  });
  assertValidResource(task);
  const stored = await insertFeedback(ctx.db, {
    id,
    inboxId: row.id,
    tenant: row.tenant,
    municipality: a.municipality,
    status: a.update.status,
    serviceRequestStatus: serviceRequestStatusOf(a.update.status),
    ...sealReason(ctx, task),
    requestKey: a.requestKey,
    requestDigest: contentDigest(a.update),
    detailsDigest: contentDigest({ ...a.update, date: undefined }),
    submittedBy: a.actor.userId,
    // The feedback id is random and stored: the practice sees the same key on every retry and replay.
    idempotencyKey: `fb-${id}`,
    statusDate,
  });
  if ('keyReused' in stored) {
    failField(
      'This Idempotency-Key was used before on this referral for another status update; the first one stands. ' +
        'Send a new update with a key of its own',
      'Idempotency-Key',
    );
  }
  if ('outOfOrder' in stored) {
    const allowed = nextStatusesOf(stored.outOfOrder);
    // At `status`: the field the caller chose, so a form can say which of its fields to change.
    throw new OperationOutcomeError(
      conflictField(
        `The referral's current status is ${stored.outOfOrder}; ${a.update.status} may not follow it` +
          (allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (nothing may follow it)'),
        'status',
      ),
    );
  }
  const { row: feedback, duplicate } = stored;
  if (duplicate) {
    return { feedback, duplicate };
  }
  await recordStatusFacts(ctx, {
    ...a.update,
    municipality: identity.municipality,
    serviceRequestId: identity.serviceRequestId,
  });
  await ctx.audit.append(
    row.tenant,
    feedbackReceived({
      actor: a.actor,
      municipality: a.municipality,
      practiceAgb: row.tenant,
      patientBsn: identity.patientBsn,
      inboxId: row.id,
      feedbackId: id,
      serviceRequestId: identity.serviceRequestId,
      status: a.update.status,
    }),
  );
  await enqueueOrDefer(ctx, ctx.queues.enqueueFeedback(feedback, row.trace_id), { feedbackId: feedback.id });
  return { feedback, duplicate };
}

/** Why a status update was superseded: the later one, by its status and Task id (never content). */
export function supersededReason(later: Pick<OtherFeedback, 'id' | 'status' | 'state'>): string {
  const where = later.state === 'delivered' ? 'reached the practice' : 'is on its way to the practice';
  return (
    `superseded: a later status update (${later.status}, Task/${later.id}) ${where}; this older status was not ` +
    'sent, as it would set the referral back at the practice'
  );
}

/**
 * Replays a dead status update (audited); false when it is not dead. One a later update of its referral has
 * superseded (delivered, or on its way) is not sent: it would set the practice's ServiceRequest back to an older
 * status. It ends `superseded`, saying by which update, and counts as replayed (the replay is audited the same).
 */
export async function replayFeedback(ctx: PipelineContext, feedbackId: string, actor: AuditActor): Promise<boolean> {
  const later = (await feedbackOrderOf(ctx.db, feedbackId)).find((o) => !o.earlier && o.state !== 'dead');
  if (later) {
    const feedback = await tryGetFeedback(ctx.db, feedbackId);
    if (!feedback || !(await supersedeFeedback(ctx.db, feedbackId, ['dead'], supersededReason(later)))) {
      return false;
    }
    await ctx.audit.append(feedback.tenant, operatorAction({ actor, action: 'replay', target: `Task/${feedbackId}` }));
    return true;
  }
  const revived = await reviveFeedback(ctx.db, feedbackId);
  if (!revived) {
    return false;
  }
  await ctx.audit.append(revived.tenant, operatorAction({ actor, action: 'replay', target: `Task/${revived.id}` }));
  await enqueueOrDefer(ctx, ctx.queues.enqueueFeedback(revived, revived.trace_id), { feedbackId: revived.id });
  // The previous round's failed job is gone too, so the queue's failed count says what is still failed.
  await enqueueOrDefer(ctx, ctx.queues.removeFailedRound('feedback', revived), { feedbackId: revived.id });
  return true;
}

export function tryGetPracticeEndpoint(
  ctx: Pick<PipelineContext, 'registry' | 'config'>,
  agb: string,
): PracticeEndpoint | undefined {
  return ctx.registry.practices.find((p) => p.agb === agb);
}
