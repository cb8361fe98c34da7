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

/**
 * Walks the array or object at `i`: calls `visit` with where each element (or member value) starts, and for a member
 * where its key's text starts and ends (without the quotes); `visit` returns where the value ends. Returns where
 * the array or object ends. A key with an escape in it is not compact JSON here: keys are compared as they stand.
 */
function walk(
  text: string,
  i: number,
  open: number,
  close: number,
  visit: (start: number, keyStart: number, keyEnd: number) => number,
): number {
  if (text.charCodeAt(i) !== open) {
    throw new NotCompactJson();
  }
  let j = i + 1;
  if (text.charCodeAt(j) === close) {
    return j + 1;
  }
  for (;;) {
    let keyStart = 0;
    let keyEnd = 0;
    if (open === OPEN_BRACE) {
      keyStart = j + 1;
      keyEnd = endOfString(text, j) - 1;
      for (let k = keyStart; k < keyEnd; k++) {
        if (text.charCodeAt(k) === BACKSLASH) {
          throw new NotCompactJson();
        }
      }
      if (text.charCodeAt(keyEnd + 1) !== COLON) {
        throw new NotCompactJson();
      }
      j = keyEnd + 2;
    }
    const end = visit(j, keyStart, keyEnd);
    const next = text.charCodeAt(end);
    if (next === close) {
      return end + 1;
    }
    if (next !== COMMA) {
      throw new NotCompactJson();
    }
    j = end + 1;
  }
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
 * Of each object in the array at `i`, the `reference` and `identifier` of its member `key` (a Reference: what
 * `tokensOf` reads), into `into`; returns where the array ends.
 */
function readReferencesOfEach(text: string, i: number, key: string, into: Record<string, unknown>[]): number {
  return walk(text, i, OPEN_BRACKET, CLOSE_BRACKET, (itemStart) => {
    const item: Record<string, unknown> = {};
    into.push(item);
    return walk(text, itemStart, OPEN_BRACE, CLOSE_BRACE, (start, keyStart, keyEnd) => {
      if (!keyIs(text, keyStart, keyEnd, key)) {
        return endOfValue(text, start);
      }
      const ref: Record<string, unknown> = {};
      item[key] = ref;
      return walk(text, start, OPEN_BRACE, CLOSE_BRACE, (partStart, partKeyStart, partKeyEnd) => {
        const end = endOfValue(text, partStart);
        for (const part of REFERENCE_PARTS) {
          if (keyIs(text, partKeyStart, partKeyEnd, part)) {
            ref[part] = leafOf(text, partStart, end);
          }
        }
        return end;
      });
    });
  });
}

/** What `tokensOf` reads of a Reference. */
const REFERENCE_PARTS = ['reference', 'identifier'] as const;

/** The lists of References the search columns come from, and the Reference member of each element. */
const LISTS = [
  ['agent', 'who'],
  ['entity', 'what'],
] as const;

/** Top-level members the search columns come from besides agents and entities. */
const SCALAR_PARTS = ['id', 'recorded', 'action', 'outcome', 'type', 'subtype'] as const;

/**
 * The parts of an AuditEvent that `indexFieldsOf` and the row's own columns (id, recorded, action) come from, read
 * from its JSON text without parsing the rest: what verification needs to check a row's search columns, at a
 * fraction of the cost of JSON.parse and the garbage it leaves. Every value it returns is that value's text parsed,
 * so `indexFieldsOf` gives the same as for the whole document parsed. For compact JSON (no white space, no
 * duplicate keys: the writer's canonical text); undefined for anything else or anything unexpected (an agent or a
 * `who` that is not an object), which the caller then parses whole.
 */
export function indexedPartsOf(text: string): AuditEvent | undefined {
  const event: Record<string, unknown> = {};
  try {
    const end = walk(text, 0, OPEN_BRACE, CLOSE_BRACE, (start, keyStart, keyEnd) => {
      for (const [key, member] of LISTS) {
        if (keyIs(text, keyStart, keyEnd, key)) {
          const items: Record<string, unknown>[] = [];
          event[key] = items;
          return readReferencesOfEach(text, start, member, items);
        }
      }
      const valueEnd = endOfValue(text, start);
      for (const key of SCALAR_PARTS) {
        if (keyIs(text, keyStart, keyEnd, key)) {
          event[key] = leafOf(text, start, valueEnd);
        }
      }
      return valueEnd;
    });
    if (end !== text.length) {
      return undefined;
    }
  } catch (err) {
    if (err instanceof NotCompactJson || err instanceof SyntaxError) {
      return undefined;
    }
    throw err;
  }
  return event as unknown as AuditEvent;
}
