import type { ResourceType } from '@medplum/fhirtypes';

/** One search parameter a resource type serves: its code, the modifiers it takes, and what it matches here. */
export interface SearchParamSpec {
  /** The standard code (`patient`, `date`); its type and definition come from FHIR R4's own SearchParameter. */
  readonly code: string;
  /** Modifiers accepted besides none (`identifier` for `patient:identifier`). */
  readonly modifiers?: readonly string[];
  readonly documentation: string;
}

/** What a resource type's search understands: the one description the parser, the CapabilityStatement use. */
export interface ResourceSearchSpec {
  readonly resourceType: ResourceType;
  readonly documentation: string;
  readonly params: readonly SearchParamSpec[];
  /** Codes `_sort` accepts (each also as `-code`). */
  readonly sorts: readonly string[];
  /** When a search of this type can be ambiguous: what its 409 says (the OpenAPI document lists it). */
  readonly conflict?: string;
}
