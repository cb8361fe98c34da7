import type { Resource } from '@medplum/fhirtypes';
import { ICPC_SYSTEM } from '../kernel/fhir/systems';
import { DATA_CLASSES, type DataClass } from '../contracts/sharing';

/**
 * Data minimisation: only what the agreement's allow-list names may leave. Free text, diagnosis codes and journal
 * content are medical data a municipality gets only when an agreement names the element that carries them.
 */

/** Kept on every resource that may leave: without them the receiver cannot identify or version it. */
const ALWAYS_KEPT = new Set(['resourceType', 'id', 'meta']);

/**
 * Elements that exist to carry free text, diagnoses or journal lines (which HIS mappings put in `note`). Naming
 * one of these is the explicit choice to share it, so it leaves as it is, ICPC codes and text included.
 */
const FREE_TEXT_ELEMENTS = new Set([
  'text',
  'note',
  'reasonCode',
  'reasonReference',
  'diagnosis',
  'comment',
  'description',
  'patientInstruction',
  'supportingInfo',
]);

/** Inside any other element these keys hold free text (CodeableConcept.text, Annotation, Narrative, ...). */
const NESTED_FREE_TEXT = new Set(['text', '_text', 'note', '_note']);

/** ICPC-1, ICPC-1-NL and ICPC-2 share this prefix; a diagnosis code must not slip through under a sibling URI. */
const ICPC_PREFIX = ICPC_SYSTEM.replace(/-1-nl$/, '');

const DROP = Symbol('drop');

function isDataClass(type: string): type is DataClass {
  return (DATA_CLASSES as readonly string[]).includes(type);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIcpcCoding(value: Record<string, unknown>): boolean {
  return typeof value.system === 'string' && value.system.startsWith(ICPC_PREFIX);
}

/** A copy without nested free text and ICPC codings; DROP when nothing is left of it. */
function withoutFreeText(value: unknown): unknown {
  if (Array.isArray(value)) {
    const kept = value.map(withoutFreeText).filter((v) => v !== DROP);
    return kept.length > 0 ? kept : DROP;
  }
  if (!isRecord(value)) {
    return value;
  }
  if (isIcpcCoding(value)) {
    return DROP;
  }
  const copy: Record<string, unknown> = {};
  let kept = 0;
  for (const [key, child] of Object.entries(value)) {
    if (NESTED_FREE_TEXT.has(key)) {
      continue;
    }
    const clean = withoutFreeText(child);
    if (clean !== DROP) {
      copy[key] = clean;
      kept++;
    }
  }
  return kept > 0 ? copy : DROP;
}

/** The element name a key belongs to: `_birthDate` holds the extensions of `birthDate`. */
function elementOf(key: string): string {
  return key.startsWith('_') ? key.slice(1) : key;
}

function minimiseOne(resource: Resource, fields: readonly string[]): Resource {
  const allowed = new Set(fields);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource as unknown as Record<string, unknown>)) {
    const element = elementOf(key);
    if (ALWAYS_KEPT.has(key)) {
      out[key] = structuredClone(value);
    } else if (allowed.has(element)) {
      const clean = FREE_TEXT_ELEMENTS.has(element) ? structuredClone(value) : withoutFreeText(value);
      if (clean !== DROP) {
        out[key] = clean;
      }
    }
  }
  return out as unknown as Resource;
}

/**
 * Cuts resources down to the allow-lists: resources of a type without an allow-list are dropped, the rest keep
 * `resourceType`, `id`, `meta` and the listed top-level elements. Pure: returns new objects, never mutates.
 */
export function minimise(
  resources: readonly Resource[],
  allowedFields: Partial<Record<DataClass, readonly string[]>>,
): Resource[] {
  const out: Resource[] = [];
  for (const resource of resources) {
    const type = resource.resourceType;
    const fields = isDataClass(type) && Object.hasOwn(allowedFields, type) ? allowedFields[type] : undefined;
    if (fields !== undefined) {
      out.push(minimiseOne(resource, fields));
    }
  }
  return out;
}
