import { OperationOutcomeError } from '@medplum/core';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import type { CanonicalEvent, HisDialect } from '../../../src/contracts/his-dialect';
import { DIALECTS } from '../../../mappings/his/index';

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

/** Case names (file name before `.input.`) of one dialect's fixture folder. */
export function caseNames(dialect: string): string[] {
  return readdirSync(path.join(FIXTURES, dialect))
    .filter((f) => /\.input\.(json|csv)$/.test(f))
    .map((f) => f.replace(/\.input\.(json|csv)$/, ''))
    .sort();
}

/** The request body of a case as the HTTP layer would hand it over: parsed JSON, or CSV text. */
export function readInput(dialect: string, name: string): unknown {
  const dir = path.join(FIXTURES, dialect);
  const csv = path.join(dir, `${name}.input.csv`);
  return dialect === 'csv'
    ? readFileSync(csv, 'utf8')
    : JSON.parse(readFileSync(path.join(dir, `${name}.input.json`), 'utf8'));
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
