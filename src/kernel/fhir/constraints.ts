import { capitalize, tryGetDataType } from '@medplum/core';

/**
 * Hand-written checks for the FHIR R4 invariants (FHIRPath `constraint`s of severity error) that the resources this
 * product makes can meet. Each is tied to the exact expression of the R4 definitions it stands for: when the
 * definitions change an expression, the lookup misses and the compiled validator defers to `@medplum/core`, which
 * evaluates the FHIRPath itself. A check may also defer for an input it does not model.
 */

/** 0 holds, 1 is violated, 2 not decided here (the caller asks @medplum/core). */
export type ConstraintCheck = (value: unknown, root: Record<string, unknown>) => 0 | 1 | 2;

type Obj = Record<string, unknown>;

const HOLDS = 0;
const VIOLATED = 1;
const DEFER = 2;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** FHIRPath `x.exists()` for a property that passed the structural checks: present and not empty. */
function exists(v: unknown): boolean {
  if (v === undefined || v === null || v === '') {
    return false;
  }
  if (Array.isArray(v)) {
    return v.length > 0;
  }
  return !isObj(v) || Object.keys(v).length > 0;
}

/** A property as a FHIRPath collection: an empty value ('', [], {}) is an empty collection, as medplum reads it. */
function list(v: unknown): unknown[] {
  return !exists(v) ? [] : Array.isArray(v) ? v : [v];
}

const variantOrders = new Map<string, readonly string[]>();

/**
 * FHIRPath `value.exists()` for a choice element `value[x]` of `typeName`, read as medplum reads it: the first
 * variant in the element's type order that is present decides, and an empty one counts as absent even when a later
 * variant has content.
 */
function choiceExists(obj: Obj, typeName: string, prefix: string): boolean {
  const cacheKey = `${typeName}.${prefix}`;
  let order = variantOrders.get(cacheKey);
  if (order === undefined) {
    order = (tryGetDataType(typeName)?.elements[`${prefix}[x]`]?.type ?? []).map((t) => prefix + capitalize(t.code));
    variantOrders.set(cacheKey, order);
  }
  for (const prop of order) {
    if (obj[prop] !== undefined) {
      return exists(obj[prop]);
    }
  }
  return false;
}

const onObject =
  (f: (o: Obj, root: Obj) => boolean | 2): ConstraintCheck =>
  (v, root) => {
    if (!isObj(v)) {
      return DEFER;
    }
    const r = f(v, root);
    return r === DEFER ? DEFER : r ? HOLDS : VIOLATED;
  };

const codingWith = (system: string, code: string) => (o: Obj) =>
  exists(o.patient) ||
  !list(isObj(o.scope) ? o.scope.coding : undefined).some((c) => isObj(c) && c.system === system && c.code === code);

/** Instants with a time zone compare by epoch; anything else (partial dates, no zone) is deferred. */
const FULL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Element invariants, by `key expression`. */
const ELEMENT: Record<string, ConstraintCheck> = {
  'ext-1 extension.exists() != value.exists()': onObject(
    (o) => exists(o.extension) !== choiceExists(o, 'Extension', 'value'),
  ),
  'pat-1 name.exists() or telecom.exists() or address.exists() or organization.exists()': onObject(
    (o) => exists(o.name) || exists(o.telecom) || exists(o.address) || exists(o.organization),
  ),
  'bdl-5 resource.exists() or request.exists() or response.exists()': onObject(
    (o) => exists(o.resource) || exists(o.request) || exists(o.response),
  ),
  "bdl-8 fullUrl.exists() implies fullUrl.contains('/_history/').not()": onObject((o) =>
    typeof o.fullUrl === 'string' ? !o.fullUrl.includes('/_history/') : o.fullUrl === undefined ? true : DEFER,
  ),
  'sev-1 name.empty() or query.empty()': onObject((o) => !exists(o.name) || !exists(o.query)),
  'inv-1 (part.exists() and value.empty() and resource.empty()) or (part.empty() and (value.exists() xor resource.exists()))':
    onObject((o) => {
      const part = exists(o.part);
      const value = choiceExists(o, 'ParametersParameter', 'value');
      const resource = exists(o.resource);
      return (part && !value && !resource) || (!part && value !== resource);
    }),
  "org-3 where(use = 'home').empty()": onObject((o) => o.use !== 'home'),
  "org-2 where(use = 'home').empty()": onObject((o) => o.use !== 'home'),
};

const ENTRY_REQUEST_TYPES = new Set(['batch', 'transaction', 'history']);
const ENTRY_RESPONSE_TYPES = new Set(['batch-response', 'transaction-response', 'history']);

/** Resource (root) invariants, by `key expression`. */
const RESOURCE: Record<string, ConstraintCheck> = {
  // The three dom- invariants only look inside `contained`, which the compiled validator always defers.
  'dom-2 contained.contained.empty()': onObject((o) => (o.contained === undefined ? true : DEFER)),
  'dom-4 contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()': onObject((o) =>
    o.contained === undefined ? true : DEFER,
  ),
  'dom-5 contained.meta.security.empty()': onObject((o) => (o.contained === undefined ? true : DEFER)),
  'prr-1 orderDetail.empty() or code.exists()': onObject((o) => !exists(o.orderDetail) || exists(o.code)),
  'ppc-1 policy.exists() or policyRule.exists()': onObject((o) => exists(o.policy) || exists(o.policyRule)),
  "ppc-2 patient.exists() or scope.coding.where(system='something' and code='patient-privacy').exists().not()":
    onObject(codingWith('something', 'patient-privacy')),
  "ppc-3 patient.exists() or scope.coding.where(system='something' and code='research').exists().not()": onObject(
    codingWith('something', 'research'),
  ),
  "ppc-4 patient.exists() or scope.coding.where(system='something' and code='adr').exists().not()": onObject(
    codingWith('something', 'adr'),
  ),
  "ppc-5 patient.exists() or scope.coding.where(system='something' and code='treatment').exists().not()": onObject(
    codingWith('something', 'treatment'),
  ),
  'inv-1 lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn': onObject((o) => {
    if (!exists(o.lastModified) || !exists(o.authoredOn)) {
      return true;
    }
    const a = o.lastModified;
    const b = o.authoredOn;
    if (typeof a !== 'string' || typeof b !== 'string' || !FULL_INSTANT.test(a) || !FULL_INSTANT.test(b)) {
      return DEFER;
    }
    return Date.parse(a) >= Date.parse(b);
  }),
  "bdl-1 total.empty() or (type = 'searchset') or (type = 'history')": onObject(
    (o) => !exists(o.total) || o.type === 'searchset' || o.type === 'history',
  ),
  "bdl-2 entry.search.empty() or (type = 'searchset')": onObject(
    (o) => o.type === 'searchset' || !list(o.entry).some((e) => isObj(e) && exists(e.search)),
  ),
  "bdl-3 entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))":
    onObject((o) => {
      const want = typeof o.type === 'string' && ENTRY_REQUEST_TYPES.has(o.type);
      return list(o.entry).every((e) => isObj(e) && exists(e.request) === want);
    }),
  "bdl-4 entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))":
    onObject((o) => {
      const want = typeof o.type === 'string' && ENTRY_RESPONSE_TYPES.has(o.type);
      return list(o.entry).every((e) => isObj(e) && exists(e.response) === want);
    }),
  "bdl-7 (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()":
    onObject((o) => {
      if (o.type === 'history') {
        return true;
      }
      const seen = new Set<string>();
      for (const e of list(o.entry)) {
        if (!isObj(e) || typeof e.fullUrl !== 'string' || e.fullUrl === '') {
          continue;
        }
        const meta = isObj(e.resource) && isObj(e.resource.meta) ? e.resource.meta : undefined;
        if (meta?.versionId !== undefined) {
          return DEFER;
        }
        if (seen.has(e.fullUrl)) {
          return false;
        }
        seen.add(e.fullUrl);
      }
      return true;
    }),
  "bdl-9 type = 'document' implies (identifier.system.exists() and identifier.value.exists())": onObject((o) =>
    o.type === 'document' ? DEFER : true,
  ),
  "bdl-10 type = 'document' implies (timestamp.hasValue())": onObject((o) => (o.type === 'document' ? DEFER : true)),
  "bdl-11 type = 'document' implies entry.first().resource.is(Composition)": onObject((o) =>
    o.type === 'document' ? DEFER : true,
  ),
  "bdl-12 type = 'message' implies entry.first().resource.is(MessageHeader)": onObject((o) =>
    o.type === 'message' ? DEFER : true,
  ),
  "mrp-1 (type != 'data-collection') or group.exists().not()": onObject(
    (o) => o.type !== 'data-collection' || !exists(o.group),
  ),
  'mrp-2 group.stratifier.stratum.all(value.exists() xor component.exists())': onObject((o) =>
    list(o.group).every(
      (g) =>
        isObj(g) &&
        list(g.stratifier).every(
          (s) => isObj(s) && list(s.stratum).every((st) => isObj(st) && exists(st.value) !== exists(st.component)),
        ),
    ),
  ),
};

/** The check for an element invariant, or undefined when none is written for exactly this expression. */
export function elementConstraint(key: string, expression: string): ConstraintCheck | undefined {
  return ELEMENT[`${key} ${expression}`];
}

/** The check for a resource invariant, or undefined when none is written for exactly this expression. */
export function resourceConstraint(key: string, expression: string): ConstraintCheck | undefined {
  return RESOURCE[`${key} ${expression}`];
}
