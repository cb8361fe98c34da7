import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { expressionOf } from '../../../src/kernel/zod-outcome';
import { fieldIssue } from '../../../src/kernel/fhir/outcomes';
import { toCanonicalEvent } from '../shared/canonical-event';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { parseOrThrow, throwIssues } from '../../../src/kernel/zod-outcome';
import { CSV_COLUMN_NAMES, CSV_COLUMNS } from './columns';
import { detectDelimiter, parseCsv } from '../../../src/kernel/csv';
import type { CsvRecordValue } from './schema';
import { csvRecordValueSchema, csvRowSchema } from './schema';
import { fromCsvRow } from './to-his-event';

function badBody(issues: OperationOutcomeIssue[]): never {
  const first = issues[0];
  throw new OperationOutcomeError({
    ...badRequest(first?.details?.text ?? 'Unusable CSV', first?.expression?.[0]),
    issue: issues,
  });
}

function textOf(body: unknown): string {
  if (typeof body === 'string') {
    return body;
  }
  if (body instanceof Uint8Array) {
    return new TextDecoder('utf-8').decode(body);
  }
  return badBody([fieldIssue('Expected a CSV text body', 'body')]);
}

/** Checks the header row: every name known, none twice, every required column present. */
function checkHeader(header: readonly string[]): void {
  const issues: OperationOutcomeIssue[] = [];
  const seen = new Set<string>();
  for (const name of header) {
    if (!CSV_COLUMN_NAMES.has(name)) {
      issues.push(fieldIssue('unknown column (see mappings/his/csv/README.md)', `row 1.${name || '(empty)'}`));
    } else if (seen.has(name)) {
      issues.push(fieldIssue('column appears twice', `row 1.${name}`));
    }
    seen.add(name);
  }
  for (const c of CSV_COLUMNS) {
    if (c.required && !seen.has(c.name)) {
      issues.push(fieldIssue('required column is missing', `row 1.${c.name}`, 'required'));
    }
  }
  if (issues.length > 0) {
    badBody(issues);
  }
}

/** Column name, or `column 15` for a field past the header. */
function columnName(header: readonly string[], index: number): string {
  return header[index] ?? `column ${index + 1}`;
}

function rowObject(v: CsvRecordValue, at: ExpressionOf): Record<string, string> {
  if (v.error) {
    throwIssues([
      fieldIssue(`malformed row: ${v.error.message}`, at([columnName(v.header, v.error.field)]), 'structure'),
    ]);
  }
  if (v.fields.length !== v.header.length) {
    const at0 = Math.min(v.fields.length, v.header.length);
    throwIssues([
      fieldIssue(
        `malformed row: ${v.fields.length} fields where the header has ${v.header.length}`,
        at([columnName(v.header, at0)]),
        'structure',
      ),
    ]);
  }
  const out: Record<string, string> = {};
  v.header.forEach((name, i) => {
    const cell = (v.fields[i] ?? '').trim();
    if (cell !== '') {
      out[name] = cell;
    }
  });
  return out;
}

/**
 * Dialect `csv`: a practice's registration spreadsheet exported as CSV (`,` or `;`), header row first, one row per
 * contact. Each row is its own record (`row N`, the spreadsheet's row number), mapped or rejected on its own.
 */
export const csvDialect: HisDialect = {
  name: 'csv',
  contentTypes: ['text/csv'],
  claims: (body) => typeof body === 'string' || body instanceof Uint8Array,
  split(body: unknown): RawRecord[] {
    const text = textOf(body).replace(/^\uFEFF/, '');
    const records = parseCsv(text, detectDelimiter(text));
    const headerRecord = records[0];
    if (!headerRecord || headerRecord.row !== 1) {
      return badBody([fieldIssue('a header row is required on the first line', 'row 1', 'required')]);
    }
    if (headerRecord.error) {
      return badBody([fieldIssue(`malformed header: ${headerRecord.error.message}`, 'row 1', 'structure')]);
    }
    const header = headerRecord.fields.map((h) => h.trim().toLowerCase());
    checkHeader(header);
    return records
      .slice(1)
      .filter((r) => r.error || r.fields.some((f) => f.trim() !== ''))
      .map((r) => ({
        value: { header, fields: r.fields, ...(r.error ? { error: r.error } : {}) } satisfies CsvRecordValue,
        location: `row ${r.row}`,
      }));
  },
  map(record) {
    const at: ExpressionOf = (path) => expressionOf(record.location, path);
    const value = parseOrThrow(csvRecordValueSchema, record.value, at);
    const row = parseOrThrow(csvRowSchema, rowObject(value, at), at);
    return toCanonicalEvent(fromCsvRow(row, at));
  },
  jsonSchema: () => ({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'One CSV row (header names as keys, cells as text)',
    type: 'object',
    properties: Object.fromEntries(CSV_COLUMNS.map((c) => [c.name, { type: 'string', description: c.description }])),
    required: CSV_COLUMNS.filter((c) => c.required).map((c) => c.name),
    additionalProperties: false,
  }),
};
