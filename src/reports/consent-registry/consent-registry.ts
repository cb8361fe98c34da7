import type { Consent } from '@medplum/fhirtypes';
import type { Db } from '../../kernel/db';

/** Every consent recorded for a child (by BSN) in any practice, newest first; filter by scope before serving. */
export async function listConsentsOfChild(db: Db, bsn: string): Promise<{ tenant: string; resource: Consent }[]> {
  return db.query<{ tenant: string; resource: Consent }>(
    'SELECT tenant, resource FROM consent WHERE patient_bsn = $1 ORDER BY date_time DESC NULLS LAST, id',
    [bsn],
  );
}
