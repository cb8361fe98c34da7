import type { AuditEvent, Reference } from '@medplum/fhirtypes';
import { BSN_SYSTEM } from '../kernel/fhir/identifiers';

/** The columns audit search filters on, taken from the AuditEvent itself so they can never disagree with it. */
export interface AuditIndexFields {
  readonly type: string;
  readonly subtype: string | null;
  readonly outcome: string;
  readonly patientBsn: string | null;
  /** `system|value` of identifiers and `Type/id` of references of every agent. */
  readonly agents: string[];
  /** `Type/id` of references and `system|value` of identifiers of every entity. */
  readonly entities: string[];
}

/** Adds the `Type/id` of `ref` and the `system|value` of its identifier to `out`. */
function addTokensOf(ref: Reference | undefined, out: string[]): void {
  if (!ref) {
    return;
  }
  if (ref.reference) {
    out.push(ref.reference);
  }
  if (ref.identifier?.value) {
    out.push(`${ref.identifier.system ?? ''}|${ref.identifier.value}`);
  }
}

/**
 * The elements of an optional list. Anything else present (a string, in a resource read back) is not an AuditEvent
 * and throws, as calling an array method on it would.
 */
function elementsOf<T>(list: readonly T[] | undefined): readonly T[] {
  if (list === undefined || list === null) {
    return [];
  }
  if (!Array.isArray(list)) {
    throw new TypeError('not a list');
  }
  return list as readonly T[];
}

// Plain loops rather than find and flatMap: this runs for every audit row written and verified.
export function indexFieldsOf(event: AuditEvent): AuditIndexFields {
  const agents: string[] = [];
  for (const a of elementsOf(event.agent)) {
    addTokensOf(a.who, agents);
  }
  const entities: string[] = [];
  let patientBsn: string | null = null;
  let patientFound = false;
  for (const e of elementsOf(event.entity)) {
    addTokensOf(e.what, entities);
    if (!patientFound && e.what?.identifier?.system === BSN_SYSTEM) {
      patientFound = true;
      patientBsn = e.what.identifier.value ?? null;
    }
  }
  return {
    type: event.type.code ?? '',
    subtype: event.subtype?.[0]?.code ?? null,
    outcome: event.outcome ?? '0',
    patientBsn,
    agents,
    entities,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Thrown where the text is not the compact JSON `indexedPartsOf` reads; the caller then parses it whole. */
class NotCompactJson extends Error {}

/** The end (exclusive) of the string literal opening at `i`: the first quote not escaped by a backslash. */
function endOfString(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) {
    throw new NotCompactJson();
  }
  for (let from = i + 1; ;) {
    const q = text.indexOf('"', from);
    if (q < 0) {
      throw new NotCompactJson();
    }
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === BACKSLASH) {
      backslashes++;
    }
    if (backslashes % 2 === 0) {
      return q + 1;
    }
    from = q + 1;
  }
}

/** The end (exclusive) of the JSON value starting at `i`, in text without white space. */
function endOfValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) {
    return endOfString(text, i);
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) {
        j = endOfString(text, j) - 1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) {
        depth++;
      } else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) {
        return j + 1;
      }
    }
    throw new NotCompactJson();
  }
  // A number, true, false or null: up to the delimiter after it.
  let j = i;
  for (let d = c; j < text.length && d !== COMMA && d !== CLOSE_BRACE && d !== CLOSE_BRACKET;) {
    d = text.charCodeAt(++j);
  }
  return j;
}

/** Whether the key's text from `start` to `end` is `name`. */
function keyIs(text: string, start: number, end: number, name: string): boolean {
  return end - start === name.length && text.startsWith(name, start);
}

/** The value of the text from `start` to `end`: a string without escapes is sliced out, anything else parsed. */
function leafOf(text: string, start: number, end: number): unknown {
  if (text.charCodeAt(start) === QUOTE) {
    const raw = text.slice(start + 1, end - 1);
    if (!raw.includes('\\')) {
      return raw;
    }
  }
  return JSON.parse(text.slice(start, end)) as unknown;
}

/**
 * What to read of a JSON value: all of it (no shape, or one without members or elements), or just the members named
 * of an object (each by its own shape), or each element of an array by `each`. A value of another kind than its
 * shape expects is not what `indexedPartsOf` reads.
 */
interface Shape {
  readonly members?: readonly (readonly [name: string, shape?: Shape])[];
  readonly each?: Shape;
}

/**
 * Reads the value at `start` as `shape` says into `into[key]`; returns where the value ends. Loops of its own over
 * members and elements rather than a walker taking a callback: it runs for every value of every row verified.
 */
function readValue(
  text: string,
  start: number,
  shape: Shape | undefined,
  into: Record<string, unknown>,
  key: string | number,
): number {
  const members = shape?.members;
  if (members) {
    const value: Record<string, unknown> = {};
    into[key] = value;
    return readMembers(text, start, members, value);
  }
  const each = shape?.each;
  if (each) {
    const items: unknown[] = [];
    into[key] = items;
    return readElements(text, start, each, items);
  }
  const end = endOfValue(text, start);
  into[key] = leafOf(text, start, end);
  return end;
}

/** Reads the members named of the object at `start` into `value`; returns where the object ends. */
function readMembers(
  text: string,
  start: number,
  members: NonNullable<Shape['members']>,
  value: Record<string, unknown>,
): number {
  if (text.charCodeAt(start) !== OPEN_BRACE) {
    throw new NotCompactJson();
  }
  let j = start + 1;
  if (text.charCodeAt(j) === CLOSE_BRACE) {
    return j + 1;
  }
  for (;;) {
    // A key with an escape in it is not compact JSON here: keys are compared as they stand.
    const keyStart = j + 1;
    const keyEnd = endOfString(text, j) - 1;
    for (let k = keyStart; k < keyEnd; k++) {
      if (text.charCodeAt(k) === BACKSLASH) {
        throw new NotCompactJson();
      }
    }
    if (text.charCodeAt(keyEnd + 1) !== COLON) {
      throw new NotCompactJson();
    }
    const valueStart = keyEnd + 2;
    let end = -1;
    for (const [name, memberShape] of members) {
      if (keyIs(text, keyStart, keyEnd, name)) {
        end = readValue(text, valueStart, memberShape, value, name);
        break;
      }
    }
    if (end < 0) {
      end = endOfValue(text, valueStart);
    }
    const next = text.charCodeAt(end);
    if (next === CLOSE_BRACE) {
      return end + 1;
    }
    if (next !== COMMA) {
      throw new NotCompactJson();
    }
    j = end + 1;
  }
}

/** Reads each element of the array at `start` as `each` into `items`; returns where the array ends. */
function readElements(text: string, start: number, each: Shape, items: unknown[]): number {
  if (text.charCodeAt(start) !== OPEN_BRACKET) {
    throw new NotCompactJson();
  }
  let j = start + 1;
  if (text.charCodeAt(j) === CLOSE_BRACKET) {
    return j + 1;
  }
  for (;;) {
    const end = readValue(text, j, each, items as unknown as Record<string, unknown>, items.length);
    const next = text.charCodeAt(end);
    if (next === CLOSE_BRACKET) {
      return end + 1;
    }
    if (next !== COMMA) {
      throw new NotCompactJson();
    }
    j = end + 1;
  }
}

/** What `indexFieldsOf` reads of a Coding and of a Reference. */
const CODING: Shape = { members: [['code']] };
const REFERENCE: Shape = { members: [['reference'], ['identifier', { members: [['system'], ['value']] }]] };

/** What `indexFieldsOf` and the row's own columns (id, recorded, action) read of an AuditEvent. */
const INDEXED_PARTS: Shape = {
  members: [
    ['id'],
    ['recorded'],
    ['action'],
    ['outcome'],
    ['type', CODING],
    ['subtype', { each: CODING }],
    ['agent', { each: { members: [['who', REFERENCE]] } }],
    ['entity', { each: { members: [['what', REFERENCE]] } }],
  ],
};

/**
 * The parts of an AuditEvent that `indexFieldsOf` and the row's own columns (id, recorded, action) come from, read
 * from its JSON text without parsing the rest: what verification needs to check a row's search columns, at a
 * fraction of the cost of JSON.parse and the garbage it leaves. Every value it returns is that value's text parsed,
 * so `indexFieldsOf` gives the same as for the whole document parsed. For compact JSON (no white space: the writer's
 * canonical text; of duplicate keys the last wins, as in JSON.parse); undefined for anything else or anything
 * unexpected (a member that is not the object or array an AuditEvent has there), which the caller then parses whole.
 */
export function indexedPartsOf(text: string): AuditEvent | undefined {
  const read: { event?: unknown } = {};
  try {
    if (readValue(text, 0, INDEXED_PARTS, read, 'event') !== text.length) {
      return undefined;
    }
  } catch (err) {
    if (err instanceof NotCompactJson || err instanceof SyntaxError) {
      return undefined;
    }
    throw err;
  }
  return read.event as AuditEvent;
}
