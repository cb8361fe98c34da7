import type { Job } from 'bullmq';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { getAdapter } from '../../mappings/municipality/index';
import type { DeliveryEventType } from '../contracts/delivery-event-type';
import { PermanentDeliveryError } from '../contracts/delivery-errors';
import type { PipelineContext } from './context';
import { asDeliveryFailure, finalityOf } from './delivery-failure';
import { recordAttempt } from './event-store';
import { sealAnswer } from './receiver-answer';
import { tryGetPracticeEndpoint } from './feedback';
import { practiceEndpointOf } from './practices';

/** One send to a practice's HIS endpoint: a status update (feedback) or a municipality's trajectory event. */
export interface PracticeSend {
  readonly table: 'feedback' | 'trajectory_event';
  readonly id: string;
  readonly tenant: string;
  readonly idempotencyKey: string;
  readonly eventType: DeliveryEventType;
  /** Attempts recorded in this round: after one, every send repeats a failed attempt (a 409 is then retried). */
  readonly attempts: number;
  /** When the municipality's update was stored: the event's moment, the same on every attempt and replay. */
  readonly occurredAt: Date;
  /** What is sent; throws a PermanentDeliveryError when it cannot be made (a dead letter at once). */
  readonly resources: () => Resource[];
  /** The disclosure's AuditEvent once the practice accepted these resources. */
  readonly deliveredAudit: (resources: readonly Resource[]) => AuditEvent;
  /** The disclosure's AuditEvent for a send that ended in a dead letter. */
  readonly deadLetterAudit: (reason: string) => AuditEvent;
}

/** The receiver's name in reasons, dead letters and metrics: `practice-<agb>`. */
export const practiceReceiver = (tenant: string): string => `practice-${tenant}`;

/**
 * Sends to the practice's HIS with its endpoint's adapter, audits the disclosure before recording it delivered, and
 * on failure records the attempt (see failPracticeSend). A practice without a configured endpoint is a dead letter,
 * not a silent drop: once the endpoint is configured, an operator replays it.
 */
export async function sendToPractice(
  ctx: PipelineContext,
  job: Pick<Job<{ readonly traceId: string }>, 'attemptsMade' | 'opts' | 'data'>,
  send: PracticeSend,
): Promise<'delivered'> {
  let resources: Resource[];
  let receipt;
  // Where an unexpected error came from: the Task or trajectory mapping, or the endpoint's adapter.
  let source = `mapping of ${send.eventType}`;
  try {
    resources = send.resources();
    const endpoint = tryGetPracticeEndpoint(ctx, send.tenant);
    if (!endpoint) {
      throw new PermanentDeliveryError(`no HIS endpoint configured for practice ${send.tenant}`);
    }
    source = `adapter ${endpoint.adapter}`;
    receipt = await getAdapter(endpoint.adapter).deliver(practiceEndpointOf(endpoint), resources, {
      idempotencyKey: send.idempotencyKey,
      traceId: job.data.traceId,
      eventType: send.eventType,
      defaultTimeoutMs: ctx.config.DELIVERY_TIMEOUT_MS,
      repeat: send.attempts > 0,
      occurredAt: send.occurredAt.toISOString(),
    });
  } catch (err) {
    return failPracticeSend(ctx, job, send, asDeliveryFailure(err, source));
  }
  await ctx.audit.append(send.tenant, send.deliveredAudit(resources));
  await recordAttempt(ctx.db, send.table, send.id, {
    state: 'delivered',
    status: receipt.status,
    answer: sealAnswer(ctx.cipher, receipt),
  });
  return 'delivered';
}

/**
 * A send to a practice's HIS endpoint that failed: audited first when it ends the send (an outcome is never recorded
 * without its audit trail), recorded as an attempt, and thrown again for BullMQ: as it was to be retried, or as
 * permanent when it was the last chance.
 */
async function failPracticeSend(
  ctx: Pick<PipelineContext, 'db' | 'audit' | 'cipher'>,
  job: Pick<Job, 'attemptsMade' | 'opts'>,
  send: Pick<PracticeSend, 'table' | 'id' | 'tenant' | 'deadLetterAudit'>,
  err: unknown,
): Promise<never> {
  const failure = asDeliveryFailure(err);
  const { final, reason } = finalityOf(failure, job, practiceReceiver(send.tenant));
  if (final) {
    await ctx.audit.append(send.tenant, send.deadLetterAudit(reason));
  }
  await recordAttempt(ctx.db, send.table, send.id, {
    state: final ? 'dead' : 'pending',
    status: failure.status,
    error: failure.message,
    answer: sealAnswer(ctx.cipher, failure.answer),
  });
  if (!final) {
    throw failure;
  }
  throw failure.name === 'PermanentDeliveryError' ? failure : new PermanentDeliveryError(reason, failure.status);
}
