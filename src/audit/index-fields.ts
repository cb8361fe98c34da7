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

/** A row's search columns as the verifying cursor reads them: `recorded` in epoch ms, the token lists as JSON text. */
export interface SearchColumnsText {
  readonly id: string;
  readonly recorded: number;
  readonly type: string;
  readonly subtype: string | null;
  readonly action: string | null;
  readonly outcome: string;
  readonly patient_bsn: string | null;
  readonly agents: string;
  readonly entities: string;
}

/** Thrown where `searchColumnsMatch` cannot be sure; it then answers false. */
class NotSure extends Error {}

const PIPE = 0x7c;
const NULL = 'null';

/** Marks `bit` of `seen` as read; a member given twice is not for `searchColumnsMatch`. */
function once(seen: number, bit: number): number {
  if ((seen & bit) !== 0) {
    throw new NotSure();
  }
  return seen | bit;
}

/**
 * Walks the text of an AuditEvent that holds no backslash, so that every string in it is the characters between two
 * quotes, and compares what the search columns come from with the columns where both lie, making no objects. It reads
 * the members `indexedPartsOf` reads, as that reads them, and throws NotSure wherever that would not read the text
 * (an object or list where the AuditEvent has none: the full parse decides those), at a member given twice, at a leaf
 * that is neither a string nor null, and at a column that differs.
 */
class SearchColumnsCheck {
  /** The characters of the last string read: start (-1 when absent or JSON null) and end. */
  private start = -1;
  private end = -1;
  /** Where the last object read ends (after its `}`). */
  private closedAt = -1;
  /** Where the next token of each list column is expected in its JSON text. */
  private agentsAt = 1;
  private entitiesAt = 1;
  /** The first BSN identifier among the entities: whether found, and its value's characters. */
  private patientFound = false;
  private patientStart = -1;
  private patientEnd = -1;

  constructor(
    private readonly text: string,
    private readonly columns: SearchColumnsText,
  ) {}

  /** Compares the whole event with the columns; throws NotSure where they differ or it cannot tell. */
  check(): void {
    const columns = this.columns;
    let seen = 0;
    let end: number;
    for (let m = this.members(0); m >= 0; m = this.after(end)) {
      const k = this.keyEnd(m);
      const at = k + 2;
      if (this.keyIs(m, k, 'id')) {
        seen = once(seen, 1);
        end = this.string(at, false);
        this.expect(this.charsAre(columns.id));
      } else if (this.keyIs(m, k, 'recorded')) {
        seen = once(seen, 2);
        end = this.string(at, false);
        this.expect(Date.parse(this.text.slice(this.start, this.end)) === new Date(columns.recorded).getTime());
      } else if (this.keyIs(m, k, 'action')) {
        seen = once(seen, 4);
        end = this.string(at, true);
        this.expect(this.start < 0 ? columns.action === null : this.charsAre(columns.action));
      } else if (this.keyIs(m, k, 'outcome')) {
        seen = once(seen, 8);
        end = this.string(at, true);
        this.expect(this.start < 0 ? columns.outcome === '0' : this.charsAre(columns.outcome));
      } else if (this.keyIs(m, k, 'type')) {
        seen = once(seen, 16);
        end = this.code(at);
        this.expect(this.start < 0 ? columns.type === '' : this.charsAre(columns.type));
      } else if (this.keyIs(m, k, 'subtype')) {
        seen = once(seen, 32);
        end = this.firstCode(at);
        this.expect(this.start < 0 ? columns.subtype === null : this.charsAre(columns.subtype));
      } else if (this.keyIs(m, k, 'agent')) {
        seen = once(seen, 64);
        end = this.references(at, 'who', false);
      } else if (this.keyIs(m, k, 'entity')) {
        seen = once(seen, 128);
        end = this.references(at, 'what', true);
      } else {
        end = endOfValue(this.text, at);
      }
    }
    // Absent, id and recorded differ from any column; type makes the text no AuditEvent; the rest have defaults.
    this.expect((seen & (1 | 2 | 16)) === (1 | 2 | 16) && this.closedAt === this.text.length);
    this.expect((seen & 4) !== 0 || columns.action === null);
    this.expect((seen & 8) !== 0 || columns.outcome === '0');
    this.expect((seen & 32) !== 0 || columns.subtype === null);
    this.start = this.patientFound ? this.patientStart : -1;
    this.end = this.patientEnd;
    this.expect(this.start < 0 ? columns.patient_bsn === null : this.charsAre(columns.patient_bsn));
    this.expect(listEndsAt(columns.agents, this.agentsAt) && listEndsAt(columns.entities, this.entitiesAt));
  }

  private expect(same: boolean): void {
    if (!same) {
      throw new NotSure();
    }
  }

  /** Where the first member of the object at `i` starts, or -1 when it is empty. */
  private members(i: number): number {
    this.expect(this.text.charCodeAt(i) === OPEN_BRACE);
    if (this.text.charCodeAt(i + 1) === CLOSE_BRACE) {
      this.closedAt = i + 2;
      return -1;
    }
    return i + 1;
  }

  /** Where the member after a value ending at `end` starts, or -1 when its object closes there. */
  private after(end: number): number {
    const c = this.text.charCodeAt(end);
    if (c === COMMA) {
      return end + 1;
    }
    this.expect(c === CLOSE_BRACE);
    this.closedAt = end + 1;
    return -1;
  }

  /** The closing quote of the key opening at `m`, which a colon must follow. */
  private keyEnd(m: number): number {
    const q = this.text.indexOf('"', m + 1);
    this.expect(this.text.charCodeAt(m) === QUOTE && q > 0 && this.text.charCodeAt(q + 1) === COLON);
    return q;
  }

  private keyIs(m: number, keyEnd: number, name: string): boolean {
    return keyEnd - m - 1 === name.length && this.text.startsWith(name, m + 1);
  }

  /** Reads the string (or, when `nullable`, JSON null) at `i` into start and end; returns where it ends. */
  private string(i: number, nullable: boolean): number {
    if (nullable && this.text.startsWith(NULL, i)) {
      this.start = -1;
      return i + NULL.length;
    }
    const q = this.text.indexOf('"', i + 1);
    this.expect(this.text.charCodeAt(i) === QUOTE && q > 0);
    this.start = i + 1;
    this.end = q;
    return q + 1;
  }

  /** Whether the characters between start and end are `value`. */
  private charsAre(value: string | null): boolean {
    return (
      this.start >= 0 &&
      value !== null &&
      this.end - this.start === value.length &&
      this.text.startsWith(value, this.start)
    );
  }

  /** Reads the code of the Coding at `i` into start and end (start -1 without one); returns where it ends. */
  private code(i: number): number {
    let seen = 0;
    let codeStart = -1;
    let codeEnd = -1;
    let end: number;
    for (let m = this.members(i); m >= 0; m = this.after(end)) {
      const k = this.keyEnd(m);
      if (this.keyIs(m, k, 'code')) {
        seen = once(seen, 1);
        end = this.string(k + 2, true);
        codeStart = this.start;
        codeEnd = this.end;
      } else {
        end = endOfValue(this.text, k + 2);
      }
    }
    this.start = codeStart;
    this.end = codeEnd;
    return this.closedAt;
  }

  /** Reads the code of the first Coding of the list at `i` into start and end; returns where the list ends. */
  private firstCode(i: number): number {
    this.expect(this.text.charCodeAt(i) === OPEN_BRACKET);
    if (this.text.charCodeAt(i + 1) === CLOSE_BRACKET) {
      this.start = -1;
      return i + 2;
    }
    let end = this.code(i + 1);
    const codeStart = this.start;
    const codeEnd = this.end;
    // The other Codings are read too, as `indexedPartsOf` reads them: objects, or it is not sure either.
    while (this.text.charCodeAt(end) === COMMA) {
      end = this.code(end + 1);
    }
    this.expect(this.text.charCodeAt(end) === CLOSE_BRACKET);
    this.start = codeStart;
    this.end = codeEnd;
    return end + 1;
  }

  /** The agents (`who`) or entities (`what`) list at `i`, each element's reference checked. */
  private references(i: number, member: 'who' | 'what', entity: boolean): number {
    this.expect(this.text.charCodeAt(i) === OPEN_BRACKET);
    if (this.text.charCodeAt(i + 1) === CLOSE_BRACKET) {
      return i + 2;
    }
    let element = i + 1;
    for (;;) {
      let seen = 0;
      let end: number;
      for (let m = this.members(element); m >= 0; m = this.after(end)) {
        const k = this.keyEnd(m);
        if (this.keyIs(m, k, member)) {
          seen = once(seen, 1);
          end = this.reference(k + 2, entity);
        } else {
          end = endOfValue(this.text, k + 2);
        }
      }
      const next = this.text.charCodeAt(this.closedAt);
      if (next === CLOSE_BRACKET) {
        return this.closedAt + 1;
      }
      this.expect(next === COMMA);
      element = this.closedAt + 1;
    }
  }

  /**
   * The Reference at `i`: its tokens as `addTokensOf` makes them, checked against the list column; among the
   * entities, the first with a BSN identifier is the patient's. Returns where it ends.
   */
  private reference(i: number, entity: boolean): number {
    let seen = 0;
    let referenceStart = -1;
    let referenceEnd = -1;
    let systemStart = -1;
    let systemEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    let end: number;
    for (let m = this.members(i); m >= 0; m = this.after(end)) {
      const k = this.keyEnd(m);
      if (this.keyIs(m, k, 'reference')) {
        seen = once(seen, 1);
        end = this.string(k + 2, true);
        referenceStart = this.start;
        referenceEnd = this.end;
      } else if (this.keyIs(m, k, 'identifier')) {
        seen = once(seen, 2);
        let identifierSeen = 0;
        for (let n = this.members(k + 2); n >= 0; n = this.after(end)) {
          const l = this.keyEnd(n);
          if (this.keyIs(n, l, 'system')) {
            identifierSeen = once(identifierSeen, 1);
            end = this.string(l + 2, true);
            systemStart = this.start;
            systemEnd = this.end;
          } else if (this.keyIs(n, l, 'value')) {
            identifierSeen = once(identifierSeen, 2);
            end = this.string(l + 2, true);
            valueStart = this.start;
            valueEnd = this.end;
          } else {
            end = endOfValue(this.text, l + 2);
          }
        }
        end = this.closedAt;
      } else {
        end = endOfValue(this.text, k + 2);
      }
    }
    // The reference, then `system|value`, each only when not empty: JavaScript's truthiness, as `addTokensOf` tests.
    if (referenceStart >= 0 && referenceEnd > referenceStart) {
      this.token(entity, referenceStart, referenceEnd, -1, -1);
    }
    if (valueStart >= 0 && valueEnd > valueStart) {
      this.token(entity, systemStart < 0 ? 0 : systemStart, systemStart < 0 ? 0 : systemEnd, valueStart, valueEnd);
    }
    this.start = systemStart;
    this.end = systemEnd;
    if (entity && !this.patientFound && this.charsAre(BSN_SYSTEM)) {
      this.patientFound = true;
      this.patientStart = valueStart;
      this.patientEnd = valueEnd;
    }
    return this.closedAt;
  }

  /** Checks the next token of the agents or entities column: `"a"`, or `"a|b"` when `bStart` is not -1. */
  private token(entity: boolean, aStart: number, aEnd: number, bStart: number, bEnd: number): void {
    const column = entity ? this.columns.entities : this.columns.agents;
    let at = entity ? this.entitiesAt : this.agentsAt;
    if (at > 1) {
      this.expect(column.charCodeAt(at) === COMMA);
      at++;
    }
    this.expect(column.charCodeAt(at) === QUOTE && this.sameChars(aStart, aEnd, column, at + 1));
    at += 1 + aEnd - aStart;
    if (bStart >= 0) {
      this.expect(column.charCodeAt(at) === PIPE && this.sameChars(bStart, bEnd, column, at + 1));
      at += 1 + bEnd - bStart;
    }
    this.expect(column.charCodeAt(at) === QUOTE);
    if (entity) {
      this.entitiesAt = at + 1;
    } else {
      this.agentsAt = at + 1;
    }
  }

  /** Whether the text from `start` to `end` holds the same characters as `other` from `at`. */
  private sameChars(start: number, end: number, other: string, at: number): boolean {
    if (at + end - start > other.length) {
      return false;
    }
    for (let i = start; i < end; i++) {
      if (this.text.charCodeAt(i) !== other.charCodeAt(at + i - start)) {
        return false;
      }
    }
    return true;
  }
}

/** Whether a list column's JSON text ends at `at`, after its last token (or its `[`). */
function listEndsAt(column: string, at: number): boolean {
  return column.charCodeAt(0) === OPEN_BRACKET && column.charCodeAt(at) === CLOSE_BRACKET && at + 1 === column.length;
}

/**
 * Whether a row's search columns are certainly what its stored text says they must be: what `indexFieldsOf` and the
 * event's id, recorded and action give for `indexedPartsOf(text)`. Compared where text and columns lie, with no
 * objects made: verification's common case at a fraction of the cost. False means "not sure" (a column differs, or
 * the text holds a backslash, a member given twice, or a value of another kind than the writer writes): the caller
 * then reads the text the long way, which decides and names the column.
 */
export function searchColumnsMatch(text: string, columns: SearchColumnsText): boolean {
  if (text.includes('\\')) {
    return false;
  }
  try {
    new SearchColumnsCheck(text, columns).check();
    return true;
  } catch (err) {
    if (err instanceof NotSure || err instanceof NotCompactJson) {
      return false;
    }
    throw err;
  }
}
