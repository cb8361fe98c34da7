import type { AuditEventAgent, Resource } from '@medplum/fhirtypes';
import type { EventRow, SealedEvent } from '../../event/event-store';
import type { Principal } from '../../access/principal';
import type { FhirSearch } from './parse-search';
import type { ResourceSearchSpec } from './search-spec';

export type { ResourceSearchSpec, SearchParamSpec } from './search-spec';

/** A page of matches, with the tokens of its neighbours and what the read touched (for its own AuditEvent). */
export interface SearchPage<T extends Resource> {
  readonly resources: readonly T[];
  /** Left out when not counted (`_total=none`, or more matches than are worth counting). */
  readonly total?: number | undefined;
  readonly next?: string | undefined;
  readonly previous?: string | undefined;
  /** The practices whose data was read: the read is recorded in each one's chain. */
  readonly tenants: readonly string[];
  /** The one child the search named, when it named exactly one. */
  readonly patientBsn?: string | undefined;
  /** What else the read touched, recorded with it (`inbox/<event id>`: a search by the event finds the read). */
  readonly related?: readonly string[] | undefined;
  /** Organisations whose data was read besides the practices (the municipality that sent a status). */
  readonly extraAgents?: readonly AuditEventAgent[] | undefined;
  /**
   * Stored events the search named that are all outside the caller's scope (the answer is then empty, as for names
   * that match nothing): the refused read is recorded in each one's practice chain, naming it and the child.
   */
  readonly refused?: readonly (EventRow & SealedEvent)[] | undefined;
}

/** One resource by id, whether or not the caller may see it (the caller's refusal is recorded, then a 404). */
export interface ReadResult<T extends Resource> {
  readonly resource: T;
  readonly tenant: string;
  readonly patientBsn?: string | undefined;
  readonly inScope: boolean;
  /** As in `SearchPage`. */
  readonly related?: readonly string[] | undefined;
  readonly extraAgents?: readonly AuditEventAgent[] | undefined;
}

/** Every kept version of one resource, newest first, whether or not the caller may see it (as `ReadResult`). */
export interface HistoryResult<T extends Resource> {
  /** The page's versions, newest first. */
  readonly versions: readonly T[];
  /** How many versions there are (recorded at or after `since`, when given), on every page. */
  readonly total: number;
  /** The version the next page starts below; undefined on the last page. */
  readonly nextBelow?: number | undefined;
  readonly tenant: string;
  readonly patientBsn?: string | undefined;
  readonly inScope: boolean;
}

/** One page of a history: at most `count` versions below version `below`, recorded at or after `since`. */
export interface HistoryPage {
  readonly count: number;
  readonly below?: number | undefined;
  readonly since?: string | undefined;
}

/** A type that keeps every version of its resources: FHIR vread and history-instance. */
export interface VersionHistory<T extends Resource> {
  /** One version (`GET <type>/<id>/_history/<versionId>`); undefined when there is no such version. */
  tryReadVersion(principal: Principal, id: string, versionId: number): Promise<ReadResult<T> | undefined>;
  /** Every version (`GET <type>/<id>/_history`); undefined when there is no such resource. */
  tryHistory(principal: Principal, id: string, page: HistoryPage): Promise<HistoryResult<T> | undefined>;
}

/**
 * A resource type served under `/fhir` with the shared search machinery: read by id and search. Adding a type
 * (Measure, MeasureReport, Task) is one provider in `src/reports/<name>/` and one line in the list in
 * `src/http/fhir-router.ts`; the routes, the CapabilityStatement and the OpenAPI document follow from it.
 */
export interface FhirResourceProvider<T extends Resource = Resource> {
  readonly spec: ResourceSearchSpec;
  /**
   * `versioned`: every resource it serves carries `meta.versionId`, new on every change (the read's ETag is
   * `W/"<versionId>"`); `no-version`: it keeps no versions, and says so in the CapabilityStatement. Either way
   * `meta.lastUpdated` (the read's Last-Modified) is set where the data has it.
   */
  readonly versioning: 'versioned' | 'no-version';
  /** Whether an id can be one of this type's (a malformed id is a 404 without a database round trip). */
  isId(id: string): boolean;
  /** Throws a 403 when the principal's role may not read this type at all. */
  assertMayRead(principal: Principal): void;
  search(principal: Principal, search: FhirSearch): Promise<SearchPage<T>>;
  tryRead(principal: Principal, id: string): Promise<ReadResult<T> | undefined>;
  /** Present for a type that keeps its versions (`versioned`): vread and history, declared in the statement. */
  readonly history?: VersionHistory<T> | undefined;
}
