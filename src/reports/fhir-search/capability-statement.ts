import type {
  CapabilityStatement,
  CapabilityStatementRestResourceInteraction,
  CapabilityStatementRestResource,
  ResourceType,
} from '@medplum/fhirtypes';
import type { FhirResourceProvider } from './resource-provider';
import { getSearchDefinition } from './search-definitions';

/** Result parameters every type takes, as the CapabilityStatement lists them. */
const COMMON_SEARCH_PARAMS = [
  { name: '_count', type: 'number', documentation: 'page size (default 50, at most 500)' },
  { name: '_total', type: 'token', documentation: 'none | estimate (default) | accurate' },
  { name: '_summary', type: 'token', documentation: "'count' (the total, no entries) or 'false'; no summary views" },
  { name: '_elements', type: 'string', documentation: 'top-level elements to return (tagged SUBSETTED)' },
  { name: '_sort', type: 'string', documentation: 'see each type' },
] as const;

/**
 * A `/fhir` interaction besides the providers' read and search: one route on a type without the search machinery.
 * Its path follows from it (`read`: `GET /<type>/<id>`, `create`: `POST /<type>`), so the route mounted for it and
 * what the CapabilityStatement declares are the same thing.
 */
export type FhirInteraction =
  | { readonly resourceType: ResourceType; readonly code: 'read'; readonly id: string; readonly documentation: string }
  | {
      readonly resourceType: ResourceType;
      readonly code: 'create';
      readonly documentation: string;
      /** `If-None-Exist` is honoured. */
      readonly conditionalCreate?: boolean;
    };

/** The route of an interaction below `/fhir`, in Express's form. */
export function interactionRoute(i: FhirInteraction): { method: 'get' | 'post'; path: string } {
  return i.code === 'read'
    ? { method: 'get', path: `/${i.resourceType}/${i.id}` }
    : { method: 'post', path: `/${i.resourceType}` };
}

export interface CapabilityOptions {
  /** `<PUBLIC_BASE_URL>/fhir`. */
  readonly fhirBase: string;
  readonly version: string;
  readonly corsEnabled: boolean;
  /** When this statement was generated (start-up): a client caching it can tell two apart. */
  readonly date: string;
}

/**
 * What every resource here says of itself besides its interactions: no history (but a versioned provider's), no
 * conditional writes (but a create's).
 */
const NOT_SUPPORTED = {
  readHistory: false,
  updateCreate: false,
  conditionalCreate: false,
  conditionalUpdate: false,
  conditionalDelete: 'not-supported',
} as const satisfies Partial<CapabilityStatementRestResource>;

/** What a type that keeps its versions (a provider with `history`) adds to read. */
const HISTORY_INTERACTIONS = (type: string): CapabilityStatementRestResourceInteraction[] => [
  { code: 'vread', documentation: `GET ${type}/{id}/_history/{vid}: one kept version` },
  {
    code: 'history-instance',
    documentation: `GET ${type}/{id}/_history: every version, newest first (no _count, _since or _at)`,
  },
];

/** Whether the type's create honours `If-None-Exist`. */
function conditionalCreateIn(list: readonly FhirInteraction[]): boolean {
  return list.some((i) => i.code === 'create' && i.conditionalCreate === true);
}

/**
 * The CapabilityStatement, generated from what the router mounts: the providers' types with read, search and their
 * search parameters (with the standard definitions they follow), the other interactions (`interactions`), formats
 * and security. Nothing here is written by hand per type, so it cannot claim what the routes do not do, nor leave out
 * what they do.
 */
export function capabilityStatement(
  providers: readonly FhirResourceProvider[],
  interactions: readonly FhirInteraction[],
  opts: CapabilityOptions,
): CapabilityStatement {
  const others = new Map<ResourceType, FhirInteraction[]>();
  for (const i of interactions) {
    others.set(i.resourceType, [...(others.get(i.resourceType) ?? []), i]);
  }
  const declared = (list: readonly FhirInteraction[]): CapabilityStatementRestResourceInteraction[] =>
    list.map((i) => {
      const { method, path } = interactionRoute(i);
      return { code: i.code, documentation: `${method.toUpperCase()} ${path.slice(1)}: ${i.documentation}` };
    });
  const served = new Set<string>(providers.map((p) => p.spec.resourceType));
  const otherResources: CapabilityStatementRestResource[] = [...others]
    .filter(([type]) => !served.has(type))
    .map(([type, list]) => ({
      type,
      interaction: declared(list),
      versioning: 'no-version',
      // Express answers 304 to an If-None-Match with the ETag of a read's answer (a hash of it); nothing to read, none.
      conditionalRead: list.some((i) => i.code === 'read') ? 'not-match' : 'not-supported',
      ...NOT_SUPPORTED,
      conditionalCreate: conditionalCreateIn(list),
    }));
  // A type with a provider lists its other interactions (Task's create) in its own entry: one entry per type.
  const providerResources: CapabilityStatementRestResource[] = providers.map(({ spec, versioning, history }) => ({
    type: spec.resourceType,
    documentation: spec.documentation,
    interaction: [
      { code: 'read', documentation: `GET ${spec.resourceType}/{id}` },
      ...(history ? HISTORY_INTERACTIONS(spec.resourceType) : []),
      { code: 'search-type', documentation: `GET ${spec.resourceType}?… or POST ${spec.resourceType}/_search` },
      ...declared(others.get(spec.resourceType) ?? []),
    ],
    versioning,
    // Every read has an ETag (W/"<versionId>", else a hash of the answer) and Last-Modified (meta.lastUpdated).
    conditionalRead: 'full-support',
    ...NOT_SUPPORTED,
    readHistory: history !== undefined,
    conditionalCreate: conditionalCreateIn(others.get(spec.resourceType) ?? []),
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
    implementation: {
      description:
        'jeugdbrug FHIR API: audit log, consent registry, monitoring Measure, referral status as Task, a ' +
        'municipality’s received referrals as ServiceRequest',
      url: opts.fhirBase,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Unknown parameters, of a search or a read: 400 naming the parameter (Prefer: handling=strict, the ' +
          'default), or ignored (and left out of a search’s self link) with Prefer: handling=lenient. A read takes ' +
          '_elements, _summary=false, _format and _pretty=true (indented). FHIR R4 JSON only, by every name ' +
          '(application/fhir+json, application/json, application/json+fhir, json; fhirVersion=4.0 or none): any ' +
          'other _format (xml, another fhirVersion) is 406 naming _format, an Accept without it 406 naming Accept ' +
          '(_format overrides Accept); a request body of another type or fhirVersion is 415 naming Content-Type.',
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
        resource: [...providerResources, ...otherResources],
      },
    ],
  };
}
