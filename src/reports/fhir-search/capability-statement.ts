import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { FhirResourceProvider } from './resource-provider';
import { getSearchDefinition } from './search-definitions';

/** Result parameters every type takes, as the CapabilityStatement lists them. */
const COMMON_SEARCH_PARAMS = [
  { name: '_count', type: 'number', documentation: 'page size (default 50, at most 500)' },
  { name: '_total', type: 'token', documentation: 'none | estimate (default) | accurate' },
  { name: '_summary', type: 'token', documentation: "only 'count': the total, no entries" },
  { name: '_elements', type: 'string', documentation: 'top-level elements to return (tagged SUBSETTED)' },
  { name: '_sort', type: 'string', documentation: 'see each type' },
] as const;

export interface CapabilityOptions {
  /** `<PUBLIC_BASE_URL>/fhir`. */
  readonly fhirBase: string;
  readonly version: string;
  readonly corsEnabled: boolean;
  /** When this statement was generated (start-up): a client caching it can tell two apart. */
  readonly date: string;
}

/**
 * The CapabilityStatement, generated from the providers the router mounts: the types, their interactions and
 * search parameters (with the standard definitions they follow), formats and security. Nothing here is written by
 * hand per type, so it cannot claim what the routes do not do.
 */
export function capabilityStatement(
  providers: readonly FhirResourceProvider[],
  opts: CapabilityOptions,
): CapabilityStatement {
  const resource: CapabilityStatementRestResource[] = providers.map(({ spec }) => ({
    type: spec.resourceType,
    documentation: spec.documentation,
    interaction: [
      { code: 'read', documentation: `GET ${spec.resourceType}/{id}` },
      { code: 'search-type', documentation: `GET ${spec.resourceType}?… or POST ${spec.resourceType}/_search` },
    ],
    versioning: 'no-version',
    readHistory: false,
    updateCreate: false,
    conditionalCreate: false,
    conditionalRead: 'not-supported',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchParam: [
      ...spec.params.map((p) => {
        const def = getSearchDefinition(spec.resourceType, p.code);
        const modifiers = p.modifiers?.length ? ` Modifiers: ${p.modifiers.map((m) => `:${m}`).join(', ')}.` : '';
        return { name: p.code, definition: def.url, type: def.type, documentation: `${p.documentation}${modifiers}` };
      }),
      ...COMMON_SEARCH_PARAMS.map((p) =>
        p.name === '_sort' ? { ...p, documentation: spec.sorts.flatMap((s) => [s, `-${s}`]).join(' | ') } : { ...p },
      ),
    ],
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: opts.date,
    publisher: 'jeugdbrug',
    kind: 'instance',
    software: { name: 'jeugdbrug', version: opts.version },
    implementation: { description: 'jeugdbrug FHIR API: audit log and consent registry', url: opts.fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Unknown search parameters: 400 naming the parameter (Prefer: handling=strict, the default), or ignored ' +
          'and left out of the self link with Prefer: handling=lenient.',
        security: {
          cors: opts.corsEnabled,
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }],
              text: 'Authorization: Bearer <API key or JWT>',
            },
          ],
          description:
            'Every request carries an API key or a JWT of a trusted issuer; the role and the practices and ' +
            'municipalities in scope decide what a search returns. Every read is itself recorded as an AuditEvent.',
        },
        resource,
      },
    ],
  };
}
