import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { RawRecord } from '../../../src/contracts/his-dialect';

/** Whether a JSON value is a FHIR Bundle: what tells the fhir-bundle dialect's records from generic events. */
export function isFhirBundle(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { resourceType?: unknown }).resourceType === 'Bundle';
}

/** Whether a JSON value looks like a generic-json event (an object with an `eventType`, no `resourceType`). */
export function isGenericEvent(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'eventType' in v && !('resourceType' in v);
}

/**
 * Refuses an element of a JSON array that belongs to the other JSON dialect. The dialect of an array is chosen by its
 * first element; without this, a generic event among Bundles was told every Bundle field it lacks (report-xhis F8).
 */
export function assertSameJsonDialect(record: RawRecord, dialect: string, other: string, isOther: boolean): void {
  if (record.location !== '' && isOther) {
    throw new OperationOutcomeError(
      badRequest(
        `Is a ${other} record in an array of ${dialect} records: an array holds records of one dialect, chosen by ` +
          'its first element; send the others in a request of their own',
        record.location,
      ),
    );
  }
}
