import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { z } from 'zod';
import { badRequestIssues, fieldIssue, unprocessableIssues } from './fhir/outcomes';

/** `a.b[0].c` from a zod path, prefixed by the record's location in the body. */
export function expressionOf(location: string, path: readonly PropertyKey[]): string {
  let out = location;
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  }
  return out || '(record)';
}

/** Turns a path inside a record into its `issue.expression`, prefixed with where the record stood. */
export type ExpressionOf = (path: readonly PropertyKey[]) => string;

/**
 * Whether the input lacks the field at `path`: its parent is an object without it. A path into a value a schema
 * transformed (a CSV cell split into a list) has no object parent in the input, so it is not "missing".
 */
function isMissing(input: unknown, path: readonly PropertyKey[]): boolean {
  let parent = input;
  for (const p of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') {
      return false;
    }
    parent = (parent as Record<PropertyKey, unknown>)[p];
  }
  const last = path[path.length - 1];
  return (
    last !== undefined &&
    parent !== null &&
    typeof parent === 'object' &&
    (parent as Record<PropertyKey, unknown>)[last] === undefined
  );
}

/** The value at `path` inside the input, or undefined where there is none. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let at = input;
  for (const p of path) {
    if (at === null || typeof at !== 'object') {
      return undefined;
    }
    at = (at as Record<PropertyKey, unknown>)[p];
  }
  return at;
}

/** The JSON type of a value as a reader of the message knows them. */
function jsonTypeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/**
 * Whether an issue is about the JSON type of a value that is there (a number where a string code belongs, text where
 * true or false belongs), rather than about its content: the body is malformed, a 400 as a FHIR server answers it.
 */
function isWrongJsonType(i: z.core.$ZodIssue, input: unknown): boolean {
  if (i.code === 'invalid_type') {
    return !isMissing(input, i.path);
  }
  if (i.code === 'invalid_value') {
    const value = valueAt(input, i.path);
    return value !== undefined && !i.values.some((v) => jsonTypeOf(v) === jsonTypeOf(value));
  }
  return false;
}

/**
 * OperationOutcome issues from zod's, one per broken field: a missing field is `required`, an unknown one is named
 * by its own path (zod reports it on the parent object), an unknown code `code-invalid`, anything else `invalid`.
 */
function outcomeIssuesOf(
  zodIssues: readonly z.core.$ZodIssue[],
  input: unknown,
  expressionOf: ExpressionOf,
  prefix: readonly PropertyKey[] = [],
): OperationOutcomeIssue[] {
  const out: OperationOutcomeIssue[] = [];
  for (const i of zodIssues) {
    const path = [...prefix, ...i.path];
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) {
        out.push(fieldIssue('unknown field', expressionOf([...path, key]), 'structure'));
      }
    } else if (i.code !== 'custom' && isMissing(input, i.path)) {
      out.push(fieldIssue('is required', expressionOf(path), 'required'));
    } else if (isWrongJsonType(i, input)) {
      const message =
        i.code !== 'invalid_type'
          ? i.message
          : input === undefined && path.length === 0
            ? `the body is empty: send a JSON ${i.expected}`
            : `must be a JSON ${i.expected}, not ${jsonTypeOf(valueAt(input, i.path))}`;
      out.push(fieldIssue(message, expressionOf(path), 'structure'));
    } else {
      // A value outside a code list (the terminology tables, FHIR's own, or the event types) is an unknown code.
      const unknownCode = i.code === 'invalid_value' || (i.code === 'invalid_union' && i.errors.length === 0);
      out.push(fieldIssue(i.message, expressionOf(path), unknownCode ? 'code-invalid' : 'invalid'));
    }
  }
  return out;
}

/** Throws one 422 listing every issue. */
export function throwIssues(issues: OperationOutcomeIssue[]): never {
  throw new OperationOutcomeError(unprocessableIssues(issues));
}

/**
 * Parses with a schema or throws an outcome whose issues name the fields: 422 (the default) for content that breaks
 * a rule (a missing or unknown field, a check digit, an unknown code), 400 for a request whose form is wrong (query
 * parameters, operator filters) and for a body holding a value of the wrong JSON type, as FHIR servers tell
 * structurally invalid input (400) from semantically invalid input (422).
 */
export function parseOrThrow<T>(
  schema: z.ZodType<T>,
  value: unknown,
  expressionOf: ExpressionOf = (path) => pathExpression(path, 'body'),
  status: 400 | 422 = 422,
): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = outcomeIssuesOf(parsed.error.issues, value, expressionOf);
    const malformed = status === 400 || parsed.error.issues.some((i) => isWrongJsonType(i, value));
    throw new OperationOutcomeError(malformed ? badRequestIssues(issues) : unprocessableIssues(issues));
  }
  return parsed.data;
}

/**
 * Parses a request's query (Express's `req.query`) with a schema: a 400 naming the parameter for one given more
 * than once (it arrives as a list, which the schema would refuse in words about types) and for anything the schema
 * refuses, as a query parameter in the wrong form makes the request malformed.
 */
export function parseQueryOrThrow<T>(schema: z.ZodType<T>, query: unknown): T {
  const params = typeof query === 'object' && query !== null ? Object.entries(query) : [];
  const repeated = params.filter(([, value]) => Array.isArray(value));
  if (repeated.length > 0) {
    throw new OperationOutcomeError(
      badRequestIssues(repeated.map(([name]) => fieldIssue(`${name} may be given once`, name))),
    );
  }
  return parseOrThrow(schema, query, (path) => pathExpression(path, 'query'), 400);
}

/** `a.b.c` for a path inside a request's body or query; `fallback` for the whole of it. */
export function pathExpression(path: readonly PropertyKey[], fallback: string): string {
  return path.length ? path.map(String).join('.') : fallback;
}

/**
 * The query of a POST route that takes none: any parameter is a 400 naming it, as the GET routes answer one they do
 * not know (a typo such as `?dialet=` would otherwise pass unnoticed and change nothing).
 */
export const NO_QUERY = z.object({}).strict();

/**
 * Refuses any query parameter (NO_QUERY, a 400 naming it). A URL without `?` has no query to refuse: Express's
 * `req.query` would parse the URL anew to find it empty, on every read, which was 2 % of `$explain`'s CPU.
 */
export function assertNoQuery(req: { readonly url: string; readonly query: unknown }): void {
  if (req.url.includes('?')) {
    parseQueryOrThrow(NO_QUERY, req.query);
  }
}
