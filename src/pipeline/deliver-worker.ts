import type { Job } from 'bullmq';
import { consentDecision, disclosure, SYSTEM_WORKER } from '../audit/balp';
import type { RetryableDeliveryError } from '../delivery/errors';
import { PermanentDeliveryError } from '../delivery/errors';
import { postTransaction } from '../delivery/fhir-rest';
import { mapStoredEvent } from '../ingest/stored-event';
import { toTransactionBundle } from '../../mappings/municipality/fhir-rest/to-transaction';
import { minimise } from '../policy/minimise';
import { recordAttempt, tryGetDelivery } from '../store/deliveries';
import { transition, tryGetInboxRow } from '../store/inbox';
import type { PipelineContext } from './context';
import { decideForEvent, purposeOf, reasonText } from './decide-event';
import type { DeliverJobData } from './queues';

/**
 * Deliver stage: decide again right before sending (a consent may have been withdrawn since mapping), cut the
 * resources down to the agreement's allow-list, send, and record the disclosure. Transient failures throw to be
 * retried; permanent ones and the last attempt become a dead letter that an operator can replay.
 */
export async function processDeliverJob(ctx: PipelineContext, job: Job<DeliverJobData>): Promise<string> {
  const delivery = await tryGetDelivery(ctx.db, job.data.deliveryId);
  if (!delivery || delivery.state !== 'pending') {
    return 'skipped';
  }
  const row = await tryGetInboxRow(ctx.db, delivery.inbox_id);
  const destination = ctx.registry.destinations.find((d) => d.id === delivery.destination);
  if (!row || !destination) {
    throw new PermanentDeliveryError(`destination ${delivery.destination} is no longer configured`);
  }
  const event = mapStoredEvent(ctx.cipher, row);
  const purpose = purposeOf(event.eventType) ?? 'referral';
  const decision = await decideForEvent(ctx, event, purpose, new Date());
  const decisionAudit = {
    actor: SYSTEM_WORKER,
    permit: decision.effect === 'permit',
    reasons: reasonText(decision),
    patientBsn: event.patient.bsn,
    inboxId: row.id,
    consentIds: decision.consentIds,
    agreement: decision.agreement,
    municipality: event.municipalityCode,
    purpose,
    stage: 'deliver' as const,
  };
  await ctx.audit.append(row.tenant, consentDecision(decisionAudit));
  if (decision.effect === 'deny') {
    await ctx.db.transaction(async (tx) => {
      await recordAttempt(tx, delivery.id, {
        state: 'cancelled',
        error: `denied at delivery: ${reasonText(decision)}`,
      });
      await transition(tx, row.id, 'denied', {
        from: ['decided'],
        reason: `denied at delivery: ${reasonText(decision)}`,
      });
    });
    return 'denied';
  }
  const resources = minimise([...event.resources], decision.obligations.allowedFields);
  const disclosed = resources.map((r) => `${r.resourceType}/${r.id ?? ''}`);
  const disclosureAudit = {
    actor: SYSTEM_WORKER,
    patientBsn: event.patient.bsn,
    inboxId: row.id,
    municipality: event.municipalityCode,
    destination: destination.id,
    purpose,
    resources: disclosed,
    agreement: decision.agreement,
    consentIds: decision.consentIds,
  };
  try {
    const receipt = await postTransaction(
      destination,
      toTransactionBundle(resources, delivery.idempotency_key),
      { idempotencyKey: delivery.idempotency_key, traceId: job.data.traceId },
      ctx.config.DELIVERY_TIMEOUT_MS,
    );
    await ctx.db.transaction(async (tx) => {
      await recordAttempt(tx, delivery.id, { state: 'delivered', status: receipt.status, responseBody: receipt.body });
      await transition(tx, row.id, 'delivered', {
        from: ['decided'],
        reason: `${destination.id}: HTTP ${receipt.status}`,
      });
    });
    await ctx.audit.append(row.tenant, disclosure({ ...disclosureAudit, outcome: '0' }));
    return 'delivered';
  } catch (err) {
    const e = err as RetryableDeliveryError | PermanentDeliveryError;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const isFinal = e.name !== 'RetryableDeliveryError' || lastAttempt;
    const reason = `${destination.id}: ${e.message}${isFinal && e.name === 'RetryableDeliveryError' ? ' (retries exhausted)' : ''}`;
    if (!isFinal) {
      await recordAttempt(ctx.db, delivery.id, {
        state: 'pending',
        status: e.status,
        error: e.message,
        responseBody: e.responseBody,
      });
      throw err;
    }
    await ctx.db.transaction(async (tx) => {
      await recordAttempt(tx, delivery.id, {
        state: 'dead',
        status: e.status,
        error: e.message,
        responseBody: e.responseBody,
      });
      await transition(tx, row.id, 'dead', { from: ['decided'], reason });
    });
    await ctx.audit.append(row.tenant, disclosure({ ...disclosureAudit, outcome: '8', outcomeDesc: reason }));
    throw e.name === 'PermanentDeliveryError' ? err : new PermanentDeliveryError(reason, e.status, e.responseBody);
  }
}
