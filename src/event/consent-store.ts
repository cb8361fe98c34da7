import type { Consent } from '@medplum/fhirtypes';
import type { Db } from '../kernel/db';

/**
 * Writes consents into the registry. A re-sent consent (same deterministic id) replaces the old one; a withdrawal
 * (status `inactive`) keeps what was consented to and only marks it withdrawn, so decisions can still say which
 * consent was withdrawn rather than that none was ever given.
 */
export async function upsertConsents(
  db: Db,
  tenant: string,
  patientBsn: string,
  consents: readonly Consent[],
): Promise<void> {
  for (const c of consents) {
    await db.query(
      `INSERT INTO consent (id, tenant, patient_bsn, status, date_time, resource) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
         date_time = CASE WHEN EXCLUDED.status = 'inactive' THEN consent.date_time ELSE EXCLUDED.date_time END,
         resource = CASE WHEN EXCLUDED.status = 'inactive'
           THEN jsonb_set(consent.resource, '{status}', '"inactive"') ELSE EXCLUDED.resource END,
         updated_at = now()`,
      [c.id, tenant, patientBsn, c.status, c.dateTime ?? null, JSON.stringify(c)],
    );
  }
}

/** Every consent a practice recorded for a child, newest first. */
export async function listConsents(db: Db, tenant: string, patientBsn: string): Promise<Consent[]> {
  const rows = await db.query<{ resource: Consent }>(
    'SELECT resource FROM consent WHERE tenant = $1 AND patient_bsn = $2 ORDER BY date_time DESC NULLS LAST, id',
    [tenant, patientBsn],
  );
  return rows.map((r) => r.resource);
}
