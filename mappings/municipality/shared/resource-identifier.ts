import type { Identifier, Reference, Resource } from '@medplum/fhirtypes';
import { DATA_CLASSES } from '../../../src/contracts/sharing';
import { deterministicId, isUuid } from '../../../src/kernel/fhir/ids';

/**
 * Identifiers the outgoing mappings add, so receivers can match what they already hold without relying on our
 * resource ids (which a FHIR server assigning its own ids on create never keeps).
 */

/**
 * The identity of a resource across deliveries: its deterministic jeugdbrug id (derived from the practice and the
 * HIS's own record id, see mappings/his/shared/resource-ids.ts). It reveals nothing the id itself did not.
 */
export const RESOURCE_ID_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/resource-id';
/**
 * The logical base of jeugdbrug's own resources: a webhook notification's fullUrls, against which its resources'
 * relative references (`Patient/<id>`, a version `Consent/<id>/_history/<v>`) resolve, as FHIR's reference
 * resolution rules say.
 */
export const LOGICAL_BASE = 'https://jeugdbrug.nl/fhir';
/** The idempotency key of one delivery (one event to one destination), on the Bundle that carries it. */
export const DELIVERY_ID_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/delivery';

/**
 * `urn:uuid:<uuid>` for a Bundle entry whose resource or notification has the id or key `id`: the id itself when
 * it is a UUID (a mapped resource's is), else a UUID made from it (a MeasureReport's `monitoring-GM0226-2026-Q3`,
 * an idempotency key), since R4 takes nothing else after `urn:uuid:` and strict servers refuse it.
 */
export function uuidFullUrl(id: string): string {
  return `urn:uuid:${isUuid(id) ? id : deterministicId('fullUrl', id)}`;
}

function resourceIdentifier(id: string): Identifier {
  return { system: RESOURCE_ID_SYSTEM, value: id };
}

/** A copy of the resource that carries its resource-id identifier (once), for receivers to match on. */
export function withResourceIdentifier<T extends Resource>(resource: T): T {
  const id = resource.id;
  if (!id || !canHoldIdentifiers(resource)) {
    return resource;
  }
  const current = (resource as { identifier?: Identifier[] }).identifier ?? [];
  if (current.some((i) => i.system === RESOURCE_ID_SYSTEM)) {
    return resource;
  }
  return { ...resource, identifier: [...current, resourceIdentifier(id)] };
}

/** The resource types jeugdbrug sends (the data classes, and the monitoring report) all have `identifier` as a list. */
const WITH_IDENTIFIER_LIST: readonly string[] = [...DATA_CLASSES, 'MeasureReport'];

function canHoldIdentifiers(resource: Resource): boolean {
  return WITH_IDENTIFIER_LIST.includes(resource.resourceType);
}

/** `Type/<uuid>` references to our deterministic ids; anything else (absolute URLs, contained `#x`) is left alone. */
const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** `Type/<uuid>/_history/<version>`: one version of a resource of ours (a withdrawal notice's consent). */
const LOCAL_VERSION_REFERENCE =
  /^([A-Z][A-Za-z]+)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/_history\/\d+$/;

/**
 * A reference to one version of a resource of ours as a logical reference (by the identifier
 * `withResourceIdentifier` gives our resources), the version named in `display`: for a receiver that holds that
 * resource under an id of its own, or not at all. Undefined for any other reference.
 */
export function logicalVersionReference(reference: string | undefined): Reference | undefined {
  const m = reference ? LOCAL_VERSION_REFERENCE.exec(reference) : null;
  return m
    ? { type: m[1] as Reference['type'], identifier: { system: RESOURCE_ID_SYSTEM, value: m[2]! }, display: reference }
    : undefined;
}

/** Type and id of a local reference, or undefined. */
export function parseLocalReference(reference: string | undefined): { type: string; id: string } | undefined {
  const m = reference ? LOCAL_REFERENCE.exec(reference) : null;
  return m?.[1] && m[2] ? { type: m[1], id: m[2] } : undefined;
}

/**
 * Deep copy of a resource with every `reference` string rewritten by `fn` (undefined keeps it). Runs for every
 * resource delivered: plain loops over keys and elements, without the pair per property that `Object.entries` makes.
 */
export function rewriteReferences<T extends Resource>(resource: T, fn: (reference: string) => string | undefined): T {
  const walk = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) {
      return value;
    }
    if (Array.isArray(value)) {
      const items: unknown[] = [];
      for (const item of value) {
        items.push(walk(item));
      }
      return items;
    }
    const record = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(record)) {
      const v = record[k];
      out[k] = k === 'reference' && typeof v === 'string' ? (fn(v) ?? v) : walk(v);
    }
    return out;
  };
  return walk(resource) as T;
}
