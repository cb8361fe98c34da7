import type { AuditEvent } from '@medplum/fhirtypes';
import { canonicalizeJcs } from './chain';
import { indexFieldsOf, type AuditIndexFields } from './index-fields';

/**
 * A row's search columns as chain format 2 hashes them (docs/audit.md, "The chain"): what the writer takes from the
 * AuditEvent, and what verification reads back from the stored columns. The lists are kept as their JSON text, the
 * form both the hashed line and PostgreSQL's `array_to_json` give them.
 */
export interface ChainColumns {
  readonly id: string;
  /** Epoch microseconds: PostgreSQL's precision, and independent of the session's TimeZone and DateStyle. */
  readonly recordedMicros: number;
  readonly type: string;
  readonly subtype: string | null;
  readonly action: string | null;
  readonly outcome: string;
  readonly patientBsn: string | null;
  readonly agentsJson: string;
  readonly entitiesJson: string;
}

/** The columns in the order they are hashed, compared and named (the column names of `audit_event`). */
const COLUMN_NAMES: readonly (readonly [keyof ChainColumns, string])[] = [
  ['id', 'id'],
  ['recordedMicros', 'recorded'],
  ['type', 'type'],
  ['subtype', 'subtype'],
  ['action', 'action'],
  ['outcome', 'outcome'],
  ['patientBsn', 'patient_bsn'],
  ['agentsJson', 'agents'],
  ['entitiesJson', 'entities'],
];

/**
 * The search columns of an AuditEvent. Throws for one without an id or a `recorded` that parses: its row could not be
 * stored (both columns are NOT NULL) and its time could not be hashed.
 */
export function chainColumnsOf(event: AuditEvent, fields: AuditIndexFields = indexFieldsOf(event)): ChainColumns {
  const recordedMs = Date.parse(event.recorded ?? '');
  if (typeof event.id !== 'string' || Number.isNaN(recordedMs)) {
    throw new TypeError('an AuditEvent needs an id and a recorded time');
  }
  return {
    id: event.id,
    recordedMicros: recordedMs * 1000,
    type: fields.type,
    subtype: fields.subtype,
    action: event.action ?? null,
    outcome: fields.outcome,
    patientBsn: fields.patientBsn,
    // JSON.stringify writes a list of strings as canonical JSON does, without walking it in JavaScript.
    agentsJson: JSON.stringify(fields.agents),
    entitiesJson: JSON.stringify(fields.entities),
  };
}

/** `chainColumnsOf` of what may not be an AuditEvent (a row read back, an export's line): undefined then. */
export function tryChainColumnsOf(resource: unknown): ChainColumns | undefined {
  try {
    return chainColumnsOf(resource as AuditEvent);
  } catch {
    return undefined;
  }
}

/**
 * The line chain format 2 appends to the hashed text: the columns as a JSON array, written as PostgreSQL's
 * `json_build_array` writes it (`, ` between the values, none inside the lists). JSON.stringify and PostgreSQL's
 * JSON escape strings alike for all text PostgreSQL can store (control characters, quote and backslash; everything
 * else as it is), so both sides make the same bytes; tests/integration/audit-chain-v2.test.ts holds them to it.
 * Unambiguous: a null is `null`, an empty string `""`, an empty list `[]`, and separators inside values are quoted.
 */
export function columnsLine(c: ChainColumns): string {
  return (
    `[${canonicalizeJcs(c.id)}, ${c.recordedMicros}, ${canonicalizeJcs(c.type)}, ${canonicalizeJcs(c.subtype)}, ` +
    `${canonicalizeJcs(c.action)}, ${canonicalizeJcs(c.outcome)}, ${canonicalizeJcs(c.patientBsn)}, ` +
    `${c.agentsJson}, ${c.entitiesJson}]`
  );
}

/**
 * `columnsLine` of the stored columns of `audit_event`, in SQL. `trunc` rather than a cast to bigint: a recorded time
 * changed to infinity then makes a value that does not match rather than an error that stops verification.
 */
export const COLUMNS_LINE_SQL = `json_build_array(id, trunc(extract(epoch FROM recorded) * 1000000), type, subtype,
  action, outcome, patient_bsn, agents, entities)::text`;

/** The stored columns as `ChainColumns`, in SQL: what `storedColumnsOf` reads. */
export const STORED_COLUMNS_SQL = `id::text AS id, (extract(epoch FROM recorded) * 1000000)::float8 AS recorded_micros,
  type, subtype, action, outcome, patient_bsn, array_to_json(agents)::text AS agents_json,
  array_to_json(entities)::text AS entities_json`;

export interface StoredColumnsRow {
  readonly id: string;
  readonly recorded_micros: number;
  readonly type: string;
  readonly subtype: string | null;
  readonly action: string | null;
  readonly outcome: string;
  readonly patient_bsn: string | null;
  readonly agents_json: string;
  readonly entities_json: string;
}

export function storedColumnsOf(r: StoredColumnsRow): ChainColumns {
  return {
    id: r.id,
    recordedMicros: r.recorded_micros,
    type: r.type,
    subtype: r.subtype,
    action: r.action,
    outcome: r.outcome,
    patientBsn: r.patient_bsn,
    agentsJson: r.agents_json,
    entitiesJson: r.entities_json,
  };
}

/**
 * The first stored column that does not say what the AuditEvent says, by its column name. Search and the child's
 * overview filter on these columns: a changed `patient_bsn` would hide a disclosure from a child.
 */
export function columnDifferingFrom(stored: ChainColumns, expected: ChainColumns): string | undefined {
  return COLUMN_NAMES.find(([key]) => stored[key] !== expected[key])?.[1];
}
