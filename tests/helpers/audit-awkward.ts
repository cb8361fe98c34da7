import type { AuditEvent } from '@medplum/fhirtypes';
import { BSN_SYSTEM } from '../../src/kernel/fhir/identifiers';
import { buildDisclosureAuditEvent } from './builders';

/** Values that need escaping or could be confused with one another in a search columns line. */
export const AWKWARD = [
  'a "quoted" value',
  'back\\slash\\',
  '\\"',
  'comma, {brace} [bracket]',
  'NULL',
  'null',
  '',
  ' spaced ',
  'line\nbreak\r\ttab',
  'control \u0001\u0008\u000b\u000c\u001f and DEL \u007f',
  'non-ASCII é ß ĳ 中文 🙂',
  'separators \u2028\u2029',
  '\u00a0no-break',
  '{"a":1}',
  '["x"]',
];

/** An AuditEvent whose columns hold `s` wherever the writer takes a column from, and others left empty or absent. */
export function awkwardEvent(s: string, i: number): AuditEvent {
  const e = buildDisclosureAuditEvent(i);
  return {
    ...e,
    type: { ...e.type, code: s },
    subtype: i % 3 === 0 ? undefined : [{ code: s }],
    action: i % 2 === 0 ? undefined : (s as AuditEvent['action']),
    outcome: s as AuditEvent['outcome'],
    agent:
      i % 4 === 0
        ? []
        : [...(e.agent ?? []), { requestor: false, who: { reference: s, identifier: { system: s, value: s } } }],
    entity:
      i % 5 === 0
        ? undefined
        : [
            { what: { identifier: { system: BSN_SYSTEM, value: s } } },
            { what: { reference: `Thing/${s}` } },
            { what: { identifier: { value: s } } },
          ],
  };
}

export const awkwardEvents = AWKWARD.map(awkwardEvent);
