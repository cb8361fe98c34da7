import { conflict, notFound, OperationOutcomeError } from '@medplum/core';
import { operatorAction, type AuditActor } from '../audit/audit-events';
import { tryGetDialect } from '../../mappings/his/index';
import { httpStatusOf, unprocessableIssues } from '../kernel/fhir/outcomes';
import type { PipelineContext } from './context';
import { logEventStates } from './event-log';
import { moveEvent, tryGetSealedEvent, type EventRow, type SealedEvent } from './event-store';
import { INVALID_FHIR, invalidFhirIssues, mappingFailedReason, valueFreeIssues } from './mapping-failure';
import { enqueueOrDefer } from './queues';
import { PAYLOAD_PURGED } from './states';
import type { StoredRecord } from './stored-event';
import type { CanonicalEvent } from '../contracts/his-dialect';

/**
 * An operator's remap of a `failed` event (POST /admin/v1/events/{id}/remap): its record, kept encrypted in the inbox
 * as the HIS sent it, is mapped again with its dialect as it is now (after a fix) and validated; a valid result
 * replaces the canonical event, the event is `received` again and goes through the map stage as if new (decided,
 * sent). Audited as an operator action, with outcome 4 when refused. Throws 404 for an unknown event, 409 when it is
 * not `failed` or its record is gone (retention) or the new mapping makes it another event, 422 with the validator's
 * issues (codes and paths, no values) when the dialect still produces invalid FHIR or refuses the record; the event
 * then stays `failed`.
 */
export async function remapByOperator(ctx: PipelineContext, inboxId: string, actor: AuditActor): Promise<void> {
  const row = await tryGetSealedEvent(ctx.db, inboxId);
  if (!row) {
    throw new OperationOutcomeError(notFound);
  }
  const audit = (outcome: '0' | '4', description?: string) =>
    ctx.audit.append(
      row.tenant,
      operatorAction({ actor, action: 'remap', target: `inbox/${row.id}`, outcome, description }),
    );
  let event: CanonicalEvent;
  try {
    event = mappedAgain(ctx, row);
  } catch (err) {
    // Asked for and refused (409, 422): on record as such, outcome 4 with the answer's status; nothing changed.
    if (err instanceof OperationOutcomeError) {
      await audit('4', `refused: ${httpStatusOf(err.outcome)}`);
    }
    throw err;
  }
  // On record before it takes effect.
  await audit('0');
  const reason = `mapped again by ${actor.userId}`;
  const canonical = ctx.cipher.encrypt(event);
  const moved = await ctx.db.transaction(async (tx) => {
    if (!(await moveEvent(tx, row.id, 'remapped', { reason }))) {
      return false;
    }
    await tx.query('UPDATE inbox SET canonical = $2, canonical_key_id = $3, municipality = $4 WHERE id = $1', [
      row.id,
      canonical.data,
      canonical.keyId,
      event.municipalityCode,
    ]);
    return true;
  });
  if (!moved) {
    throw new OperationOutcomeError(conflict('The event is no longer failed'));
  }
  logEventStates(ctx.log, { eventId: row.id, traceId: row.trace_id, stage: 'remap', states: ['received'], reason });
  // The event keeps its trace id; a map job under the event's id (the earlier one completed and was removed).
  await enqueueOrDefer(ctx, ctx.queues.enqueueMap([{ inboxId: row.id, traceId: row.trace_id }]), {
    traceId: row.trace_id,
  });
}

/**
 * The event its stored record maps to now, valid and still the same event; throws the 409 or 422 `remapByOperator`
 * answers when the event cannot be mapped again (not failed, record gone, dialect gone) or the new mapping is no good.
 */
function mappedAgain(ctx: PipelineContext, row: EventRow & SealedEvent): CanonicalEvent {
  if (row.state !== 'failed') {
    throw new OperationOutcomeError(conflict(`The event is ${row.state}, not failed`));
  }
  if (!row.payload || !row.payload_key_id) {
    throw new OperationOutcomeError(conflict(`${PAYLOAD_PURGED}: the event can no longer be mapped again`));
  }
  const stored = ctx.cipher.decrypt(row.payload_key_id, row.payload) as StoredRecord;
  const dialect = tryGetDialect(stored.dialect);
  if (!dialect) {
    throw new OperationOutcomeError(conflict(`The event's dialect ${stored.dialect} is no longer installed`));
  }
  let event: CanonicalEvent;
  try {
    event = dialect.map(stored.record);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw new OperationOutcomeError(unprocessableIssues(valueFreeIssues(err).map(asIssue)));
    }
    throw err;
  }
  const issues = invalidFhirIssues(event.resources);
  if (issues) {
    ctx.log.warn(
      { eventId: row.id, traceId: row.trace_id, stage: 'remap', dialect: dialect.name, issues },
      'dialect ' + INVALID_FHIR,
    );
    const outcome = unprocessableIssues(issues.map(asIssue));
    outcome.issue[0] = {
      ...outcome.issue[0]!,
      diagnostics: mappingFailedReason(dialect.name, INVALID_FHIR, issues),
    };
    throw new OperationOutcomeError(outcome);
  }
  // What the event is stored, audited and answered as must not change under it: another practice, event id or type
  // would be another event (which the practice sends as such).
  if (
    event.practice.agb !== row.tenant ||
    event.sourceEventId !== row.source_event_id ||
    event.eventType !== row.event_type
  ) {
    throw new OperationOutcomeError(
      conflict('Mapped again, the record makes another event (practice, event id or event type changed)'),
    );
  }
  return event;
}

function asIssue(i: { code: string; expression: readonly string[] }) {
  return {
    severity: 'error' as const,
    code: i.code as 'invalid',
    ...(i.expression.length > 0 ? { expression: [...i.expression] } : {}),
  };
}
