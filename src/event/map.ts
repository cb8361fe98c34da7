import { OperationOutcomeError } from '@medplum/core';
import { createHash, randomUUID } from 'node:crypto';
import { tryGetDestination } from './registry';
import { mapStoredEvent } from './stored-event';
import { decideAndCreateDelivery } from './delivery-store';
import { transition, tryGetInboxRow, TERMINAL_STATES } from './inbox-store';
import type { PipelineContext } from './context';
import { decideAndRecord, purposeOf, reasonText } from './decide';
import type { MapJobData } from './queues';

/**
 * Map stage: inbox row → FHIR (validated) → route → policy decision (audited) → a delivery, or a recorded stop.
 * Safe to run twice for the same event: each step checks the state it moves from.
 */
export async function processMapJob(ctx: PipelineContext, data: MapJobData): Promise<string> {
  const row = await tryGetInboxRow(ctx.db, data.inboxId);
  if (!row || TERMINAL_STATES.includes(row.state)) {
    return 'skipped';
  }
  if (row.state === 'decided') {
    // Decided before a crash: make sure the deliver job exists (a no-op when it does).
    const pending = await ctx.db.query<{ id: string; destination: string; round: number }>(
      `SELECT id, destination, round FROM delivery WHERE inbox_id = $1 AND state = 'pending'`,
      [row.id],
    );
    for (const d of pending) {
      await ctx.queues.enqueueDeliver(d, data.traceId);
    }
    return 'requeued';
  }
  let event;
  try {
    event = mapStoredEvent(ctx.cipher, row, { validate: true });
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      // The mapping rejects this record for good: retrying cannot help, a fixed mapping plus replay can.
      await transition(ctx.db, row.id, 'failed', { from: ['received', 'mapped'], reason: 'mapping failed' });
      return 'failed';
    }
    throw err;
  }
  // Mapping succeeded. `mapped` is recorded in the history together with the next state, in one statement.
  const next = {
    from: ['received', 'mapped'] as const,
    passing: row.state === 'received' ? (['mapped'] as const) : [],
  };
  const purpose = purposeOf(event.eventType);
  if (!purpose) {
    await transition(ctx.db, row.id, 'completed', { ...next, reason: 'recorded in the consent registry' });
    return 'completed';
  }
  const decision = await decideAndRecord(ctx, row, event, purpose, 'map');
  if (decision.effect === 'deny') {
    await transition(ctx.db, row.id, 'denied', { ...next, reason: reasonText(decision) });
    return 'denied';
  }
  const destination = tryGetDestination(ctx.registry, event.municipalityCode);
  if (!destination) {
    await transition(ctx.db, row.id, 'failed', {
      ...next,
      reason: `no destination configured for ${event.municipalityCode}`,
    });
    return 'failed';
  }
  const delivery = await decideAndCreateDelivery(ctx.db, {
    id: randomUUID(),
    inboxId: row.id,
    destination: destination.id,
    idempotencyKey: idempotencyKeyOf(row.id, destination.id),
    reason: reasonText(decision),
    passing: next.passing,
  });
  await ctx.queues.enqueueDeliver(delivery, data.traceId);
  return 'decided';
}

/** Stable per (event, destination): a receiver sees the same key however often we retry or replay. */
export function idempotencyKeyOf(inboxId: string, destinationId: string): string {
  return createHash('sha256').update(`${inboxId}|${destinationId}`).digest('base64url').slice(0, 32);
}
