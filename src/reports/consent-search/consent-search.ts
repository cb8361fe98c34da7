import type { Consent } from '@medplum/fhirtypes';
import type { Db } from '../../kernel/db';

/** Every consent recorded for a child by any practice, newest first, with the practice that recorded it. */
export async function consentsOfPatient(db: Db, patientBsn: string): Promise<{ tenant: string; resource: Consent }[]> {
  return db.query<{ tenant: string; resource: Consent }>(
    'SELECT tenant, resource FROM consent WHERE patient_bsn = $1 ORDER BY date_time DESC NULLS LAST, id',
    [patientBsn],
  );
}
