import { OperationOutcomeError } from '@medplum/core';
import { assertValidResource } from '../kernel/fhir/validation';
import type { PayloadCipher } from '../kernel/payload-crypto';
import type { InboxRow } from './inbox-store';
import type { CanonicalEvent, RawRecord } from '../contracts/his-dialect';
import { tryGetDialect } from '../../mappings/his/index';

/** What the inbox keeps of an event (encrypted): the record as the HIS sent it, so mapping can be re-run. */
export interface StoredRecord {
  readonly dialect: string;
  readonly record: RawRecord;
}

/**
 * Decrypts an inbox row and maps it again (pure and deterministic). The map stage validates every resource; later
 * stages map the same record with the same code, so they may skip the validation, which costs most of the time.
 */
export function mapStoredEvent(cipher: PayloadCipher, row: InboxRow, opts: { validate: boolean }): CanonicalEvent {
  if (!row.payload || !row.payload_key_id) {
    throw new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', details: { text: 'payload purged after retention' } }],
    });
  }
  const stored = cipher.decrypt(row.payload_key_id, row.payload) as StoredRecord;
  const dialect = tryGetDialect(stored.dialect);
  if (!dialect) {
    throw new Error(`Unknown dialect ${stored.dialect} in inbox row ${row.id}`);
  }
  const event = dialect.map(stored.record);
  if (opts.validate) {
    event.resources.forEach(assertValidResource);
  }
  return event;
}
