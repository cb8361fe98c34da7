import type { AuditEvent } from '@medplum/fhirtypes';
import {
  buildAuditEvent,
  consentDecision,
  dataAccess,
  disclosure,
  operatorAction,
  AUDIT_TYPES,
  SYSTEM_WORKER,
} from '../../../src/audit/audit-events';
import { canonicalizeJcs } from '../../../src/audit/chain';
import {
  indexedPartsOf,
  indexFieldsOf,
  searchColumnsMatch,
  type SearchColumnsText,
} from '../../../src/audit/index-fields';

/** What verification compares with a row's columns, from the whole document parsed. */
function columnsOf(event: AuditEvent): unknown {
  return { ...indexFieldsOf(event), id: event.id, recorded: event.recorded, action: event.action };
}

/** Strings that move quotes, backslashes, brackets, escapes and key look-alikes into every place the reader skips. */
const AWKWARD = [
  'plain',
  'a "quoted" word',
  'ends in a backslash \\',
  '\\"',
  '\\\\"who":{',
  '],"agent":[{"who":{"reference":"Fake/1"}}],"x":"',
  '{[}]',
  'tab\there, newline\n, nul \u0000, é, 👍',
  '',
];

function awkwardEvent(s: string, i: number): AuditEvent {
  return buildAuditEvent({
    actor: { userId: `user ${s}`, accessPoint: s },
    type: { system: `sys ${s}`, code: `code ${s}`, display: s },
    subtype: { system: s, code: s },
    action: 'R',
    outcome: '0',
    outcomeDesc: s,
    purpose: s,
    entities: [
      { what: { reference: `Thing/${i}${s}` }, description: s, detail: [{ type: s, valueString: s }] },
      { what: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: `${s}${i}` } } },
      { what: { identifier: { value: s } } },
      { what: { reference: '' } },
      { description: 'no what at all' },
    ],
    extraAgents: [
      { requestor: false, who: { reference: s, identifier: { system: s, value: s } } },
      { requestor: true },
    ],
  });
}

/** Events of every builder, the least an AuditEvent can be, and awkward strings everywhere. */
const events: AuditEvent[] = [
  disclosure({
    actor: SYSTEM_WORKER,
    outcome: '0',
    patientBsn: '111222333',
    inboxId: 'inbox-1',
    municipality: 'GM0226',
    destination: 'gm0226',
    purpose: 'referral',
    resources: ['Patient/p-1', 'ServiceRequest/s-1'],
    agreement: { id: 'a-1', version: 2 },
    consentIds: ['c-1', 'c-2'],
  }),
  consentDecision({
    actor: SYSTEM_WORKER,
    permit: false,
    reasons: 'no consent',
    patientBsn: '111222333',
    inboxId: 'inbox-2',
    consentIds: [],
    municipality: 'GM0226',
    purpose: 'referral',
    stage: 'map',
  }),
  operatorAction({ actor: SYSTEM_WORKER, action: 'replay', target: 'delivery/1', description: 'seq 3' }),
  dataAccess({ actor: SYSTEM_WORKER, interaction: 'search', outcome: '0', query: '/fhir/AuditEvent?patient=1' }),
  // The least an AuditEvent can be: no subtype, action, agent or entity.
  {
    resourceType: 'AuditEvent',
    type: { code: AUDIT_TYPES.rest.code },
    recorded: '2026-01-01T00:00:00.000Z',
  } as AuditEvent,
  ...AWKWARD.map(awkwardEvent),
];

describe('indexedPartsOf', () => {
  it.each(events.map((e, i) => [i, e] as const))(
    'reads from canonical text (event %i) what the whole document parsed gives',
    (_, event) => {
      const text = canonicalizeJcs(event);
      const parts = indexedPartsOf(text);
      expect(parts).toBeDefined();
      expect(columnsOf(parts!)).toEqual(columnsOf(JSON.parse(text) as AuditEvent));
    },
  );

  it('finds the patient and every agent and entity of an event built to mislead a reader that skims', () => {
    const text = canonicalizeJcs(awkwardEvent(AWKWARD[5]!, 7));
    const f = indexFieldsOf(indexedPartsOf(text)!);
    expect(f.patientBsn).toBe(`${AWKWARD[5]}7`);
    expect(f.agents).not.toContain('Fake/1');
    expect(f.entities).toContain(`Thing/7${AWKWARD[5]}`);
  });

  it('reads a member given twice as JSON.parse does, the last one winning, at every depth', () => {
    const text = canonicalizeJcs(events[0]);
    for (const twice of [
      text.replace('"outcome":"0"', '"outcome":"0","outcome":"8"'),
      text.replace('"type":{', '"type":{"code":"first"},"type":{'),
      text.replace('"identifier":{', '"identifier":{"value":"first"},"identifier":{'),
      text.replace('"agent":[', '"agent":[],"agent":['),
      text.replace('"entity":[', '"entity":[{"what":{"reference":"Patient/first"}}],"entity":['),
    ]) {
      expect(twice).not.toBe(text);
      const parts = indexedPartsOf(twice);
      expect(parts).toBeDefined();
      expect(columnsOf(parts!)).toEqual(columnsOf(JSON.parse(twice) as AuditEvent));
    }
  });

  it('leaves text that is not compact JSON to the full parser', () => {
    const text = canonicalizeJcs(events[0]);
    for (const other of [
      JSON.stringify(JSON.parse(text), null, 1),
      `${text} `,
      `${text}{}`,
      text.slice(0, -1),
      text.replace('"agent":[', '"agent":null,"x":['),
      text.replace('"entity":[{', '"entity":[1,{'),
      // Compact, but a member that is not the object or array an AuditEvent has there.
      canonicalizeJcs({ ...events[0], type: 'x' }),
      canonicalizeJcs({ ...events[0], subtype: { 0: { code: 'x' } } }),
      canonicalizeJcs({ ...events[0], entity: [{ what: { identifier: 'x' } }] }),
      '[]',
      '"AuditEvent"',
      '',
    ]) {
      expect(indexedPartsOf(other)).toBeUndefined();
    }
  });
});

/** A row's search columns as the writer stores them and the verifying cursor reads them. */
function searchColumnsOf(event: AuditEvent): SearchColumnsText {
  const f = indexFieldsOf(event);
  return {
    id: event.id!,
    recorded: Date.parse(event.recorded),
    type: f.type,
    subtype: f.subtype,
    action: event.action ?? null,
    outcome: f.outcome,
    patient_bsn: f.patientBsn,
    agents: JSON.stringify(f.agents),
    entities: JSON.stringify(f.entities),
  };
}

describe('searchColumnsMatch', () => {
  const withId = events.map((e, i) => ({ ...e, id: e.id ?? `00000000-0000-4000-8000-00000000000${i}` }));

  it.each(withId.map((e, i) => [i, e] as const))(
    'is sure of the columns of event %i when its text holds no backslash, and leaves the others to the long way',
    (_, event) => {
      const text = canonicalizeJcs(event);
      expect(searchColumnsMatch(text, searchColumnsOf(event))).toBe(!text.includes('\\'));
    },
  );

  const event = withId[0]!;
  const text = canonicalizeJcs(event);
  const columns = searchColumnsOf(event);

  it.each<[string, Partial<SearchColumnsText>]>([
    ['id', { id: `${columns.id.slice(0, -1)}0` }],
    ['recorded', { recorded: columns.recorded + 1 }],
    ['type', { type: `${columns.type} ` }],
    ['subtype', { subtype: null }],
    ['action', { action: 'C' }],
    ['outcome', { outcome: '4' }],
    ['patient_bsn', { patient_bsn: null }],
    ['patient_bsn', { patient_bsn: '999999990' }],
    ['agents', { agents: '[]' }],
    ['agents', { agents: columns.agents.replace(']', ',""]') }],
    ['entities', { entities: JSON.stringify((JSON.parse(columns.entities) as string[]).reverse()) }],
    ['entities', { entities: JSON.stringify((JSON.parse(columns.entities) as string[]).slice(1)) }],
    ['entities', { entities: columns.entities.replace('Patient/p-1', 'Patient/p-2') }],
    ['entities', { entities: `${columns.entities} ` }],
  ])('is not sure when column %s differs (%j)', (_, change) => {
    expect(searchColumnsMatch(text, columns)).toBe(true);
    expect(searchColumnsMatch(text, { ...columns, ...change })).toBe(false);
  });

  it('leaves to the long way what indexedPartsOf would not read, and members given twice', () => {
    for (const other of [
      text.replace('"outcome":"0"', '"outcome":"0","outcome":"0"'),
      // The event's own type is its last member; the first "type" is an agent's, which the columns do not come from.
      `${text.slice(0, text.lastIndexOf('"type":{'))}"type":{"code":"110106"},${text.slice(text.lastIndexOf('"type":{'))}`,
      text.replace('"identifier":{', '"identifier":{"value":"111222333"},"identifier":{'),
      text.replace('"agent":[', '"agent":[],"agent":['),
      JSON.stringify(JSON.parse(text), null, 1),
      `${text} `,
      text.replace('"agent":[', '"agent":null,"x":['),
      text.replace('"entity":[{', '"entity":[null,{'),
      canonicalizeJcs({ ...event, subtype: [...(event.subtype ?? []), 'x'] }),
      canonicalizeJcs({ ...event, agent: [...(event.agent ?? []), { who: null }] }),
      canonicalizeJcs({ ...event, entity: [...(event.entity ?? []), { what: { identifier: null } }] }),
      canonicalizeJcs({ ...event, entity: [...(event.entity ?? []), { what: { reference: 7 } }] }),
    ]) {
      expect(other).not.toBe(text);
      expect(searchColumnsMatch(other, columns)).toBe(false);
    }
  });
});
