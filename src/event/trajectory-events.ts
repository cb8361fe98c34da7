import { randomUUID } from 'node:crypto';
import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { Job } from 'bullmq';
import {
  dataClassesOfTrajectoryEvent,
  deliveryEventTypeOf,
  toPracticeResources,
} from '../../mappings/practice/trajectory-to-fhir';
import type { TrajectoryEvent } from '../../mappings/practice/trajectory-event';
import {
  operatorAction,
  SYSTEM_WORKER,
  trajectoryDecision,
  trajectoryDisclosure,
  trajectoryEventReceived,
  type AuditActor,
} from '../audit/audit-events';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import { assertValidResource } from '../kernel/fhir/validation';
import { systemOfRecordOf, type Agreement } from '../policy/agreement';
import { decide } from '../policy/decide';
import { minimise } from '../policy/minimise';
import type { Decision } from '../policy/types';
import type { Consent, Resource } from '@medplum/fhirtypes';
import type { PipelineContext } from './context';
import { practiceReceiver, sendToPractice } from './practice-send';
import { childConsentsOnce, citedVersions, reasonText } from './decide';
import {
  denyTrajectoryEvent,
  insertTrajectoryEvent,
  listConsents,
  moveTrajectoryEvent,
  recordAttempt,
  reviveTrajectoryEvent,
  tryGetTrajectoryEvent,
  type TrajectoryEventRow,
} from './event-store';
import { enqueueOrDefer, type TrajectoryJobData } from './queues';
import { contentDigest, eventIdConflict } from './stored-event';
import { receiptedEvents, stillWithoutReceipt } from '../audit/receipts';
import { auditedAgreement, findAgreements } from './registry';
import { recordMonitoringFacts } from './monitoring-writer';
import type { CanonicalEvent, HisEventType } from '../contracts/his-dialect';

/**
 * The reverse direction: trajectory events (intake, contact, referral, closure) a municipality registered in its own
 * system, for a professional whose agreement names the municipality as system of record. Received, decided by the
 * same policy engine (purpose and legal basis from the agreement, its `toPractice` allow-list), stored encrypted,
 * and delivered to the practice's HIS through the `feedback` queue, with its retries, dead letters and replay.
 * Audited both ways: the receipt from the municipality and the disclosure to the practice.
 */

/** The agreements under which this municipality may send trajectory events to this practice at all. */
function reverseAgreementsOf(ctx: Pick<PipelineContext, 'registry'>, e: TrajectoryEvent): Agreement[] {
  return findAgreements(ctx.registry, e.practice.agb, e.municipality).filter(
    (a) => systemOfRecordOf(a) === 'municipality',
  );
}

/**
 * The guardians who speak for the child, as the practice recorded them: the RelatedPersons who gave or refused a
 * consent for this child. The municipality does not know the practice's ids of the family, so the consent registry
 * is the only source; a guardian who never consented is then simply not known (and a consent basis denies).
 */
function factsFromConsents(consents: readonly Consent[], birthDate: string) {
  const patientRef = consents.map((c) => c.patient?.reference).find((r) => r?.startsWith('Patient/'));
  const guardianIds = new Set<string>();
  for (const c of consents) {
    for (const p of c.performer ?? []) {
      if (p.reference?.startsWith('RelatedPerson/')) {
        guardianIds.add(p.reference.slice('RelatedPerson/'.length));
      }
    }
  }
  return {
    patient: { id: patientRef?.slice('Patient/'.length) ?? '', birthDate },
    guardians: [...guardianIds].map((relatedPersonId) => ({ relatedPersonId, hasAuthority: true })),
  };
}

async function decideTrajectoryEvent(ctx: PipelineContext, e: TrajectoryEvent, agreements: Agreement[]) {
  const purpose = agreements.find((a) => a.toPractice)?.toPractice?.purpose ?? 'contact-registration';
  const { consents, versions } = await listConsents(ctx.db, e.practice.agb, e.child.bsn);
  const decision: Decision = await ctx.metrics.time('policy', () =>
    Promise.resolve(
      decide(
        {
          practiceAgb: e.practice.agb,
          municipalityCode: e.municipality,
          purpose,
          dataClasses: dataClassesOfTrajectoryEvent(e.type),
          at: new Date(),
          direction: 'to-practice',
        },
        { agreements, consents, ...factsFromConsents(consents, e.child.birthDate) },
      ),
    ),
  );
  // The versions read, for the audit to cite (`Consent/<id>/_history/<v>`), as decideForEvent gives them.
  return {
    decision: { ...decision, consentVersions: citedVersions(decision.consentIds, versions) },
    purpose,
    consents,
  };
}

const COUNTED_AS: Record<TrajectoryEvent['type'], HisEventType> = {
  intake: 'contact.recorded',
  contact: 'contact.recorded',
  referral: 'referral.created',
  closure: 'trajectory.closed',
};

/**
 * The event as the monitoring report counts a practice's own events: its trajectory, contact or referral as the
 * practice receives them, the child, and the family as the practice's consents name it (whose consent the count
 * needs). Where the municipality's system is the system of record, these are the professional's trajectories: the
 * report of such a practice would otherwise stay empty.
 */
function countedEventOf(e: TrajectoryEvent, consents: readonly Consent[]): CanonicalEvent {
  const facts = factsFromConsents(consents, e.child.birthDate);
  return {
    eventType: COUNTED_AS[e.type],
    sourceEventId: e.eventId,
    occurredAt: e.date,
    practice: { agb: e.practice.agb },
    municipalityCode: e.municipality,
    patient: { bsn: e.child.bsn, birthDate: e.child.birthDate },
    guardians: facts.guardians,
    resources: [{ resourceType: 'Patient', id: facts.patient.id }, ...toPracticeResources(e)],
  };
}

/**
 * What the route answers: ids and states, nothing personal. The decision is its effect only: why a child's event may
 * not go to the practice (an objection, no consent, no guardian with authority) is the practice's to know, and any
 * BSN can be posted. The reasons stay in the audit (the deny's `outcomeDesc`) and the operator's list.
 */
export function trajectoryEventView(row: TrajectoryEventRow): Record<string, unknown> {
  return {
    id: row.id,
    eventId: row.source_event_id,
    type: row.event_type,
    practice: row.tenant,
    decision: { effect: row.decision },
    ...(row.agreement_id ? { agreement: { id: row.agreement_id, version: row.agreement_version } } : {}),
    delivery: {
      state: row.state,
      attempts: row.attempts,
      lastStatus: row.last_status,
      lastError: row.last_error,
      deliveredAt: row.delivered_at,
    },
    createdAt: row.created_at,
  };
}

/**
 * Receives one trajectory event from `actor`'s municipality: 403 unless an agreement between that municipality and
 * the practice names the municipality as system of record; otherwise decided, stored, audited (receipt and decision,
 * durable before this returns) and, when permitted, queued for the practice. A repeat of the municipality's event id
 * returns the first row (`duplicate`) and sends nothing again; the same id with other content is refused (409). A
 * repeat of one whose receipt was never recorded (its first request failed after storing it: answered 503) is its
 * acceptance: the receipt is audited now, and a held (`unacknowledged`) event goes on.
 */
export async function receiveTrajectoryEvent(
  ctx: PipelineContext,
  e: TrajectoryEvent,
  actor: AuditActor,
  traceId: string,
): Promise<{ row: TrajectoryEventRow; duplicate: boolean }> {
  const agreements = reverseAgreementsOf(ctx, e);
  if (agreements.length === 0) {
    throw new OperationOutcomeError({
      ...forbidden,
      issue: [
        {
          severity: 'error',
          code: 'forbidden',
          details: {
            text:
              `No agreement between practice ${e.practice.agb} and ${e.municipality} names the municipality's ` +
              'system as system of record (professional.systemOfRecord)',
          },
          expression: ['practice.agb'],
        },
      ],
    });
  }
  const { decision, purpose, consents } = await decideTrajectoryEvent(ctx, e, agreements);
  const id = randomUUID();
  const sealed = ctx.cipher.encrypt(e);
  const { row, duplicate, conflict } = await insertTrajectoryEvent(ctx.db, {
    id,
    tenant: e.practice.agb,
    municipality: e.municipality,
    sourceEventId: e.eventId,
    eventType: e.type,
    payload: sealed.data,
    payloadKeyId: sealed.keyId,
    submittedBy: actor.userId,
    decision: decision.effect,
    decisionReason: reasonText(decision),
    agreement: decision.agreement,
    // Random and stored: the practice sees the same key on every retry and replay.
    idempotencyKey: `tr-${id}`,
    traceId,
    contentDigest: contentDigest(e),
  });
  if (conflict) {
    throw new OperationOutcomeError(eventIdConflict('', e.eventId, row.id));
  }
  // A repeat sends nothing again. One whose receipt was never recorded (the first request failed in between, so the
  // municipality was not told it was accepted) is accepted now: its receipt is audited, with the decision as made
  // again now. Until then nothing of it is delivered (the reconciler holds it as `unacknowledged`).
  if (duplicate && !(await unreceipted(ctx, row))) {
    return { row, duplicate };
  }
  await ctx.audit.append(
    row.tenant,
    trajectoryEventReceived({
      actor,
      municipality: e.municipality,
      practiceAgb: e.practice.agb,
      patientBsn: e.child.bsn,
      trajectoryEventId: row.id,
      eventType: e.type,
      purpose,
    }),
  );
  await auditDecision(ctx, row, e, { decision, purpose }, 'receive');
  const countedEvent = countedEventOf(e, consents);
  await recordMonitoringFacts(ctx, countedEvent, childConsentsOnce(ctx, countedEvent), 'municipality');
  const current =
    row.state === 'unacknowledged' ? ((await moveTrajectoryEvent(ctx.db, row.id, 'acknowledged')) ?? row) : row;
  // A held event another worker acknowledged meanwhile has its job already: queueing it again is a no-op.
  if (current.state === 'pending' || current.state === 'unacknowledged') {
    await enqueueOrDefer(ctx, ctx.queues.enqueueTrajectory(current, traceId), { trajectoryEventId: row.id });
  }
  return { row: current, duplicate: false };
}

/** Whether a stored trajectory event is still without its receipt once its first request has had time to record it. */
async function unreceipted(ctx: PipelineContext, row: TrajectoryEventRow): Promise<boolean> {
  if ((await receiptedEvents(ctx.db, [row], 'trajectory_event')).has(row.id)) {
    return false;
  }
  const waited = [{ id: row.id, tenant: row.tenant, state: row.state, at: row.created_at }];
  return (await stillWithoutReceipt(ctx.db, waited, 'trajectory_event')).has(row.id);
}

/** A decision about a trajectory event, in the practice's audit chain (BALP AuthZ-Consent), at receipt or sending. */
function auditDecision(
  ctx: PipelineContext,
  row: Pick<TrajectoryEventRow, 'id' | 'tenant'>,
  event: TrajectoryEvent,
  { decision, purpose }: Pick<Awaited<ReturnType<typeof decideTrajectoryEvent>>, 'decision' | 'purpose'>,
  stage: 'receive' | 'deliver',
): Promise<void> {
  return ctx.audit.append(
    row.tenant,
    trajectoryDecision({
      actor: SYSTEM_WORKER,
      permit: decision.effect === 'permit',
      reasons: reasonText(decision),
      patientBsn: event.child.bsn,
      trajectoryEventId: row.id,
      consentIds: decision.consentIds,
      consentVersions: decision.consentVersions,
      agreement: auditedAgreement(ctx.registry, decision.agreement),
      practiceAgb: row.tenant,
      purpose,
      stage,
    }),
  );
}

/** The event as the practice receives it: FHIR, minimised to the allow-list, validated. */
function practiceResourcesOf(event: TrajectoryEvent, allowedFields: Parameters<typeof minimise>[1]): Resource[] {
  try {
    const resources = minimise(toPracticeResources(event), allowedFields);
    resources.forEach(assertValidResource);
    return resources;
  } catch {
    // The mapping's fault, the same on every retry (the validator's words stay out: they may quote the content).
    throw new PermanentDeliveryError('the trajectory event does not map to valid FHIR for the practice');
  }
}

/**
 * Delivers a trajectory event to the practice's HIS: decided again (a consent may have been withdrawn meanwhile),
 * minimised to the agreement's `toPractice` allow-list, validated, sent with the practice endpoint's adapter, and
 * audited as a disclosure (or as a failed one, once it is final).
 */
export async function processTrajectoryJob(ctx: PipelineContext, job: Job<TrajectoryJobData>): Promise<string> {
  let row = await tryGetTrajectoryEvent(ctx.db, job.data.trajectoryEventId);
  // Held for want of its receipt: a job is queued for it only once the receipt is recorded (TRAJECTORY_STEPS).
  if (row?.state === 'unacknowledged') {
    row = await moveTrajectoryEvent(ctx.db, row.id, 'acknowledged');
  }
  if (!row || row.state !== 'pending') {
    return 'skipped';
  }
  let event: TrajectoryEvent;
  try {
    if (!row.payload || !row.payload_key_id) {
      throw new Error('it is no longer held (retention)');
    }
    event = ctx.cipher.decrypt(row.payload_key_id, row.payload) as TrajectoryEvent;
  } catch (err) {
    // No retry can change that; nothing was disclosed, so there is no disclosure to audit.
    const reason = `the stored trajectory event cannot be read: ${(err as Error).message}`;
    await recordAttempt(ctx.db, 'trajectory_event', row.id, { state: 'dead', error: reason });
    throw new PermanentDeliveryError(reason);
  }
  const { decision, purpose } = await decideTrajectoryEvent(ctx, event, reverseAgreementsOf(ctx, event));
  const audit = {
    actor: SYSTEM_WORKER,
    practiceAgb: row.tenant,
    municipality: row.municipality,
    patientBsn: event.child.bsn,
    trajectoryEventId: row.id,
    purpose,
    endpoint: practiceReceiver(row.tenant),
  };
  // Decided twice, as towards municipalities: what changed since receipt (a withdrawal) stops it here.
  await auditDecision(ctx, row, event, { decision, purpose }, 'deliver');
  if (decision.effect !== 'permit') {
    // Denied, not dead: there is nothing for an operator to replay until the family's consent changes.
    await denyTrajectoryEvent(ctx.db, row.id, `denied at delivery: ${reasonText(decision)}`);
    return 'denied';
  }
  return sendToPractice(ctx, job, {
    table: 'trajectory_event',
    id: row.id,
    tenant: row.tenant,
    idempotencyKey: row.idempotency_key,
    eventType: deliveryEventTypeOf(event.type),
    attempts: row.attempts,
    occurredAt: row.created_at,
    resources: () => practiceResourcesOf(event, decision.obligations.allowedFields),
    deliveredAudit: (resources) =>
      trajectoryDisclosure({
        ...audit,
        outcome: '0',
        agreement: auditedAgreement(ctx.registry, decision.agreement),
        consentIds: decision.consentIds,
        consentVersions: decision.consentVersions,
        resources: resources.map((r) => `${r.resourceType}/${r.id ?? ''}`),
      }),
    deadLetterAudit: (reason) => trajectoryDisclosure({ ...audit, resources: [], outcome: '8', outcomeDesc: reason }),
  });
}

/** Replays a dead trajectory event (audited); false when it is not dead. It is decided again before sending. */
export async function replayTrajectoryEvent(ctx: PipelineContext, id: string, actor: AuditActor): Promise<boolean> {
  const revived = await reviveTrajectoryEvent(ctx.db, id);
  if (!revived) {
    return false;
  }
  await ctx.audit.append(
    revived.tenant,
    operatorAction({ actor, action: 'replay', target: `trajectory_event/${revived.id}` }),
  );
  await enqueueOrDefer(ctx, ctx.queues.enqueueTrajectory(revived, revived.trace_id), { trajectoryEventId: id });
  await enqueueOrDefer(ctx, ctx.queues.removeFailedRound('trajectory', revived), { trajectoryEventId: id });
  return true;
}
