import type { AuditEvent } from '@medplum/fhirtypes';
import { isUuid } from '../../kernel/fhir/ids';
import type { Principal } from '../../access/principal';
import type { Db } from '../../kernel/db';
import type { FhirSearch } from '../fhir-search/parse-search';
import type { FhirResourceProvider, ReadResult, SearchPage } from '../fhir-search/resource-provider';
import { searchAuditEvents, servedResource, tryGetAuditRow } from './search';
import { AUDIT_EVENT_SEARCH, encodeCursor, toAuditSearch } from './search-params';

/** `/fhir/AuditEvent` on the shared search machinery: every role reads, each within its scope (scope.ts). */
export function auditEventProvider(db: Db): FhirResourceProvider<AuditEvent> {
  return {
    spec: AUDIT_EVENT_SEARCH,
    // Append-only: an AuditEvent has one content forever, and no version number of its own to show.
    versioning: 'no-version',
    isId: isUuid,
    assertMayRead: () => undefined,
    async search(principal: Principal, search: FhirSearch): Promise<SearchPage<AuditEvent>> {
      const s = toAuditSearch(search);
      const page = await searchAuditEvents(db, principal, s);
      const onlyPatient = s.patients.length === 1 && s.patients[0]?.length === 1 ? s.patients[0][0] : undefined;
      return {
        resources: page.rows.map(servedResource),
        total: page.total,
        next: page.next && encodeCursor(page.next),
        previous: page.previous && encodeCursor(page.previous),
        tenants: page.rows.map((r) => r.tenant),
        patientBsn: onlyPatient,
      };
    },
    async tryRead(principal: Principal, id: string): Promise<ReadResult<AuditEvent> | undefined> {
      const found = await tryGetAuditRow(db, id, principal);
      return (
        found && {
          resource: servedResource(found.row),
          tenant: found.row.tenant,
          patientBsn: found.row.patient_bsn ?? undefined,
          inScope: found.inScope,
        }
      );
    },
  };
}
