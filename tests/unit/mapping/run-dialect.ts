import { OperationOutcomeError } from '@medplum/core';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import type { CanonicalEvent, HisDialect } from '../../../src/contracts/his-dialect';
import { DIALECTS } from '../../../mappings/his/index';
import { dialectTextMediaTypes } from '../../../src/http/json-body';

/** Test helpers for the HIS dialects: fixtures on disk, and running a body through split and map. */

export const FIXTURES = path.join(__dirname, '..', '..', 'fixtures');

/** Every registered dialect: a new one is under the golden and fuzz tests as soon as it has fixtures. */
export const DIALECTS_UNDER_TEST: readonly HisDialect[] = DIALECTS;

/** What one record of a body became: its CanonicalEvent, or the status and issues it was rejected with. */
export type RecordResult =
  | { readonly location: string; readonly event: CanonicalEvent }
  | {
      readonly location: string;
      readonly status: number;
      readonly issue: readonly { code: string; expression?: string[] | undefined; details?: string | undefined }[];
    };

/** A dialect, or its name among the registered ones. */
type DialectRef = HisDialect | string;

function dialectOf(ref: DialectRef): HisDialect {
  if (typeof ref !== 'string') {
    return ref;
  }
  const dialect = DIALECTS_UNDER_TEST.find((d) => d.name === ref);
  if (!dialect) {
    throw new Error(`No dialect ${ref} in mappings/his/index.ts`);
  }
  return dialect;
}

/**
 * Whether the API hands this dialect its body as text (any media type of its own that is not JSON, as app.ts reads
 * it), rather than parsed JSON.
 */
export function isTextDialect(dialect: HisDialect): boolean {
  return dialectTextMediaTypes([dialect]).length > 0;
}

/** `<case>.input.<anything>`: the extension is the fixture writer's; the dialect's media types say how it is read. */
const INPUT_FILE = /\.input\.[^.]+$/;

/** Case names (file name before `.input.`) of one dialect's fixture folder (`<dir>/<dialect name>/`). */
export function caseNames(ref: DialectRef, dir = FIXTURES): string[] {
  return readdirSync(path.join(dir, dialectOf(ref).name))
    .filter((f) => INPUT_FILE.test(f))
    .map((f) => f.replace(INPUT_FILE, ''))
    .sort();
}

/** The request body of a case as the HTTP layer would hand it over: parsed JSON, or text for a text dialect. */
export function readInput(ref: DialectRef, name: string, dir = FIXTURES): unknown {
  const dialect = dialectOf(ref);
  const folder = path.join(dir, dialect.name);
  const files = readdirSync(folder).filter((f) => f.startsWith(`${name}.input.`) && INPUT_FILE.test(f));
  if (files.length !== 1) {
    throw new Error(`${folder}: expected one ${name}.input.* file, found ${files.length}`);
  }
  const text = readFileSync(path.join(folder, files[0]!), 'utf8');
  return isTextDialect(dialect) ? text : JSON.parse(text);
}

/**
 * Splits and maps a body. A rejected record becomes its status and issues; every mapped resource must pass FHIR
 * validation, and anything other than an OperationOutcomeError is a defect and is rethrown.
 */
export function runBody(dialect: HisDialect, body: unknown): RecordResult[] {
  return dialect.split(body).map((record) => {
    let event: CanonicalEvent;
    try {
      event = dialect.map(record);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        throw err;
      }
      return {
        location: record.location,
        status: httpStatusOf(err.outcome),
        issue: (err.outcome.issue ?? []).map((i) => ({
          code: i.code,
          expression: i.expression,
          details: i.details?.text,
        })),
      };
    }
    event.resources.forEach(assertValidResource);
    return { location: record.location, event };
  });
}
